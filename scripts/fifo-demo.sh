#!/bin/bash
# fifo-demo.sh [BIN] [DIR] [DEVICE]: two poselab processes on one runs
# directory, first come, first served per device. Process A queues a grid
# (a1 long, a2, a3); a2 and a3 are paused, process B queues b1, then a2 and
# a3 are resumed (queued again, after b1). Expected start order: a1, b1,
# a2, a3 (before the FIFO rule: a1, a2, a3, b1). Prints `runs ls` and each
# run's start from its log.
set -u
BIN=${1:-$PWD/bin/poselab}; D=${2:-/tmp/poselab-fifo-demo}; DEV=${3:-cpu}
rm -rf "$D"; mkdir -p "$D"; cd "$D" || exit 1
ls_ids() { "$BIN" runs ls --json --runs-dir runs | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))'; }
"$BIN" train --model sb --preset test --device "$DEV" --grid epochs=300,31,32 --runs-dir runs > A.log 2>&1 &
APID=$!
for _ in $(seq 300); do "$BIN" runs ls --json --runs-dir runs 2>/dev/null | grep -q '"running"' && break; sleep 0.2; done
set -- $(ls_ids); A1=$1 A2=$2 A3=$3
"$BIN" runs pause "$A2" "$A3" --runs-dir runs
"$BIN" train --model sb --preset test --device "$DEV" --epochs 30 --name b1 --runs-dir runs > B.log 2>&1 &
BPID=$!
sleep 2
"$BIN" runs resume "$A2" "$A3" --runs-dir runs
wait $APID $BPID
"$BIN" runs ls --runs-dir runs
echo "start order (a1=$A1 a2=$A2 a3=$A3):"
for r in runs/*/; do echo "$(grep -m1 -- '-> running' "$r/log") $(basename "$r")"; done | sort
grep -h "queued:" A.log B.log
