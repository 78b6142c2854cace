#!/usr/bin/env bash
# run-tests.sh BUILD_DIR — runs every test program under BUILD_DIR/tests from the repository root
# and prints "N passed, N failed". A program that crashes or exits non-zero without reporting a
# failed test counts as one failure. Per-program output goes to BUILD_DIR/test-logs/.
set -uo pipefail
build=${1:-build}
logs="$build/test-logs"
mkdir -p "$logs"
pass=0; fail=0
timeout_s=${KY_TEST_TIMEOUT:-900}
while IFS= read -r bin; do
    name=${bin#"$build/tests/"}
    log="$logs/${name//\//_}.log"
    start=$(date +%s%N)
    timeout "$timeout_s" "$bin" >"$log" 2>&1
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    secs="$((ms / 1000)).$(( (ms % 1000) / 100 ))"
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name (exit $rc)" >>"$log"; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
        echo "FAIL $name ($p passed, $f failed, ${secs}s) — log: $log"
        grep -E '^not ok|CHECK failed|REQUIRE failed|ERROR|runtime error' "$log" | head -20 | sed 's/^/    /'
    else
        echo "ok   $name ($p passed, ${secs}s)"
    fi
done < <(find "$build/tests" -type f -perm -u+x | sort)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
