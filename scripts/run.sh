#!/usr/bin/env bash
# The project's main job: installs what it needs, builds the release (float) tree and trains
# the default siamese model on Fashion-MNIST (Debian package dataset-fashion-mnist), then
# evaluates it. Outputs go to runs/siamese/ (model.npz, checkpoint.npz, log.csv,
# metrics.json). Extra arguments are passed to siamese_train (see --help).
# Usage: scripts/run.sh [siamese_train flags]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
cmake -S . -B build/float -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_BUILD_TESTS=OFF \
      -DXGRAD_BUILD_BENCH=OFF -DXGRAD_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/float -j "$(nproc)" --target siamese_train siamese_compare siamese_embed
build/float/examples/siamese_train "$@"
