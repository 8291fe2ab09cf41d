#!/usr/bin/env bash
# Image-model training speed on this machine's CPU, in this run: poselab's
# CPU backend (BenchmarkSHPeerTrainStep, BenchmarkIRPeerTrainStep in
# models/) against the PyTorch peer (scripts/peer.py) on the same
# architectures: the stacked hourglass with the seed's stem, 1 stack of 128
# features, depth 4, and integral regression on a full-width ResNet-18 with
# 256-channel deconvolutions and 64 depth bins; both at 64 px, batch 8.
# The two sides alternate for ROUNDS rounds (default 2), the best of each
# counts; PyTorch runs with --threads 1 and 2.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
STEPS=${STEPS:-6}
ROUNDS=${ROUNDS:-2}

bin=$(mktemp -d)/models.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./models/

have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 > b + 0) ? a : b }'; }

for model in sh ir; do
  case $model in
  sh) bench=BenchmarkSHPeerTrainStep peer="--model sh --stacks 1 --features 128 --input 64 --batch 8" ;;
  ir) bench=BenchmarkIRPeerTrainStep peer="--model ir --depth 18 --input 64 --batch 8" ;;
  esac
  ours="" theirs=""
  for round in $(seq "$ROUNDS"); do
    out=$(cd models && "$bin" -test.run '^$' -test.bench "^${bench}\$" -test.benchtime "${STEPS}x")
    sps=$(awk -v b="$bench" '$1 ~ b { for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print $i }' <<<"$out")
    [ -n "$sps" ] || { echo "$out"; echo "bench-images: no samples/s from $bench" >&2; exit 1; }
    echo "round $round: poselab $model ${sps} samples/s"
    ours=$(max "$sps" "$ours")
    if [ "$have_torch" = 1 ]; then
      for threads in 1 2; do
        line=$(/usr/bin/python3 scripts/peer.py $peer --steps "$STEPS" --warmup 2 --threads "$threads" | tail -1)
        sps=$(/usr/bin/python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["samples_per_s"], 1))' "$line")
        echo "round $round: PyTorch $model --threads ${threads} ${sps} samples/s"
        theirs=$(max "$sps" "$theirs")
      done
    fi
  done
  echo "poselab $model train step, 64 px, batch 8, CPU: ${ours} samples/s (best of ${ROUNDS})"
  if [ "$have_torch" = 1 ]; then
    echo "PyTorch $model train step, same shapes: ${theirs} samples/s (best of ${ROUNDS} rounds x --threads 1, 2)"
    awk -v a="$ours" -v b="$theirs" -v m="$model" 'BEGIN { printf "ratio poselab / PyTorch (%s): %.2f\n", m, a / b }'
  else
    echo "PyTorch peer unavailable (/usr/bin/python3 with torch): no ratio"
  fi
done
