#!/usr/bin/env bash
# Device check of the CUDA backend, run on the lent GPU machine from the
# repo root (no Go toolchain there): the prebuilt test binary in .device/
# checks parity with the CPU backend, dropout masks, graph vs eager and short
# training runs, then times the seed models next to the PyTorch peer on the
# same GPU. Everything lands under $OUT (logs, results.jsonl, peer.jsonl,
# summary.txt); the summary is printed last.
#
# Build first, on the development machine:
#   CGO_ENABLED=0 go test -c -ldflags="-s -w" -o .device/cuda.test ./engine/cuda
#   CGO_ENABLED=0 go build -ldflags="-s -w" -o .device/poselab .   # for the end-to-end part
#   cp /work/shared/peers/peer.py .device/peer.py   # unless scripts/peer.py exists
# Usage: bash scripts/gpu-check.sh [tests] [e2e] [bench] [peers] [stage] [pipeline] [sanitize]   (default: all)
# POSELAB_GPU_BENCH="sb256 sh32" limits the speed pairs; GPU_CHECK_BUDGET_S the time. The keys
# sh32bnlegacy and ir32bnlegacy rerun sh32 and ir32 with POSELAB_CUDA_BN=legacy (old BatchNorm kernels),
# sh32memold reruns sh32 with the first session's memory layout (speed and memory A/B); sh32wsfast and
# ir32wsfast rerun with the fastest convolution algorithms whatever their workspace (POSELAB_CUDA_WSFIT=0).
# Without a GPU every part skips cleanly.
set -u
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
T0=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-290} # whole script, seconds (the issue: one call under 5 minutes)
parts=${*:-tests e2e bench peers stage pipeline sanitize}
export POSELAB_GPU_OUT=$OUT
for d in /usr/local/cuda-13.0/targets/x86_64-linux/lib /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu; do
	[ -d "$d" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d
done
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# run NAME SECONDS CMD...: one part with its own timeout, never past the budget.
run() {
	local name=$1 secs=$2
	shift 2
	local l
	l=$(left)
	[ "$secs" -gt "$l" ] && secs=$l
	if [ "$secs" -lt 5 ]; then
		echo "SKIP $name: out of time" | tee -a "$OUT/summary.txt"
		return
	fi
	local s=$(date +%s)
	timeout -k 5 "$secs" "$@"
	local rc=$?
	echo "part $name rc=$rc $(($(date +%s) - s))s" >>"$OUT/parts.txt"
	[ $rc -eq 124 ] && echo "TIMEOUT $name after ${secs}s" | tee -a "$OUT/summary.txt"
}

{
	nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,temperature.gpu --format=csv 2>&1 | head -5
	ls -l /usr/lib/libcuda.so.1 /usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13 /usr/lib/x86_64-linux-gnu/libcudnn.so.9 2>&1
} >"$OUT/parts.txt"

# What poselab itself finds on this machine (GPU, library versions,
# kernel family, free memory).
[ -x .device/poselab ] && .device/poselab devices 2>&1 | tee -a "$OUT/summary.txt" >>"$OUT/parts.txt"

BIN=.device/cuda.test
if [ ! -x "$BIN" ]; then
	echo "no $BIN: build it with CGO_ENABLED=0 go test -c -o $BIN ./engine/cuda" | tee -a "$OUT/summary.txt"
	exit 1
fi

# The kernels through nvcc too: a second compiler's opinion, and the
# register / spill report (NVRTC compiles the same source at run time).
if command -v nvcc >/dev/null; then
	POSELAB_DUMP_KERNELS=/tmp/poselab_kernels.cu "$BIN" -test.run '^TestDumpKernelSource$' >/dev/null 2>&1
	run nvcc 30 nvcc -arch=sm_90 -cubin -Xptxas -v -o /tmp/poselab_kernels.cubin /tmp/poselab_kernels.cu >>"$OUT/parts.txt" 2>&1
fi

# Each group runs in its own process, so a crash or hang costs only its part.
case " $parts " in *" tests "*)
	for spec in "basics 40 TestNewWithoutGPUFailsCleanly|TestGPUDropoutMaskMatchesNN|TestGPUGraphMatchesEager|TestGPUUtilization|TestGPUStagedMatchesUpload" \
		"parity 75 TestGPUParityWithCPU" "training 45 TestGPUTrainingLearns" "bnkernels 40 TestGPUBatchNormKernels|TestGPUSoftArgmaxKernels"; do
		set -- $spec
		run "test-$1" "$2" "$BIN" -test.v -test.count=1 -test.timeout "$(($2 - 5))s" -test.run "^($3)\$" >"$OUT/test-$1.log" 2>&1
		grep -E '^(--- |FAIL|ok|PASS)|^ +--- |_test.go:[0-9]+: |panic' "$OUT/test-$1.log" | cut -c1-400 | tail -40
	done
	# A parity failure is run again with the optimisations off (eager
	# steps, all gradients zeroed and accumulated, no BatchNorm+ReLU fusion, no
	# shared gradient memory, one-block-per-channel BatchNorm kernels)
	# to tell which side it is on.
	# Anything but a clean PASS counts: a failed case, a panic, or a
	# timeout (which prints no "--- FAIL" line).
	if ! grep -q '^PASS$' "$OUT/test-parity.log"; then
		POSELAB_MODE_TAG=safe POSELAB_CUDA_GRAPH=0 POSELAB_CUDA_ZEROGRAD=1 POSELAB_CUDA_FUSE=0 POSELAB_CUDA_GRADREUSE=0 POSELAB_CUDA_ALIAS=0 POSELAB_CUDA_BN=legacy POSELAB_CUDA_WSFIT=0 \
			run test-parity-safe 60 "$BIN" -test.v -test.count=1 \
			-test.timeout 55s -test.run '^TestGPUParityWithCPU$' >"$OUT/test-paritysafe.log" 2>&1
		grep -E '^ +--- |_test.go:[0-9]+: ' "$OUT/test-paritysafe.log" | cut -c1-300 | sed 's/^/safe mode: /' | tail -30
	fi
	cat "$OUT"/test-*.log >"$OUT/tests.log" && rm -f "$OUT"/test-*.log
	;;
