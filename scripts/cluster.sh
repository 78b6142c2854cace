#!/usr/bin/env bash
# cluster.sh — N `kaiyuan serve` replicas on loopback behind HAProxy (deploy/haproxy/).
#
#   scripts/cluster.sh up -m MODEL -n REPLICAS -p PORT [--threads T] [--parallel P] [--queue Q]
#                      [--stats-port S] [--balance hash|roundrobin] [--balance-factor F]
#                      [--bin KAIYUAN] [--state DIR] [-- MORE SERVE ARGS...]
#   scripts/cluster.sh down    [--state DIR]   stop HAProxy and every replica it recorded
#   scripts/cluster.sh status  [--state DIR]   each replica's health, load and HAProxy state
#   scripts/cluster.sh restart I [--state DIR] start replica I again on its recorded ports
#
# `up` starts the replicas on free loopback ports (--port 0 --agent-port 0, read back from
# their logs), renders deploy/haproxy/haproxy.cfg.in, starts HAProxy on 127.0.0.1:PORT (stats
# page on S, default PORT+1), waits until HAProxy reports every replica UP and prints the
# endpoints. The state directory (default $KY_CLUSTER_DIR or /tmp/kaiyuan-cluster-$UID) holds
# per replica: pid, rc (exit status once it exits), port, agent port, args, log; and
# haproxy.cfg, haproxy.pid, haproxy.sock. Only PIDs recorded there are ever signalled.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${KY_CLUSTER_DIR:-${TMPDIR:-/tmp}/kaiyuan-cluster-$(id -u)}

die() { echo "cluster: $*" >&2; exit 1; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# http_code PORT PATH — HTTP status of GET PATH on loopback (000 when nothing answers).
http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1$2" || true; }

# alive PID — the recorded process still runs (and is not a recycled PID of another program).
alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    local comm; comm=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)
    case "$comm" in *serve*|*haproxy*) return 0 ;; *) return 1 ;; esac
}

# start_replica I — starts replica I from its recorded args and ports; a watcher subshell keeps
# its exit status in replica-I.rc.
start_replica() {
    local i=$1 port aport
    port=$(cat "$state/replica-$i.port" 2>/dev/null || echo 0)
    aport=$(cat "$state/replica-$i.agent" 2>/dev/null || echo 0)
    local -a args
    mapfile -d '' args <"$state/replica-$i.args"
    rm -f "$state/replica-$i.rc" "$state/replica-$i.pid"
    (
        "${args[@]}" --port "$port" --agent-port "$aport" </dev/null >"$state/replica-$i.log" 2>&1 &
        p=$!
        echo "$p" >"$state/replica-$i.pid"
        rc=0; wait "$p" || rc=$?
        echo "$rc" >"$state/replica-$i.rc"
    ) </dev/null >/dev/null 2>&1 &
}

# wait_replica I TIMEOUT — waits for replica I's ports (recorded) and a 200 on /health.
wait_replica() {
    local i=$1 p a
    local end=$((SECONDS + $2)) log="$state/replica-$i.log"
    while [ "$SECONDS" -lt "$end" ]; do
        if [ -f "$state/replica-$i.rc" ]; then
            tail -5 "$log" >&2; die "replica $i exited ($(cat "$state/replica-$i.rc"))"
        fi
        p=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null | tail -1)
        a=$(sed -n 's|.*agent on 127.0.0.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null | tail -1)
        if [ -n "$p" ] && [ -n "$a" ] && [ "$(http_code "$p" /health)" = 200 ]; then
            echo "$p" >"$state/replica-$i.port"; echo "$a" >"$state/replica-$i.agent"
            return 0
        fi
        sleep 0.1
    done
    tail -5 "$log" >&2; die "replica $i not healthy after $2 s (log $log)"
}

# haproxy_csv — the stats page as CSV (one line per proxy/server).
haproxy_csv() { curl -s -m 2 "http://127.0.0.1:$(cat "$state/stats.port")/;csv" || true; }

