# slipway: the two commands a fresh clone needs are `make up` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true

.PHONY: help deps build tools cluster up down test test-unit test-policy test-integration bench lint typecheck format clean-tools

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# npm packages come from the registry, at the versions in package-lock.json. Install scripts are
# skipped because @pulumi/* ones try to download provider plugins, which `make tools` builds and
# installs instead. `npm install --no-save` rather than `npm ci`: the registry here lacks rollup's
# optional binaries for other platforms, which npm leaves out of the lock file and `npm ci` then
# rejects as out of sync.
NPM_INSTALL := npm install --ignore-scripts --no-save --no-audit --no-fund --loglevel=error
node_modules/.installed: package.json package-lock.json
	@start=$$(date +%s); $(NPM_INSTALL); touch $@; \
	echo "==> npm install took $$(( $$(date +%s) - start ))s"

# The policy pack is its own package (policy/package.json), pinned to the same @pulumi/pulumi.
policy/node_modules/.installed: policy/package.json policy/package-lock.json
	@start=$$(date +%s); (cd policy && $(NPM_INSTALL)); touch $@; \
	echo "==> npm install (policy) took $$(( $$(date +%s) - start ))s"

deps: node_modules/.installed policy/node_modules/.installed ## Install npm dependencies

build: deps ## Compile the program, the component library and the policy pack
	@npm run --silent build
	@cd policy && ../node_modules/.bin/tsc -p tsconfig.json

tools: ## Build or verify the pinned tools, cluster binaries and the images the real node runs (cached outside the repo)
	@scripts/tools.sh
	@scripts/apt-tools.sh
	@scripts/images.sh build

cluster: tools ## Start the embedded cluster (real control plane, the host's real node, kwok nodes)
	@scripts/node.sh ensure-free --cluster "$${SLIPWAY_CLUSTER_NAME:-slipway}"
	@scripts/cluster.sh start --real-node auto

up: tools build ## Deploy the local stack (embedded cluster, or yours when KUBECONFIG is set)
	@if [ -z "$${KUBECONFIG:-}" ]; then scripts/node.sh ensure-free --cluster "$${SLIPWAY_CLUSTER_NAME:-slipway}" && scripts/cluster.sh start --real-node auto >/dev/null; fi
	@scripts/up.sh

down: ## Destroy the local stack and stop the embedded cluster
	@scripts/down.sh

test: lint test-unit test-policy test-integration ## Every test

test-unit: deps ## Unit tests under Pulumi mocks (seconds, no cluster)
	@npx vitest run --project unit

test-policy: tools build ## Every policy rule on fixtures and on each stack; a real preview with the pack
	@npx vitest run --project policy

test-integration: tools build ## Real Pulumi CLI against an embedded cluster of the tests' own
	@scripts/node.sh ensure-free
	@npx vitest run --project integration

bench: tools build ## Benchmarks: figures as ratios to a baseline measured in the same run
	@scripts/node.sh ensure-free
	@npx vitest run --project bench

typecheck: deps
	@npx tsc -p tsconfig.test.json
	@cd policy && ../node_modules/.bin/tsc -p tsconfig.json --noEmit

lint: deps typecheck ## Type check, ESLint and Prettier
	@npx eslint . && npx prettier --check . --log-level warn

format: deps ## Rewrite files with Prettier
	@npx prettier --write . --log-level warn

clean-tools: ## Remove the built tools from the cache
	@source scripts/lib.sh && rm -rf "$$SLIPWAY_TOOLS" "$$SLIPWAY_BIN"
