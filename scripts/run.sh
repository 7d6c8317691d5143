#!/usr/bin/env bash
# The project's main job: installs what it needs, builds the release (float) tree and runs
# the main example. Until the siamese trainer lands this is the autograd tour (a classifier
# written on Tensors, Variables and GradientTape, trained by hand-written SGD).
# Usage: scripts/run.sh [arguments for the example]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
cmake -S . -B build/float -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_TESTS=OFF \
      -DXGRAD_BUILD_BENCH=OFF >/dev/null
cmake --build build/float -j "$(nproc)" --target autograd_tour custom_op
build/float/examples/autograd_tour "$@"