esac

# End to end: the real CLI trains SB (synthetic data) on the GPU and on the
# CPU for the same epochs; both final lines go to the summary.
case " $parts " in *" e2e "*)
	if [ -x .device/poselab ]; then
		for dev in cuda cpu; do
			run "e2e-$dev" 40 .device/poselab train --model sb --preset tiny --epochs 2 --device $dev --runs-dir /tmp/poselab-e2e-runs \
				--name "e2e-$dev" >"$OUT/e2e.tmp" 2>&1
			echo "e2e $dev: $(tail -1 "$OUT/e2e.tmp")" | tee -a "$OUT/summary.txt"
			cat "$OUT/e2e.tmp" >>"$OUT/parts.txt"
		done
		rm -f "$OUT/e2e.tmp"
	fi
	;;
esac

# Speed: each configuration runs here and then in the PyTorch peer, pair
# by pair (most important first), so a run out of time still has pairs.
PEER=scripts/peer.py
[ -f "$PEER" ] || PEER=.device/peer.py
export PYTHONUNBUFFERED=1
ONLY=${POSELAB_GPU_BENCH:-}
while read -r key args; do
	[ -z "$key" ] && continue
	[ -n "$ONLY" ] && [[ " $ONLY " != *" $key "* ]] && continue
	# The issue's targets come first; the A/B reruns and TF32 after them
	# give way to the stage and sanitize parts: a key runs only if, after
	# its own worst case (40 s, plus 40 s for its peer), AB_RESERVE_S
	# seconds would be left.
	cost=40
	[ "$args" != "-" ] && cost=80
	if [[ " sb256 sh32 ir32 sh6 " != *" $key "* ]] && [ "$(left)" -lt $((${AB_RESERVE_S:-120} + cost)) ]; then
		echo "SKIP bench-$key: keeping ${AB_RESERVE_S:-120}s for the later parts" | tee -a "$OUT/summary.txt"
		continue
	fi
	case " $parts " in *" bench "*)
		graph=1
		[ "$key" = sb256eager ] && graph=0
		# A key ending in bnlegacy repeats its configuration with the old
		# one-block-per-channel BatchNorm kernels (A/B in the same call).
		# A key ending in memold repeats it with the first session's memory
		# layout (only gradients share memory, no Add gradient aliases).
		# A key ending in wsfast repeats it with the fastest convolution
		# algorithms, workspaces not fitted into the memory plan.
		bn= mem= alias= wsfit=
		[ "$key" != "${key%bnlegacy}" ] && bn=legacy
		[ "$key" != "${key%memold}" ] && mem=grad alias=0
		[ "$key" != "${key%wsfast}" ] && wsfit=0
		cfg=${key%bnlegacy}
		cfg=${cfg%memold}
		cfg=${cfg%wsfast}
		POSELAB_CUDA_BN=$bn POSELAB_CUDA_MEMREUSE=$mem POSELAB_CUDA_ALIAS=$alias POSELAB_CUDA_WSFIT=$wsfit POSELAB_CUDA_GRAPH=$graph \
			POSELAB_GPU_BENCH=${cfg%eager} POSELAB_BENCH_KEY=$key \
			run "bench-$key" 40 "$BIN" -test.v -test.count=1 -test.timeout 38s -test.run '^TestGPUBench$' >>"$OUT/bench.log" 2>&1
		;;
	esac
	case " $parts " in *" peers "*)
		[ "$args" = "-" ] && continue
		if [ -f "$PEER" ] && command -v python3 >/dev/null; then
			run "peer-$key" 40 python3 "$PEER" --device cuda $args >"$OUT/peer.tmp" 2>>"$OUT/peer.err"
			if [ -s "$OUT/peer.tmp" ]; then
				python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); d["key"]=sys.argv[2]; print(json.dumps(d))' \
					"$OUT/peer.tmp" "$key" >>"$OUT/peer.jsonl" 2>>"$OUT/peer.err"
			fi
			rm -f "$OUT/peer.tmp"
		else
			echo "SKIP peer $key: no peer.py or python3" >>"$OUT/summary.txt"
		fi
		;;
	esac
