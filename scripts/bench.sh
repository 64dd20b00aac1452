#!/usr/bin/env bash
# The standard benchmark run: builds the release binaries, measures the machine's fsync latency,
# runs the standard scenarios against `nexo` and `nexo-tokio` (alternating, three runs each),
# the Stream start-up recovery of 1 GiB (scripts/stream-recovery.sh), optionally Redis for
# orientation and the memory measurements, and writes the tables into docs/BENCHMARKS.md between
# the `bench-results` markers.
#
# Usage: scripts/bench.sh [--no-build] [--no-write]
# Environment: BENCH_DURATION (seconds per run, default 5), BENCH_WARMUP (default 1),
# BENCH_RUNS (default 3), BENCH_MEMORY (1 = also measure memory, default 1), BENCH_RECOVERY
# (1 = also time the restart of each binary over 1 GiB of stream data, default 1; ~15 s and
# 1 GiB of disk per binary, removed afterwards; RECOVERY_* variables pass through, see
# scripts/stream-recovery.sh),
# BENCH_DIR (work directory, default target/bench), BENCH_BIN_DIR (take nexo, nexo-tokio and
# nexo-bench from there instead of target/release; implies --no-build), BENCH_NOTE (a sentence
# added to the header of the results, e.g. which commit the binaries were built from).
# Needs only bash and coreutils; Redis rows appear when redis-server and redis-benchmark exist.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
RUNS=${BENCH_RUNS:-3}
MEMORY=${BENCH_MEMORY:-1}
RECOVERY=${BENCH_RECOVERY:-1}
WORK=${BENCH_DIR:-$ROOT/target/bench}
BUILD=1
WRITE=1
for arg in "$@"; do
  case $arg in
    --no-build) BUILD=0 ;;
    --no-write) WRITE=0 ;;
    *) echo "usage: $0 [--no-build] [--no-write]" >&2; exit 2 ;;
  esac
done

BIN_DIR=${BENCH_BIN_DIR:-}
if [[ -n $BIN_DIR ]]; then
  BUILD=0
else
  BIN_DIR=$ROOT/target/release
fi
if [[ $BUILD == 1 ]]; then
  cargo build --release -p nexo-runtime-mio -p nexo-runtime-tokio -p nexo-bench
fi
NOTE=${BENCH_NOTE:-"Binaries built from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' plus uncommitted changes')."}

rm -rf "$WORK"
mkdir -p "$WORK/bin"
# Private copies: other work in the same checkout may rebuild target/release during the run.
for b in nexo nexo-tokio nexo-bench; do cp "$BIN_DIR/$b" "$WORK/bin/$b"; done
BENCH="$WORK/bin/nexo-bench"
RESULTS="$WORK/results.jsonl"
LOG="$WORK/bench.log"
: >"$RESULTS"
ulimit -n 65536 2>/dev/null || true