# wait_all_up TIMEOUT — waits until HAProxy reports every replica UP.
wait_all_up() {
    local end=$((SECONDS + $1)) n up
    n=$(cat "$state/replicas")
    while [ "$SECONDS" -lt "$end" ]; do
        up=$(haproxy_csv | awk -F, '$1 == "replicas" && $2 ~ /^r[0-9]+$/ && $18 == "UP"' | wc -l)
        [ "$up" -eq "$n" ] && return 0
        sleep 0.1
    done
    haproxy_csv >&2; die "HAProxy does not report all $n replicas UP after $1 s"
}

cmd_up() {
    local model="" n=0 port=0 threads=1 parallel=4 queue=64 stats_port="" balance=hash factor=250
    local bin="$root/build/kaiyuan"
    local -a extra=()
    while [ $# -gt 0 ]; do
        case "$1" in
            -m) model=$2; shift 2 ;;
            -n) n=$2; shift 2 ;;
            -p) port=$2; shift 2 ;;
            -t|--threads) threads=$2; shift 2 ;;
            --parallel) parallel=$2; shift 2 ;;
            --queue) queue=$2; shift 2 ;;
            --stats-port) stats_port=$2; shift 2 ;;
            --balance) balance=$2; shift 2 ;;
            --balance-factor) factor=$2; shift 2 ;;
            --bin) bin=$2; shift 2 ;;
            --state) state=$2; shift 2 ;;
            --) shift; extra=("$@"); break ;;
            *) usage ;;
        esac
    done
    if [ -z "$model" ] || [ "$n" -lt 1 ] || [ "$port" -lt 1 ]; then usage; fi
    [ -x "$bin" ] || die "$bin: not built (make, or --bin PATH)"
    command -v haproxy >/dev/null || die "haproxy missing: run scripts/deps.sh"
    command -v curl >/dev/null || die "curl missing: run scripts/deps.sh"
    [ -n "$stats_port" ] || stats_port=$((port + 1))
    case "$balance" in
        hash) balance_line="balance hash var(txn.ky_key)" ;;
        roundrobin) balance_line="balance roundrobin" ;;
        *) die "--balance: hash or roundrobin" ;;
    esac
    mkdir -p "$state"
    for f in "$state"/replica-*.pid "$state/haproxy.pid"; do
        [ -f "$f" ] && alive "$(cat "$f")" && die "a cluster already runs in $state (cluster.sh down)"
    done
    rm -f "$state"/replica-* "$state"/haproxy.* "$state"/replicas "$state"/stats.port
    echo "$n" >"$state/replicas"
    echo "$stats_port" >"$state/stats.port"
    local i servers=""
    for ((i = 1; i <= n; i++)); do
        printf '%s\0' "$bin" serve -m "$model" --host 127.0.0.1 -t "$threads" \
            --parallel "$parallel" --queue "$queue" "${extra[@]}" >"$state/replica-$i.args"
        start_replica "$i"
    done
    for ((i = 1; i <= n; i++)); do
        wait_replica "$i" 180
        servers+="    server r$i 127.0.0.1:$(cat "$state/replica-$i.port") agent-port $(cat "$state/replica-$i.agent")"$'\n'
    done
    awk -v state="$state" -v bind="127.0.0.1:$port" -v stats="127.0.0.1:$stats_port" \
        -v balance="$balance_line" -v factor="$factor" -v maxconn="$((parallel + queue))" \
        -v servers="${servers%$'\n'}" '
        $0 == "@SERVERS@" { print servers; next }
        { gsub(/@STATE_DIR@/, state); gsub(/@BIND@/, bind); gsub(/@STATS_BIND@/, stats)
          gsub(/@BALANCE@/, balance); gsub(/@BALANCE_FACTOR@/, factor); gsub(/@MAXCONN@/, maxconn)
          print }' "$root/deploy/haproxy/haproxy.cfg.in" >"$state/haproxy.cfg"
    haproxy -q -c -f "$state/haproxy.cfg" >/dev/null || die "$state/haproxy.cfg: invalid"
    haproxy -D -f "$state/haproxy.cfg" </dev/null >"$state/haproxy.log" 2>&1 ||
        { cat "$state/haproxy.log" >&2; die "haproxy did not start"; }
    wait_all_up 30
    echo "cluster: $n replicas up, balance $balance"
    echo "  API      http://127.0.0.1:$port/v1"
    echo "  stats    http://127.0.0.1:$stats_port/"
    for ((i = 1; i <= n; i++)); do
        echo "  r$i       http://127.0.0.1:$(cat "$state/replica-$i.port") (agent $(cat "$state/replica-$i.agent"), pid $(cat "$state/replica-$i.pid"))"
    done
    echo "  state    $state"
}

