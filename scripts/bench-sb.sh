#!/usr/bin/env bash
# Simple Baseline training speed at batch 256 on this machine, in this run:
# poselab's CPU backend (BenchmarkSBTrainStep in engine/cpu) against the
# PyTorch peer (scripts/peer.py, the faster of --threads 1 and 2). The two
# alternate for ROUNDS rounds (default 2) and the best round of each counts,
# so that a burst of other load on the machine hurts neither side alone.
# STEPS (default 30) sets the timed steps per run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
STEPS=${STEPS:-30}
ROUNDS=${ROUNDS:-2}

bin=$(mktemp -d)/cpu.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./engine/cpu/

have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 > b + 0) ? a : b }'; }

ours="" peer="" device=""
for round in $(seq "$ROUNDS"); do
  out=$(cd engine/cpu && "$bin" -test.run '^$' -test.bench '^BenchmarkSBTrainStep$' -test.benchtime "${STEPS}x" -test.v)
  sps=$(awk '/^BenchmarkSBTrainStep/ { for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print $i }' <<<"$out")
  [ -n "$sps" ] || { echo "$out"; echo "bench-sb: no samples/s from BenchmarkSBTrainStep" >&2; exit 1; }
  device=$(sed -n 's/.*device: //p' <<<"$out" | tail -1)
  echo "round $round: poselab ${sps} samples/s"
  ours=$(max "$sps" "$ours")
  if [ "$have_torch" = 1 ]; then
    for threads in 1 2; do
      line=$(/usr/bin/python3 scripts/peer.py --model sb --batch 256 --steps "$STEPS" --threads "$threads" | tail -1)
      sps=$(/usr/bin/python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["samples_per_s"], 1))' "$line")
      echo "round $round: PyTorch --threads ${threads} ${sps} samples/s"
      peer=$(max "$sps" "$peer")
    done
  fi
done

echo "poselab SB train step, batch 256, ${device}: ${ours} samples/s (best of ${ROUNDS})"
if [ "$have_torch" = 1 ]; then
  echo "PyTorch SB train step, batch 256: ${peer} samples/s (best of ${ROUNDS} rounds x --threads 1, 2)"
  awk -v a="$ours" -v b="$peer" 'BEGIN { printf "ratio poselab / PyTorch: %.2f\n", a / b }'
else
  echo "PyTorch peer unavailable (/usr/bin/python3 with torch): no ratio"
fi
