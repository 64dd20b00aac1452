#!/usr/bin/env bash
# A quick before/after comparison on `nexo` (mio): the same nexo-bench scenarios against two
# builds, alternating sides, `--fsync never`, ROUNDS rounds of DURATION s after 1 s warm-up.
# Each side runs its own nexo-bench. Prints one JSON line per run on stdout.
#
# Usage: BEFORE=dir/with/nexo+nexo-bench AFTER=dir/with/nexo+nexo-bench scripts/before-after.sh
set -euo pipefail
: "${BEFORE:?directory holding the before build's nexo and nexo-bench}"
: "${AFTER:?directory holding the after build's nexo and nexo-bench}"
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5}
SCENARIOS=${SCENARIOS:-echo store-set store-get pubsub pubsub-fanout queue-cycle stream-publish}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq "$ROUNDS"); do
  for side in before after; do
    if [[ $side == before ]]; then bin=$BEFORE; else bin=$AFTER; fi
    data=$(mktemp -d "$work/data.XXXX")
    "$bin/nexo" --port 0 --data-dir "$data" --fsync never --no-ui >"$work/out" 2>"$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q ready "$work/out" && break; sleep 0.1; done
    port=$(grep -o 'v1=[0-9.]*:[0-9]*' "$work/out" | head -1 | cut -d: -f2)
    for scenario in $SCENARIOS; do
      line=$("$bin/nexo-bench" --port "$port" --json "$scenario" --duration "$DURATION" --warmup 1 2>/dev/null | tail -n1)
      echo "{\"side\":\"$side\",\"round\":$round,\"scenario\":\"$scenario\",\"result\":$line}"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
