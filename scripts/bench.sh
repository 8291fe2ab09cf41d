#!/usr/bin/env bash
# Benchmarks that compare poselab with its PyTorch peer on this machine, in
# this run. Each section prints poselab's figure, the peer's, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/bench-*.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  bash "$s"
done
