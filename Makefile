# Sluice — the two commands are `make up` (run it) and `make test` (test it).
# Other stable targets: down, test-unit, test-integration, test-e2e, chaos, power-loss, bench, lint, images,
# cluster-up, cluster-down, kind-up, generate, build.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
RESULTS := .test-results
VITEST_JSON = --reporter=default --reporter=json --outputFile.json=$(RESULTS)/$(1).json

.PHONY: tools clean-results help up down test test-unit test-integration test-e2e chaos test-cluster-lifecycle power-loss bench lint typecheck \
        images cluster-up cluster-down kind-up generate build deps clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-22s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json ## Install the npm dependencies (npm ci)

build: deps ## Compile TypeScript to dist/
	npm run build

generate: deps ## Regenerate the CRD YAML and TypeScript types from api/schema.ts
	npm run generate

lint: deps ## eslint + prettier check
	npx eslint . --max-warnings=0
	npx prettier --check .

typecheck: deps ## tsc --noEmit over everything, tests included
	npx tsc --noEmit -p tsconfig.json

test-unit: deps tools ## Unit tests (no servers; helm and promtool check the chart and rules)
	@mkdir -p $(RESULTS)
	npx vitest run --config test/vitest.unit.config.ts $(call VITEST_JSON,unit)

tools: ## Build (or find cached) the Go-built parts: Kubernetes, etcd, CoreDNS, helm, nats-server, …
	test/cluster/build.sh

test-integration: deps tools ## Integration tests (real nats-server, kube-apiserver, runtime processes)
	@mkdir -p $(RESULTS)
	npx vitest run --config test/vitest.integration.config.ts $(call VITEST_JSON,integration)

power-loss: deps tools ## JetStream under a simulated power cut (FUSE disk that drops data not fsynced): acked vs present for each sync_interval
	npx vitest run --config test/vitest.integration.config.ts test/integration/nats-power-loss.test.ts

cluster-up: ## Build (cached) and start the local single-node cluster; writes .cluster/env
	test/cluster/up.sh

cluster-down: ## Stop the local cluster; leaves no process, mount or namespace behind
	test/cluster/down.sh

images: deps ## Build the OCI images (compiles dist/ itself) and import them into the local cluster's containerd
	test/cluster/images.sh

kind-up: ## For users with Docker: a kind cluster instead of the local one (untested here)
	test/cluster/kind-up.sh

test-e2e: deps cluster-up images ## End-to-end tests on the real local cluster
	@mkdir -p $(RESULTS)
	npx vitest run --config test/vitest.e2e.config.ts $(call VITEST_JSON,e2e)

chaos: deps cluster-up images ## Chaos on the real cluster: pods deleted every 20-30 s under load, nothing lost (SLUICE_CHAOS_SECONDS=300; results in bench-results/chaos.json)
	@mkdir -p $(RESULTS)
	SLUICE_CHAOS=1 npx vitest run --config test/vitest.e2e.config.ts $(call VITEST_JSON,chaos)

test-cluster-lifecycle: ## The local cluster's lifecycle: up twice, recovery, takeover, clean down (restarts the cluster)
	@mkdir -p $(RESULTS)
	test/cluster/selftest.sh | tee $(RESULTS)/cluster-lifecycle.txt

test: clean-results lint typecheck test-unit test-integration test-e2e test-cluster-lifecycle ## Everything: lint, types, unit, integration, e2e, cluster lifecycle
	@node test/summary.mjs $(RESULTS)

clean-results:
	@rm -rf $(RESULTS)

bench: deps tools ## Benchmarks, each against a baseline in the same run (results in bench-results/*.json); installs nginx, starts the local cluster and the platform when needed
	test/cluster/deps.sh nginx
	@if [ -z "$${SLUICE_EXTERNAL_CLUSTER:-}" ]; then $(MAKE) --no-print-directory cluster-up images && test/install.sh >/dev/null; fi
	npx tsx test/bench/functions.bench.ts
	npx tsx test/bench/async.bench.ts
	npx tsx test/bench/poller.bench.ts
	npx tsx test/bench/poller-cluster.bench.ts
	npx tsx test/bench/gateway.bench.ts
	npx tsx test/bench/packages.bench.ts

N ?= 5
SUITE ?= integration
.PHONY: test-repeat
test-repeat: deps tools ## Flake detector: run one suite N times, list every test that failed once (make test-repeat N=5 SUITE=integration|e2e|unit)
	@if [ "$(SUITE)" = e2e ]; then $(MAKE) --no-print-directory cluster-up images; fi
	node test/repeat.mjs $(SUITE) $(N)

.PHONY: dashboard-png
dashboard-png: deps ## Render the overview dashboard to docs/images/ (real Prometheus on the cluster: make cluster-up images)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y chromium; }
	SLUICE_DASHBOARD_PNG=docs/images/dashboard-function-overview.png \
	  npx vitest run -c test/vitest.e2e.config.ts test/e2e/prometheus.test.ts

up: deps ## Start Sluice: local cluster (when no cluster is configured), images, platform, examples
	test/up.sh

down: ## Remove what `make up` started
	test/down.sh

clean: ## Remove build outputs
	rm -rf dist $(RESULTS)
