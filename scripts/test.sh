#!/usr/bin/env bash
# test.sh — everything `make test` runs, in order, with one summary line at the end:
#   1. gcc build of the library, CLI and tests, and the test programs
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. a warning-free clang build (compile only) and the clang-format check
#   4. the libFuzzer targets for a fixed time each (FUZZ_SECONDS, 60 in CI, 15 otherwise)
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
total_pass=0; total_fail=0
tally() { # tally LOGFILE — add the "N passed, N failed" line of a step's output
    local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
    if [ -z "$line" ]; then total_fail=$((total_fail + 1)); return; fi
    total_pass=$((total_pass + $(echo "$line" | cut -d' ' -f1)))
    total_fail=$((total_fail + $(echo "$line" | cut -d' ' -f3)))
}
step() { # step NAME CMD... — a build-or-check step that counts as one test
    echo "== $1"
    if "${@:2}" > "build-step.log" 2>&1; then total_pass=$((total_pass + 1)); echo "ok   $1"
    else total_fail=$((total_fail + 1)); echo "FAIL $1"; tail -40 build-step.log | sed 's/^/    /'; fi
    rm -f build-step.log
}

echo "== gcc build + tests"
if make -s -j"$jobs" CC=gcc BUILD=build cli tests >build.log 2>&1; then
    scripts/run-tests.sh build | tee build/summary.log; tally build/summary.log
else
    cat build.log; total_fail=$((total_fail + 1))
fi
rm -f build.log

echo "== ASan+UBSan build + tests"
if make -s -j"$jobs" CC=gcc BUILD=build-asan SAN=1 cli tests >build-asan.log 2>&1; then
    KY_TEST_SAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
        KY_KAIYUAN_BIN=build-asan/kaiyuan scripts/run-tests.sh build-asan | tee build-asan/summary.log
    tally build-asan/summary.log
else
    cat build-asan.log; total_fail=$((total_fail + 1))
fi
rm -f build-asan.log

step "clang build (warnings as errors)" make -s -j"$jobs" CC=clang BUILD=build-clang cli tests
if command -v clang-format >/dev/null; then step "clang-format check" make -s format-check; fi
step "web/dist is the build of web/src (pinned lock file)" node web/build.mjs --check

secs=${FUZZ_SECONDS:-$([ "${CI:-}" = "true" ] && echo 60 || echo 15)}
echo "== fuzzers (${secs}s each)"
if make -s fuzz >build-fuzz.log 2>&1; then
    for f in build-fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f"); corpus="tests/fuzz/corpus/${name#fuzz_}"
        work="build-fuzz/work-${name#fuzz_}"; mkdir -p "$work"
        extra=() # seeds that live in ../shared (never copied into the repository)
        [ "$name" = fuzz_template ] && extra=("${KY_SHARED:-../shared}/templates")
        if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            "$work" "$corpus" "${extra[@]}" >"build-fuzz/$name.log" 2>&1; then
            total_pass=$((total_pass + 1)); echo "ok   $name ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.log" | grep -o '[0-9]*$') runs)"
        else
            total_fail=$((total_fail + 1)); echo "FAIL $name"; tail -60 "build-fuzz/$name.log" | sed 's/^/    /'
        fi
    done
else
    cat build-fuzz.log; total_fail=$((total_fail + 1))
fi
rm -f build-fuzz.log

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
