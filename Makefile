# canary — see README.md. `make run` starts canary on its embedded example;
# `make test` runs everything CI runs (installing what the tests need).

GO       ?= go
BIN      := bin/canary
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS  := -s -w -X github.com/canaryproj/canary/cmd/canary/cli.version=$(VERSION) -X github.com/canaryproj/canary/cmd/canary/cli.commit=$(COMMIT)
# Integration suites (real Prometheus, promtool, Alertmanager, Chromium, the
# built binary) are behind the `integration` build tag so that a plain
# `go test ./...` stays fast; `make test` always includes them.
TESTFLAGS ?= -race -tags integration -timeout 9m

.PHONY: all build image run test unit deps fmt fmt-check vet lint lint-modules tidy-check dupl-check generate bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/canary

# The container image (Dockerfile): static, non-root, `canary` as entrypoint,
# stamped like `make build`. Docker or Podman, whichever is installed
# (CONTAINER_ENGINE=podman to choose); push it to a registry your cluster
# pulls from (docs/deployment.md).
IMAGE            ?= canary:$(VERSION)
CONTAINER_ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: neither docker nor podman is installed; install one (or build elsewhere: see docs/deployment.md)" >&2; exit 1; fi
	@if ! $(CONTAINER_ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(CONTAINER_ENGINE) is installed but cannot reach its engine (is the daemon running? are you in its group?)" >&2; exit 1; fi
	$(CONTAINER_ENGINE) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .
	@echo "built $(IMAGE); try: $(CONTAINER_ENGINE) run --rm $(IMAGE) version"

# The daemon on the example config (examples/canary.yaml) against the
# built-in demo target, everything on 127.0.0.1; two more demo targets, a
# baseline and a candidate 15 % slower with 1 % errors, for its comparison
# check (docs/compare.md).
run: build
	@echo "canary: status page http://127.0.0.1:9090/  metrics http://127.0.0.1:9090/metrics  verdicts http://127.0.0.1:9090/api/v1/checks"
	@echo "        demo target http://127.0.0.1:8080/  (break it: curl -X PUT 127.0.0.1:8080/admin/faults -d '{\"error_ratio\":0.2}')"
	@echo "        comparison  http://127.0.0.1:9090/api/v1/gate/candidate  (baseline :8081, candidate :8082, 15% slower, 1% errors)"
	cd examples && ../$(BIN) daemon --config canary.yaml --with-demo-target 127.0.0.1:8080 \
		--with-demo-target 127.0.0.1:8081,latency=20ms,jitter=20ms \
		--with-demo-target 127.0.0.1:8082,latency=20ms,jitter=20ms,slower=15%,error_ratio=0.01

deps:
	./scripts/deps.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Test modules of their own: they test deploy/ with Argo Rollouts' and
# Kubernetes' code, which the main module must not depend on.
INTEGRATION_MODULES := integrations/argo integrations/kubernetes
in-modules = for m in $(INTEGRATION_MODULES); do (cd $$m && $(1)) || exit 1; done

vet:
	$(GO) vet -tags integration ./...
	@$(call in-modules,$(GO) vet ./...)

# go.mod and go.sum say exactly what the code imports: `go mod tidy` has
# nothing to change (it prints the change and fails otherwise).
tidy-check:
	$(GO) mod tidy -diff
	@$(call in-modules,$(GO) mod tidy -diff)

# No block of code written twice: mibk/dupl, pinned, fetched through the Go
# module proxy, over the Go files that ship (tests may repeat themselves for
# readability). 60 tokens of syntax tree are about six lines of code.
DUPL ?= github.com/mibk/dupl@v1.1.0
DUPL_TOKENS ?= 60
dupl-check:
	@out=$$(git ls-files '*.go' | grep -v '_test\.go$$' | $(GO) run $(DUPL) -files -plumbing -t $(DUPL_TOKENS)); \
	if [ -n "$$out" ]; then echo "repeated code (dupl -t $(DUPL_TOKENS)); make it one function:"; echo "$$out"; exit 1; fi

# staticcheck, pinned, fetched through the Go module proxy. Not over the
# test modules (integrations/*: a few test files each, vetted below): it
# analyses every dependency from source, and theirs are Kubernetes' and Argo
# Rollouts' — 3.5 minutes of a cold `make test` on 2 cores for ~1,400 lines.
# `make lint-modules` runs it there.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) -tags integration ./...

lint-modules:
	@$(call in-modules,$(GO) run $(STATICCHECK) ./...)

# Everything: formatting, vet, staticcheck, unit + integration tests with
# the race detector (fuzz seed corpora run as part of `go test`).
# The second go test: the transport's raw system calls exist only without the
# race detector (transport/rawsys_race.go), so they are tested as they ship.
# Then the test modules (integrations/*: the Argo templates with Argo's code,
# the Kubernetes manifests with Kubernetes' types): they run real processes
# and Argo's controller, not code of ours that -race would look into.
test: deps fmt-check tidy-check dupl-check vet lint build
	$(GO) test $(TESTFLAGS) ./...
	$(GO) test -count=1 ./transport
	@$(call in-modules,echo "$$m: go test ./..." && $(GO) test -timeout 9m ./...)

# Quick loop while developing: no integration suites.
unit:
	$(GO) test -race ./...

# Regenerate the committed rules and dashboard from examples/canary.yaml (a
# test fails when they drift).
generate:
	$(GO) test ./cmd/canary/cli -run TestCommittedArtefactsMatchTheGenerator -update

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Every fuzz target, one after the other, FUZZTIME each (one worker), each
# input held to a memory budget; a table of executions at the end. Select
# targets with FUZZ=regexp (package path or target name).
FUZZTIME ?= 1m
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ='$(or $(FUZZ),.)' FUZZFLAGS='$(FUZZFLAGS)' ./scripts/fuzz.sh

clean:
	rm -rf bin