done <<'PAIRS'
sb256 --model sb --batch 256 --steps 100 --warmup 10
sh32 --model sh --stacks 2 --features 256 --input 256 --batch 32 --steps 8 --warmup 3
ir32 --model ir --depth 50 --input 256 --batch 32 --steps 8 --warmup 3
sh6 --model sh --stacks 2 --features 256 --input 256 --batch 6 --steps 10 --warmup 3
sb256eager -
sh32bnlegacy -
ir32bnlegacy -
sh32wsfast -
ir32wsfast -
sh32memold -
sh32tf32 --model sh --stacks 2 --features 256 --input 256 --batch 32 --steps 8 --warmup 3 --tf32
ir32tf32 --model ir --depth 50 --input 256 --batch 32 --steps 8 --warmup 3 --tf32
PAIRS
grep -E '^(--- |FAIL|ok)|^ +--- |panic|Error' "$OUT/bench.log" 2>/dev/null | cut -c1-300 | tail -20

# Input staging through the engine (the bench's "staged" column times it
# outside): one short epoch of the seed hourglass at batch 32 with the next
# batch copied to the GPU on a second stream while a step runs (the
# default) and with that off (POSELAB_CUDA_STAGE=0, the upload in the step).
# The finished lines give samples/s; batch cutting on the CPU may bound both.
case " $parts " in *" stage "*)
	if [ -x .device/poselab ]; then
		for st in 1 0; do
			POSELAB_CUDA_STAGE=$st run "stage-$st" 60 .device/poselab train --model sh --preset seed --data-size tiny --epochs 1 --batch 32 \
				--device cuda --runs-dir /tmp/poselab-stage-runs --name "stage-$st" >"$OUT/stage.tmp" 2>&1
			echo "e2e sh b32 POSELAB_CUDA_STAGE=$st: $(tail -1 "$OUT/stage.tmp")" | tee -a "$OUT/summary.txt"
			cat "$OUT/stage.tmp" >>"$OUT/parts.txt"
		done
		rm -f "$OUT/stage.tmp"
	fi
	;;
esac

# A whole pipeline through the CLI on the GPU: G (SH -> SB for depth, IR
# for x,y) at its test preset, each stage's finished line to the summary.
case " $parts " in *" pipeline "*)
	if [ -x .device/poselab ]; then
		run pipeline-g 90 .device/poselab pipeline run G --preset test --device cuda --runs-dir /tmp/poselab-pipeline-runs \
			--name g-cuda >"$OUT/pipeline.tmp" 2>&1
		grep -E '^run .* (finished|failed|diverged|stopped)|^poselab |rror' "$OUT/pipeline.tmp" | sed 's/^/pipeline G on cuda: /' | tee -a "$OUT/summary.txt"
		cat "$OUT/pipeline.tmp" >>"$OUT/parts.txt"
		rm -f "$OUT/pipeline.tmp"
	fi
	;;
esac

# Last, with what time is left: compute-sanitizer's memcheck over small
# parity cases (out-of-bounds or misaligned accesses in our kernels).
case " $parts " in *" sanitize "*)
	if command -v compute-sanitizer >/dev/null; then
		POSELAB_GPU_OUT= run sanitize 45 compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 9 \
			"$BIN" -test.count=1 -test.run '^(TestGPUParityWithCPU|TestGPUTrainingLearns)$' >"$OUT/sanitize.log" 2>&1
		POSELAB_GPU_OUT= run racecheck 45 compute-sanitizer --tool racecheck --print-limit 20 --error-exitcode 9 \
			"$BIN" -test.count=1 -test.run '^TestGPUParityWithCPU$/^(batchnorm|softargmax|masked|linear)' >>"$OUT/sanitize.log" 2>&1
		echo "sanitize: $(grep -c 'Invalid\|Error' "$OUT/sanitize.log") error lines; $(grep -E 'ERROR SUMMARY|^ok|^FAIL|^PASS' "$OUT/sanitize.log" | tr '\n' ' ')" | tee -a "$OUT/summary.txt"
	fi
	;;
esac

python3 scripts/gpu_summary.py "$OUT" 2>&1 | tee -a "$OUT/summary.txt"
echo "total $(($(date +%s) - T0))s" | tee -a "$OUT/summary.txt"
