#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with clang into build-fuzz/
# and runs each for XGW_FUZZ_SECONDS (default 20) seconds over its seed
# corpus fuzz/corpus/<target>/. Fails on any crash, leak, sanitizer report or
# timeout. Usage: fuzz/run.sh [TARGET...]   (default: every target)
# Environment: XGW_FUZZ_SECONDS, XGW_FUZZ_BUILD (default build-fuzz),
# XGW_FUZZ_JOBS (build parallelism), CC (default clang).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${XGW_FUZZ_BUILD:-$top/build-fuzz}
secs=${XGW_FUZZ_SECONDS:-20}
jobs=${XGW_FUZZ_JOBS:-$(nproc)}

CC=${CC:-clang} cmake -S "$top/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for src in "$top"/fuzz/fuzz_*.c; do
        targets+=("$(basename "$src" .c)")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
fail=0
summary=()
for name in "${targets[@]}"; do
    # One target at a time, so that a target that does not build fails
    # alone and the others still run.
    if ! cmake --build "$build" -j"$jobs" --target "$name" >"$build/$name.build.log" 2>&1; then
        tail -30 "$build/$name.build.log"
        summary+=("$name: BUILD FAILED (log: $build/$name.build.log)")
        fail=1
        continue
    fi
    seeds="$top/fuzz/corpus/$name"
    work="$build/corpus/$name" # new inputs go here, not into the repository
    artifacts="$build/artifacts"
    mkdir -p "$work" "$artifacts"
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$artifacts/$name-")
    dict="$top/fuzz/corpus/$name.dict"
    [ -f "$dict" ] && args+=(-dict="$dict")
    [ -d "$seeds" ] || seeds=""
    log="$build/$name.log"
    echo "== $name: ${secs}s"
    if "$build/$name" "${args[@]}" "$work" ${seeds:+"$seeds"} >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        summary+=("$name: ok, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}")
    else
        tail -60 "$log"
        summary+=("$name: FAILED (log: $log, inputs: $artifacts/$name-*)")
        fail=1
    fi
done
printf '%s\n' "${summary[@]}"
exit $fail
