#!/usr/bin/env bash
# Synthetic data throughput: 256x256 training crops (rendered with random
# scale/rotation/flip augmentation) per second on all cores of this
# machine. Wall-clock crops/s depends on what else the machine runs; the
# CPU time per crop gives what idle cores reach (cores * 1000 / cpu-ms).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
out=$(go test -run '^$' -bench 'BenchmarkRender256$' -benchtime 2000x ./datasets/synth/ 2>&1) || { echo "$out"; exit 1; }
line=$(echo "$out" | grep '^BenchmarkRender256')
crops=$(echo "$line" | awk '{for (i=1;i<=NF;i++) if ($(i+1)=="crops/s") print $i}')
cpums=$(echo "$line" | awk '{for (i=1;i<=NF;i++) if ($(i+1)=="cpu-ms/crop") print $i}')
cores=$(echo "$line" | awk '{for (i=1;i<=NF;i++) if ($(i+1)=="cores") print $i}')
idle=$(awk -v c="$cores" -v m="$cpums" 'BEGIN { printf "%.0f", c * 1000 / m }')
echo "synthetic 256x256 crops: ${crops} crops/s measured on ${cores} cores (${cpums} CPU-ms per crop => ~${idle} crops/s on ${cores} idle cores)"
