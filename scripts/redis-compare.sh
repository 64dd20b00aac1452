#!/usr/bin/env bash
# Runs redis-benchmark against Nexo and against redis-server (persistence off) in the same run,
# with 50 clients at pipeline 1 and 16, and prints requests per second and the Nexo/Redis ratio.
#
# usage: scripts/redis-compare.sh [path/to/nexo] [requests]
#   default binary: target/release/nexo (build it with `cargo build --release -p nexo-runtime-mio`)
#   default requests: 200000 per test
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
NEXO="${1:-target/release/nexo}"
REQUESTS="${2:-200000}"
TESTS="set,get,incr,ping"
work="$(mktemp -d)"
cleanup() {
  [[ -n "${nexo_pid:-}" ]] && kill "$nexo_pid" 2>/dev/null || true
  [[ -n "${redis_pid:-}" ]] && kill "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$NEXO" --port 0 --no-ui --data-dir "$work/nexo" >"$work/ready" 2>"$work/nexo.log" &
nexo_pid=$!
for _ in $(seq 100); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.1; done
nexo_port="$(sed -E 's/.*v1=[^:]+:([0-9]+).*/\1/' "$work/ready")"

redis_port=$((20000 + RANDOM % 20000))
redis-server --port "$redis_port" --save '' --appendonly no --dir "$work" --daemonize no \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

rps() { # port pipeline -> "test rps" lines
  redis-benchmark -p "$1" -c 50 -P "$2" -n "$REQUESTS" -t "$TESTS" -q 2>/dev/null | tr '\r' '\n' |
    awk '/requests per second/ { sub(":", "", $1); print $1, $2 }'
}

printf '%-12s %-4s %14s %14s %7s\n' test P nexo redis ratio
for pipeline in 1 16; do
  rps "$nexo_port" "$pipeline" >"$work/nexo.$pipeline"
  rps "$redis_port" "$pipeline" >"$work/redis.$pipeline"
  join <(sort "$work/nexo.$pipeline") <(sort "$work/redis.$pipeline") |
    awk -v p="$pipeline" '{ printf "%-12s %-4s %14.0f %14.0f %7.2f\n", $1, p, $2, $3, $2 / $3 }'
done
