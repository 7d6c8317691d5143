#!/usr/bin/env bash
# Builds and runs the whole test suite three times: the float build, the double build (the
# gradient checks then run at PyTorch gradcheck tolerances), and a build under
# AddressSanitizer + UndefinedBehaviorSanitizer. Installs what it needs first.
# Usage: scripts/test.sh            (from anywhere; build trees go to ./build/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh

jobs=$(nproc)
run_suite() {
  local name=$1; shift
  echo "== $name build =="
  cmake -S . -B "build/$name" -G Ninja -DXGRAD_BUILD_TESTS=ON -DXGRAD_BUILD_EXAMPLES=ON \
        -DXGRAD_BUILD_BENCH=OFF "$@" >/dev/null
  cmake --build "build/$name" -j "$jobs"
  echo "== $name tests =="
  ctest --test-dir "build/$name" --output-on-failure -j "$jobs"
}

start=$(date +%s)
run_suite float -DCMAKE_BUILD_TYPE=Release
run_suite double -DCMAKE_BUILD_TYPE=Release -DXGRAD_DOUBLE=ON
# O1 keeps the sanitized suite fast; halt on the first UBSan report too.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXGRAD_SANITIZE=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
echo "== all suites passed in $(( $(date +%s) - start )) s =="
