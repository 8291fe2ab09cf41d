# poselab: two commands on a fresh Debian machine with Go: `make run`, `make test`.
GO        ?= go
export CGO_ENABLED = 0
BIN       := bin/poselab
PKGS      := ./...
APT       := $(shell command -v apt-get 2>/dev/null)

.PHONY: all build run run-deps test lint bench fuzz test-deps bench-deps device clean

all: build

build:
	$(GO) build -o $(BIN) .

# Opens the workbench on the embedded default (synthetic data, CPU).
run: build run-deps
	./$(BIN)

# OpenBLAS makes CPU training about 6x faster than the pure-Go fallback;
# poselab loads it at run time when present (no cgo), so install it where
# we can and carry on without it where we cannot.
run-deps:
	@ldconfig -p 2>/dev/null | grep -q libopenblas.so.0 || { [ -n "$(APT)" ] && [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq libopenblas0-pthread >/dev/null) || echo "OpenBLAS not installed: CPU training uses the slower pure-Go BLAS"; }

# Tools the tests drive: tmux for the end-to-end TUI test, clang to compile
# the CUDA kernels as CUDA device code (no GPU or CUDA toolkit needed), g++
# to run them on the CPU emulator (engine/cuda/emulate_test.go).
test-deps:
	@command -v tmux >/dev/null 2>&1 || { [ -n "$(APT)" ] && (apt-get update -qq && apt-get install -y -qq tmux >/dev/null) || echo "tmux not installed: its end-to-end test will be skipped"; }
	@command -v clang >/dev/null 2>&1 || { [ -n "$(APT)" ] && (apt-get update -qq && apt-get install -y -qq clang >/dev/null) || echo "clang not installed: the CUDA compile check of the kernels will be skipped"; }
	@command -v g++ >/dev/null 2>&1 || { [ -n "$(APT)" ] && (apt-get update -qq && apt-get install -y -qq g++ >/dev/null) || echo "g++ not installed: the kernel emulator tests will be skipped"; }

test: test-deps run-deps lint
	$(GO) test -count=1 -timeout 14m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# PyTorch from Debian is the performance peer (run with /usr/bin/python3).
bench-deps:
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || { [ -n "$(APT)" ] && apt-get update -qq && apt-get install -y -qq python3-torch python3-torchvision >/dev/null; }

bench: build bench-deps run-deps
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)
	bash scripts/bench.sh

# Runs every fuzz target for FUZZTIME each (the seed corpora run in `make test`).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# What scripts/gpu-check.sh runs on a GPU machine (which has no Go): the
# CUDA backend's test binary, poselab and the PyTorch peer, in .device/
# (carry it to the device, then `bash scripts/gpu-check.sh` there).
device:
	mkdir -p .device
	$(GO) test -c -ldflags="-s -w" -o .device/cuda.test ./engine/cuda
	$(GO) build -ldflags="-s -w" -o .device/poselab .
	@[ -f scripts/peer.py ] || cp ../shared/peers/peer.py .device/peer.py 2>/dev/null || echo "no peer.py: the peer runs will be skipped"

clean:
	rm -rf bin