# stop_pid PID TIMEOUT — SIGTERM, wait, then SIGKILL (only a live recorded process).
stop_pid() {
    local pid=$1 end=$((SECONDS + $2))
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while alive "$pid" && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
}

cmd_down() {
    while [ $# -gt 0 ]; do case "$1" in --state) state=$2; shift 2 ;; *) usage ;; esac; done
    [ -d "$state" ] || { echo "cluster: nothing recorded in $state"; return 0; }
    if [ -f "$state/haproxy.pid" ]; then stop_pid "$(cat "$state/haproxy.pid")" 10; fi
    local f
    for f in "$state"/replica-*.pid; do
        [ -f "$f" ] || continue
        stop_pid "$(cat "$f")" 60 &
    done
    wait
    echo "cluster: stopped ($state)"
}

cmd_status() {
    while [ $# -gt 0 ]; do case "$1" in --state) state=$2; shift 2 ;; *) usage ;; esac; done
    [ -f "$state/replicas" ] || die "no cluster recorded in $state"
    local n i pid port aport health agent metrics csv hp
    n=$(cat "$state/replicas")
    csv=$(haproxy_csv)
    hp=$(cat "$state/haproxy.pid" 2>/dev/null || true)
    if alive "$hp"; then echo "haproxy  pid $hp, stats http://127.0.0.1:$(cat "$state/stats.port")/"
    else echo "haproxy  not running"; fi
    printf '%-4s %-8s %-6s %-7s %-8s %-8s %-16s %s\n' name pid port health running waiting agent haproxy
    for ((i = 1; i <= n; i++)); do
        pid=$(cat "$state/replica-$i.pid" 2>/dev/null || true)
        port=$(cat "$state/replica-$i.port" 2>/dev/null || echo -)
        aport=$(cat "$state/replica-$i.agent" 2>/dev/null || echo 0)
        alive "$pid" || pid="dead"
        health=$(http_code "$port" /health)
        metrics=$(curl -s -m 2 "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
        agent=$( (exec 3<>"/dev/tcp/127.0.0.1/$aport" && tr -d '\n' <&3) 2>/dev/null || echo -)
        printf '%-4s %-8s %-6s %-7s %-8s %-8s %-16s %s\n' "r$i" "$pid" "$port" "$health" \
            "$(awk '$1 == "kaiyuan:requests_running" {print $2}' <<<"$metrics")" \
            "$(awk '$1 == "kaiyuan:requests_waiting" {print $2}' <<<"$metrics")" "${agent:--}" \
            "$(awk -F, -v s="r$i" '$1 == "replicas" && $2 == s {print $18 " weight " $19 " cur " $5}' <<<"$csv")"
    done
}

cmd_restart() {
    local i=${1:-}; shift || true
    while [ $# -gt 0 ]; do case "$1" in --state) state=$2; shift 2 ;; *) usage ;; esac; done
    if ! [[ "$i" =~ ^[0-9]+$ ]] || [ ! -f "$state/replica-$i.args" ]; then
        die "restart: no replica '$i' in $state"
    fi
    alive "$(cat "$state/replica-$i.pid" 2>/dev/null || true)" && die "replica $i still runs"
    start_replica "$i"
    wait_replica "$i" 180
    echo "cluster: r$i up again (pid $(cat "$state/replica-$i.pid"))"
}

case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    status) shift; cmd_status "$@" ;;
    restart) shift; cmd_restart "$@" ;;
    *) usage ;;
esac