SERVER_PID=""
PORT=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# start_server BINARY FSYNC: starts it on a free port with a fresh data directory.
start_server() {
  local out
  DATA_DIR=$(mktemp -d "$WORK/data.XXXXXX")
  # A fresh file per start: the redirection of a background job happens in the child, so a
  # reused file could still hold the previous server's ready line when it is first read.
  out=$(mktemp "$WORK/server.out.XXXXXX")
  "$WORK/bin/$1" --port 0 --no-ui --data-dir "$DATA_DIR" --fsync "$2" --log-level warn \
    >"$out" 2>>"$WORK/server.err" &
  SERVER_PID=$!
  local line=""
  for _ in $(seq 200); do
    line=$(head -n1 "$out" 2>/dev/null || true)
    [[ $line == "nexo ready v1="*" ui=off" ]] && break
    sleep 0.05
  done
  if [[ $line != "nexo ready v1="*" ui=off" ]]; then
    echo "bench.sh: $1 did not print its ready line" >&2
    exit 1
  fi
  local addr=${line#nexo ready v1=}
  addr=${addr%% *}
  PORT=${addr##*:}
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  if [[ -n ${DATA_DIR:-} ]]; then rm -rf "$DATA_DIR"; fi
  DATA_DIR=""
}

json_field() { # json_field NAME JSON -> the number
  sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"
}

record() { # record NAME BINARY FSYNC COMMAND JSON
  printf '{"name":"%s","binary":"%s","fsync":"%s","command":"%s","result":%s}\n' "$1" "$2" "$3" "$4" "$5" >>"$RESULTS"
}

# run NAME BINARY FSYNC SCENARIO ARGS...: one nexo-bench run, recorded; prints its JSON.
run() {
  local name=$1 bin=$2 fsync=$3
  shift 3
  LAST_JSON=""
  local cmd="nexo-bench $* --duration $DURATION"
  local out
  if ! out=$("$BENCH" --port "$PORT" --json --label "$bin fsync=$fsync" "$@" \
      --duration "$DURATION" --warmup "$WARMUP" 2>>"$LOG"); then
    echo "bench.sh: failed: $cmd (see $LOG)" >&2
    return 0
  fi
  local json
  json=$(tail -n1 <<<"$out")
  record "$name" "$bin" "$fsync" "$cmd" "$json"
  printf '  %-22s %-10s fsync=%-6s %12s ops/s  p99 %s µs\n' "$name" "$bin" "$fsync" \
    "$(json_field throughput "$json")" "$(json_field p99_us "$json")" >&2
  if [[ $json == *'"final_lag"'* ]]; then
    printf '  %-22s produced %s/s, consumed %s/s, lag max %s, end %s\n' "" \
      "$(json_field produced_per_s "$json")" "$(json_field consumed_per_s "$json")" \
      "$(json_field max_lag "$json")" "$(json_field final_lag "$json")" >&2
  fi
  LAST_JSON=$json
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== machine (load average $LOAD_BEFORE)" >&2
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
MACHINE="nproc $(nproc), CPU ${CPU:-unknown}, kernel $(uname -r)"
echo "$MACHINE" >&2
FSYNC_JSON=$("$BENCH" fsync --dir "$WORK" --json | tail -n1)
FSYNC_P50=$(json_field fsync_p50_us "$FSYNC_JSON")
FSYNC_P99=$(json_field fsync_p99_us "$FSYNC_JSON")
echo "fsync (4 KiB write + fdatasync, 200×): p50 $FSYNC_P50 µs, p99 $FSYNC_P99 µs" >&2

for round in $(seq "$RUNS"); do
  for bin in nexo nexo-tokio; do
    echo "== round $round/$RUNS: $bin" >&2
    start_server "$bin" never
    run echo "$bin" never echo
    run store-set "$bin" never store-set
    run store-get "$bin" never store-get
    max=$(json_field throughput "$LAST_JSON")
    max=${max%.*}
    if [[ -n $max && $max -gt 0 ]]; then
      run store-get-half-rate "$bin" never store-get --rate $((max / 2))
      # The same rate of ECHO: the floor that the client and the network path put under it.
      run echo-half-rate "$bin" never echo --rate $((max / 2))
    fi
    run pubsub-pairs "$bin" never pubsub
    run fanout-1 "$bin" never pubsub-fanout --subscribers 1
    run fanout-10 "$bin" never pubsub-fanout --subscribers 10
    run queue-cycle "$bin" never queue-cycle
    run stream-publish "$bin" never stream-publish
    max=$(json_field throughput "$LAST_JSON")
    max=${max%.*}
    if [[ -n $max && $max -gt 0 ]]; then
      # Producers at half their maximum, a long-polling group consumer per topic.
      run stream-keepup "$bin" never stream-keepup --rate $((max / 2))
    fi
    run stream-cycle "$bin" never stream-cycle
    stop_server
    start_server "$bin" always
    run queue-cycle "$bin" always queue-cycle
    run stream-publish "$bin" always stream-publish
    stop_server
  done
done

RECOVERY_NOTE=""
if [[ $RECOVERY == 1 ]]; then
  echo "== stream recovery (1 GiB unless RECOVERY_BYTES says otherwise)" >&2
  if BENCH_BIN_DIR="$WORK/bin" RECOVERY_DIR="$WORK/recovery" RECOVERY_BINS="nexo nexo-tokio" \
      scripts/stream-recovery.sh --jsonl "$RESULTS" >>"$LOG"; then
    RECOVERY_NOTE=" Stream recovery: each binary restarted over ${RECOVERY_BYTES:-1073741824} bytes of
stream data in ${RECOVERY_TOPICS:-4} topics (${RECOVERY_SIZE:-4096}-byte messages, filled with --fsync never),
timed from spawn to the ready line, page cache warm."
  else
    echo "bench.sh: stream recovery failed or was skipped (see $LOG)" >&2
  fi
fi

REDIS_NOTE="redis-server/redis-benchmark not installed: no Redis rows."
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  echo "== redis (orientation)" >&2
  RPORT=$((20000 + RANDOM % 20000))
  redis-server --port "$RPORT" --save '' --appendonly no --daemonize no >"$WORK/redis.out" 2>&1 &
  SERVER_PID=$!
  sleep 0.5
  for _ in $(seq "$RUNS"); do
    out=$(redis-benchmark -p "$RPORT" -t set,get -c 50 -P 16 -q -n 2000000 2>/dev/null | tr '\r' '\n')
    for op in SET GET; do
      line=$(grep "^$op:" <<<"$out" | tail -n1)
      tp=$(sed -n 's/^[A-Z]*: \([0-9.]*\) requests per second.*/\1/p' <<<"$line")
      p50=$(sed -n 's/.*p50=\([0-9.]*\) msec.*/\1/p' <<<"$line")
      [[ -z $tp ]] && continue
      p50_us=$(awk -v v="${p50:-0}" 'BEGIN { printf "%.1f", v * 1000 }')
      record "redis $op" redis - "redis-benchmark -t set,get -c 50 -P 16 -q -n 2000000" \
        "{\"throughput\":$tp,\"p50_us\":$p50_us,\"errors\":0}"
      echo "  redis $op $tp ops/s p50 $p50_us µs" >&2
    done
  done
  if [[ $MEMORY == 1 ]]; then
    out=$("$BENCH" --port "$RPORT" --json mem-store --pid "$SERVER_PID" --resp --keys 1000000 --size 100 | tail -n1)
    record mem-store redis - "nexo-bench mem-store --resp --keys 1000000 --size 100" "$out"
  fi
  stop_server
  REDIS_NOTE="Redis: $(redis-server --version | head -n1), persistence off (--save '' --appendonly no)."
fi

if [[ $MEMORY == 1 ]]; then
  for bin in nexo nexo-tokio; do
    echo "== memory: $bin" >&2
    start_server "$bin" never
    out=$("$BENCH" --port "$PORT" --json mem-store --pid "$SERVER_PID" --keys 1000000 --size 100 | tail -n1)
    record mem-store "$bin" - "nexo-bench mem-store --keys 1000000 --size 100" "$out"
    stop_server
    start_server "$bin" never
    out=$("$BENCH" --port "$PORT" --json mem-idle --pid "$SERVER_PID" --connections 2000 | tail -n1)
    record mem-idle "$bin" - "nexo-bench mem-idle --connections 2000" "$out"
    stop_server
  done
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
TABLES=$("$BENCH" report "$RESULTS")
BLOCK="$WORK/block.md"
{
  echo "<!-- bench-results:begin (written by scripts/bench.sh; do not edit by hand) -->"
  echo "Run of $(date -u +%Y-%m-%d) — machine: $MACHINE."
  echo "fsync latency of the data directory's filesystem (4 KiB write + fdatasync, 200 times):"
  echo "p50 $FSYNC_P50 µs, p99 $FSYNC_P99 µs. Each row is the median of $RUNS runs of ${DURATION} s"
  echo "(after ${WARMUP} s of warm-up), binaries alternating; defaults 50 connections × pipeline 16,"
  echo "64-byte payloads. $REDIS_NOTE $NOTE$RECOVERY_NOTE"
  echo "Load average (1, 5, 15 min) before the run: $LOAD_BEFORE; after: $LOAD_AFTER (other work"
  echo "on the machine competes with client and server: compare the spread column before trusting a ratio)."
  echo
  echo "$TABLES"
  echo "<!-- bench-results:end -->"
} >"$BLOCK"
cat "$BLOCK"

if [[ $WRITE == 1 ]]; then
  DOC=docs/BENCHMARKS.md
  if grep -q '<!-- bench-results:begin' "$DOC" 2>/dev/null; then
    awk -v block="$BLOCK" '
      /<!-- bench-results:begin/ { while ((getline line < block) > 0) print line; skip = 1; next }
      /<!-- bench-results:end/ { skip = 0; next }
      !skip { print }
    ' "$DOC" >"$WORK/doc.md"
    cp "$WORK/doc.md" "$DOC"
  else
    { echo; echo "## Latest results"; echo; cat "$BLOCK"; } >>"$DOC"
  fi
  echo "bench.sh: wrote $DOC (raw results: $RESULTS)" >&2
fi
