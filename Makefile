# Attesta — make help lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
DEMO  := .demo
DIST  := dist
BUILD := build
# VERSION empty: installers/dist.sh derives it from git describe.
VERSION ?=
HUB_ADDR       ?= 127.0.0.1:8700
COLLECTOR_ADDR ?= 127.0.0.1:8701

.PHONY: help build test demo bench check fuzz dist clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build bin/attesta-hub and bin/attesta-collector
	$(GO) build -o $(BIN)/attesta-hub ./hub/cmd/attesta-hub
	$(GO) build -o $(BIN)/attesta-collector ./collector/cmd/attesta-collector

# -timeout 20m: installers/ builds dist once per run, and cold cgo cross builds take minutes.
test: ## vet and run the whole suite with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

demo: build ## run a hub and an enrolled collector on local SQLite with the fixtures
	@mkdir -p $(DEMO)
	@set -euo pipefail; \
	trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM; \
	$(BIN)/attesta-hub run --data $(DEMO)/hub --listen $(HUB_ADDR) 2>>$(DEMO)/hub.log & \
	for i in $$(seq 50); do curl -fsS http://$(HUB_ADDR)/healthz >/dev/null 2>&1 && break; sleep 0.1; done; \
	if [ ! -f $(DEMO)/collector/collector.db ]; then \
		code=$$($(BIN)/attesta-hub enroll --data $(DEMO)/hub --name "Demo booth" --touchpoint fair-milano-b12 --json | sed -E 's/.*"code":"([^"]+)".*/\1/'); \
		$(BIN)/attesta-collector enroll --data $(DEMO)/collector --hub http://$(HUB_ADDR) --code $$code --pin 1234; \
	fi; \
	[ -f $(DEMO)/token ] || $(BIN)/attesta-hub token create --data $(DEMO)/hub --scope admin > $(DEMO)/token; \
	$(BIN)/attesta-hub user list --data $(DEMO)/hub | grep -q '^demo ' || echo attesta-demo | $(BIN)/attesta-hub user add demo --password-stdin --data $(DEMO)/hub >/dev/null; \
	$(BIN)/attesta-collector run --data $(DEMO)/collector --listen $(COLLECTOR_ADDR) 2>>$(DEMO)/collector.log & \
	echo; \
	echo "  Kiosk (collector):  http://$(COLLECTOR_ADDR)/      operator PIN 1234"; \
	echo "  Hub:                http://$(HUB_ADDR)/healthz"; \
	echo "  Hub API token:      $$(cat $(DEMO)/token)"; \
	echo "  Dashboard:          http://$(HUB_ADDR)/dashboard/   login demo, password attesta-demo"; \
	echo "  Events:             curl -H \"Authorization: Bearer $$(cat $(DEMO)/token)\" http://$(HUB_ADDR)/api/v1/events"; \
	echo "  Logs:               $(DEMO)/hub.log, $(DEMO)/collector.log   (Ctrl-C stops both; rm -rf $(DEMO) starts afresh)"; \
	echo; \
	wait

bench: ## run the benchmarks (figures go in docs/BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 90m ./shared/bench/

check: ## vet, staticcheck and the race tests
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz: ## fuzz every decoder of untrusted input for a short while each
	@for t in shared/record:FuzzDecode shared/record:FuzzDecodePayload shared/wire:FuzzDecode shared/hlc:FuzzParse shared/seal:FuzzOpen shared/proof:FuzzVerify hub/http:FuzzReadChecks hub/http:FuzzDecodeNewRequest hub/http:FuzzDecodeRequestAction collector:FuzzCapture shared/config:FuzzDecode shared/catalog:FuzzDecode hub/http:FuzzDecodeConfigRequest hub:FuzzParsePasswordHash hub/dashboard:FuzzSafeNext hub/dashboard:FuzzCookie hub/dashboard:FuzzUnauthenticated collector/sqlite:FuzzConfigFrame shared/webhook:FuzzParseHeader hub/dispatch:FuzzRetryAfter hub:FuzzNewWebhookValidate hub/http:FuzzDecodeCheckLine hub:FuzzCompactE164 hub:FuzzParseQueuePlace shared/jsonscan:FuzzScanner shared/record:FuzzFastDecode shared/record:FuzzFastDecodePayload shared/record:FuzzShapes shared/wire:FuzzPushFast shared/jsonscan:FuzzCheckKeys; do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime 20s -fuzzminimizetime 5s ./$$pkg || exit 1; \
	done

dist: ## release artifacts in dist/: linux amd64+arm64 programs and .debs, signed Windows zip, SHA256SUMS
	VERSION=$(VERSION) DIST=$(DIST) BUILD=$(BUILD) GO=$(GO) installers/dist.sh

clean: ## remove build output, dist/ and the demo data
	rm -rf $(BIN) $(DIST) $(BUILD) $(DEMO)
