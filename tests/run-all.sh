#!/usr/bin/env bash
# The test command of README.md (and of .ci/run): installs what is missing,
# builds a normal tree (build/) and an ASan+UBSan tree (build-asan/), and runs
# every test in both. Safe to run again; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXGW_SANITIZE=ON
cmake --build build-asan -j"$jobs"

echo "== tests: normal build =="
(cd build && ctest --output-on-failure)

echo "== tests: ASan+UBSan build =="
# halt_on_error: any report fails the test that caused it.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
(cd build-asan && ctest --output-on-failure)

echo "== fuzz: libFuzzer targets, a short run each (build-fuzz/) =="
XGW_FUZZ_SECONDS="${XGW_FUZZ_SECONDS:-10}" bash fuzz/run.sh
