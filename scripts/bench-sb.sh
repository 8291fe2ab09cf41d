#!/usr/bin/env bash
# Simple Baseline training speed at batch 256 on this machine, in this run:
# poselab's CPU backend (BenchmarkSBTrainStep in engine/cpu) against the
# PyTorch peer (scripts/peer.py, the faster of --threads 1 and 2).
# STEPS (default 30) sets the number of timed steps of each.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
STEPS=${STEPS:-30}

out=$(go test ./engine/cpu/ -run '^$' -bench '^BenchmarkSBTrainStep$' -benchtime "${STEPS}x" -count 1 -v)
ours=$(awk '/^BenchmarkSBTrainStep/ { for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print $i }' <<<"$out")
device=$(sed -n 's/.*device: //p' <<<"$out" | tail -1)
[ -n "$ours" ] || { echo "$out"; echo "bench-sb: no samples/s from BenchmarkSBTrainStep" >&2; exit 1; }
echo "poselab SB train step, batch 256, ${device}: ${ours} samples/s"

peer=""
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for threads in 1 2; do
    line=$(/usr/bin/python3 scripts/peer.py --model sb --batch 256 --steps "$STEPS" --threads "$threads" | tail -1)
    sps=$(/usr/bin/python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["samples_per_s"], 1))' "$line")
    echo "PyTorch SB train step, batch 256, --threads ${threads}: ${sps} samples/s"
    if [ -z "$peer" ] || awk -v a="$sps" -v b="$peer" 'BEGIN { exit !(a > b) }'; then peer=$sps; fi
  done
  awk -v a="$ours" -v b="$peer" 'BEGIN { printf "poselab %.1f samples/s vs PyTorch %.1f samples/s (faster thread setting): ratio %.2f\n", a, b, a / b }'
else
  echo "PyTorch peer unavailable (/usr/bin/python3 with torch): no ratio"
fi
