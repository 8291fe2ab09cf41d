# poselab: two commands on a fresh Debian machine with Go: `make run`, `make test`.
GO        ?= go
export CGO_ENABLED = 0
BIN       := bin/poselab
PKGS      := ./...
APT       := $(shell command -v apt-get 2>/dev/null)

.PHONY: all build run test lint bench fuzz deps test-deps bench-deps clean

all: build

build:
	$(GO) build -o $(BIN) .

# Opens the workbench on the embedded default (synthetic data, CPU).
run: build
	./$(BIN)

# Tools the tests drive (tmux for the end-to-end TUI test).
test-deps:
	@command -v tmux >/dev/null 2>&1 || { [ -n "$(APT)" ] && (apt-get update -qq && apt-get install -y -qq tmux >/dev/null) || echo "tmux not installed: its end-to-end test will be skipped"; }

test: test-deps lint
	$(GO) test -count=1 -timeout 14m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# PyTorch from Debian is the performance peer (run with /usr/bin/python3).
bench-deps:
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || { [ -n "$(APT)" ] && apt-get update -qq && apt-get install -y -qq python3-torch python3-torchvision >/dev/null; }

bench: build bench-deps
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

clean:
	rm -rf bin
