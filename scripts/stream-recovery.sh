#!/usr/bin/env bash
# Start-up recovery of Stream data (issue 7: "recovering 1 GiB of stream data takes under 3 s").
#
# For each binary: starts it with a fresh data directory (--fsync never), fills RECOVERY_TOPICS
# stream topics with RECOVERY_BYTES of message payload (`nexo-bench stream-publish --requests N
# --size RECOVERY_SIZE`, one topic per connection), then
#   1. kills it with SIGKILL (no clean shutdown) and times a restart,
#   2. stops it with SIGTERM and times RECOVERY_RESTARTS more restarts,
# where a restart's time runs from just before the process is spawned to its ready line
# (`nexo ready v1=<ip:port> ui=off`), polled every 5 ms. After every restart `nexo-bench
# stream-info` counts the messages the server holds, so a restart that lost data shows. The data
# directory is removed at the end. The page cache is warm (the data was just written): this is a
# restart of a process, not a cold boot of the machine.
#
# Usage: scripts/stream-recovery.sh [--jsonl FILE]
#   --jsonl FILE  also append one JSON line per timed restart to FILE, in the format of
#                 scripts/bench.sh's results (names `recovery-after-sigkill`,
#                 `recovery-after-sigterm`), which `nexo-bench report` turns into table rows.
# Environment: RECOVERY_BYTES (payload bytes in all, default 1073741824 = 1 GiB), RECOVERY_SIZE
# (bytes per message, default 4096), RECOVERY_TOPICS (default 4; the default retention keeps
# 1 GiB per topic), RECOVERY_RESTARTS (timed restarts after SIGTERM, default 3), RECOVERY_BINS
# (default "nexo"), BENCH_BIN_DIR (where the binaries and nexo-bench are, default
# target/release; nothing is built here), RECOVERY_DIR (work directory, default
# target/bench/recovery). Needs bash, coreutils and about RECOVERY_BYTES × 1.1 of free disk.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BYTES=${RECOVERY_BYTES:-1073741824}
SIZE=${RECOVERY_SIZE:-4096}
TOPICS=${RECOVERY_TOPICS:-4}
RESTARTS=${RECOVERY_RESTARTS:-3}
BINS=${RECOVERY_BINS:-nexo}
BIN_DIR=${BENCH_BIN_DIR:-$ROOT/target/release}
DIR=${RECOVERY_DIR:-$ROOT/target/bench/recovery}
JSONL=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --jsonl) JSONL=${2:?--jsonl needs a file}; shift 2 ;;
    *) echo "usage: $0 [--jsonl FILE]" >&2; exit 2 ;;
  esac
done

BENCH="$BIN_DIR/nexo-bench"
MESSAGES=$(((BYTES + SIZE - 1) / SIZE))
mkdir -p "$DIR"
FREE=$(df -P -B1 "$DIR" | awk 'NR == 2 { print $4 }')
if [[ -n $FREE && $FREE -lt $((BYTES + BYTES / 5)) ]]; then
  echo "stream-recovery.sh: only $FREE bytes free in $DIR, $BYTES + 20 % needed; skipped" >&2
  exit 3
fi

SERVER_PID=""
DATA_DIR=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi
  if [[ -n $DATA_DIR ]]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT

# start BINARY: spawns it on the current data directory; sets PORT, SERVER_PID and START_S
# (seconds from just before the spawn to the ready line).
start() {
  local out t0 t1 line=""
  out=$(mktemp "$DIR/server.out.XXXXXX")
  t0=$(date +%s%N)
  "$BIN_DIR/$1" --port 0 --no-ui --data-dir "$DATA_DIR" --fsync never --log-level info \
    >"$out" 2>>"$DIR/server.err" &
  SERVER_PID=$!
  # Up to 120 s: a slow recovery is a result, not a failure.
  for _ in $(seq 24000); do
    line=$(head -n1 "$out" 2>/dev/null || true)
    [[ $line == "nexo ready v1="* ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.005
  done
  t1=$(date +%s%N)
  rm -f "$out"
  if [[ $line != "nexo ready v1="* ]]; then
    echo "stream-recovery.sh: $1 did not print its ready line (see $DIR/server.err)" >&2
    exit 1
  fi
  local addr=${line#nexo ready v1=}
  addr=${addr%% *}
  PORT=${addr##*:}
  START_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}

# stop SIGNAL: sends it and waits for the process to end.
stop() {
  kill "-$1" "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

messages_held() {
  "$BENCH" --port "$PORT" --json stream-info | tail -n1 | sed -n 's/.*"messages":\([0-9]*\).*/\1/p'
}

record() { # record NAME BINARY SECONDS RECOVERED
  [[ -z $JSONL ]] && return 0
  printf '{"name":"%s","binary":"%s","fsync":"never","command":"%s","result":{"recovery_s":%s,"bytes":%s,"disk_bytes":%s,"messages":%s,"recovered_messages":%s,"topics":%s}}\n' \
    "$1" "$2" "scripts/stream-recovery.sh ($TOPICS topics × $MESSAGES/$TOPICS messages of $SIZE B)" \
    "$3" "$((MESSAGES * SIZE))" "$DISK" "$HELD" "${4:-0}" "$TOPICS" >>"$JSONL"
}

for bin in $BINS; do
  DATA_DIR=$(mktemp -d "$DIR/data.XXXXXX")
  start "$bin"
  echo "== $bin: filling $TOPICS topics with $MESSAGES messages of $SIZE B ($((MESSAGES * SIZE)) bytes)" >&2
  t0=$(date +%s%N)
  fill=$("$BENCH" --port "$PORT" --json stream-publish --connections "$TOPICS" --pipeline 8 \
    --size "$SIZE" --requests "$MESSAGES" 2>/dev/null | tail -n1)
  t1=$(date +%s%N)
  errors=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$fill")
  if [[ ${errors:-1} != 0 ]]; then
    echo "stream-recovery.sh: the fill failed: $fill" >&2
    exit 1
  fi
  HELD=$(messages_held)
  echo "   filled in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s; the server holds $HELD messages" >&2

  stop KILL
  DISK=$(du -sb "$DATA_DIR" | cut -f1)
  echo "   killed with SIGKILL; data directory $DISK bytes" >&2
  start "$bin"
  got=$(messages_held)
  echo "   restart after SIGKILL: ready after $START_S s, $got messages" >&2
  record recovery-after-sigkill "$bin" "$START_S" "$got"
  printf '%s\t%s\t%s\t%s\t%s\n' "$bin" after-sigkill "$START_S" "$DISK" "$got"

  for _ in $(seq "$RESTARTS"); do
    stop TERM
    start "$bin"
    got=$(messages_held)
    echo "   restart after SIGTERM: ready after $START_S s, $got messages" >&2
    record recovery-after-sigterm "$bin" "$START_S" "$got"
    printf '%s\t%s\t%s\t%s\t%s\n' "$bin" after-sigterm "$START_S" "$DISK" "$got"
  done
  stop TERM
  rm -rf "$DATA_DIR"
  DATA_DIR=""
done
