# bpfprof — make targets are the interface: build, test, generate, bench, demo, lint.

GO       ?= go
BIN      := bin/bpfprof
CLANG    ?= clang
# Debug info names sources repo-relative (testdata/hot.bpf.c) and the
# objects are byte-for-byte reproducible wherever the checkout lives. The
# compilation directory "." is mapped to "", because LLVM's BTF writer joins
# it to the file name ("./testdata/hot.bpf.c") when it is not empty.
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror \
	-fdebug-compilation-dir=. -fdebug-prefix-map=.=
BPF_SRCS := $(wildcard testdata/*.bpf.c)
BPF_SRCS += stat/bpf/counter.bpf.c
BPF_OBJS := $(BPF_SRCS:.c=.o)

.PHONY: all build otelcol test test-kernels generate bench demo lint clean fuzz

all: build

build:
	$(GO) build -o $(BIN) ./cmd/bpfprof

# Privileged tests need root; under CI=true they fail instead of skipping.
# The agent's tests run an OpenTelemetry Collector built from tools/otelcol
# (a module of its own); built here first, it does not count against the
# agent package's test time.
test: build otelcol
	$(GO) test -count=1 ./...

# Debian kernel image packages test-kernels boots under QEMU, by name
# (metapackages are followed): Debian 12's 6.1 and its 6.12.
KERNEL_DEB ?= linux-image-amd64 linux-image-6.12-amd64

# The tests that need another kernel than the host's (kprobes, fentry), in
# QEMU guests; see "Testing on other kernels" in the README.
test-kernels:
	$(GO) run ./internal/kernelmatrix/testkernels -kernels "$(KERNEL_DEB)" $(TEST_KERNELS_FLAGS)

otelcol:
	cd tools/otelcol && $(GO) build -o ../../bin/otelcol .

generate: $(BPF_OBJS)
	$(GO) generate ./...

testdata/%.bpf.o: testdata/%.bpf.c testdata/bpf_helpers.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

stat/bpf/%.bpf.o: stat/bpf/%.bpf.c testdata/bpf_helpers.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	./scripts/bench.sh

demo: build
	$(BIN) top --demo

# Every fuzz target for FUZZTIME each (default 30s); fails on a crasher.
# FUZZ=regexp picks targets by package/name.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME="$(FUZZTIME)" FUZZ="$(FUZZ)" ./scripts/fuzz.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf bin
