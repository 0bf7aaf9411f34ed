# asim-rules: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
# Rule crates (guest-rules/, examples/) built as components into target/rules/NAME.wasm.
RULES := ti-map-ip network-session-anomaly port-scan
# The two Sentinel rules; port-scan is the SDK example (examples/port-scan).
SENTINEL_RULES := target/rules/ti-map-ip.wasm target/rules/network-session-anomaly.wasm
# A rule that misbehaves on purpose (tests/hostile-rule): the containment tests'.
HOSTILE := target/hostile/hostile-rule.wasm
BIN := target/debug/asim-rules
# Python tools from PyPI (tests/python-requirements.txt): DuckDB, the OCSF schema.
PY_TOOLS := target/py-tools
DEMO_DIR := demo-data
DEMO_FROM := 2026-03-11T00:00:00Z
DEMO_TO := 2026-03-12T00:00:00Z

.PHONY: build components hostile host python-rules example-hosts demo demo-real demo-cluster bench-cluster test test-real lint bench clean wasm-target fuzz fuzz-smoke fuzz-tool deny-tool

build: components host

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Each guest is compiled once per build, then wrapped by the in-repo tool.
components: wasm-target
	$(CARGO) build --profile component --target $(WASM_TARGET) $(RULES:%=-p %)
	$(CARGO) build -p componentize
	@mkdir -p target/rules
	@for rule in $(RULES); do \
	  core=target/$(WASM_TARGET)/component/$${rule//-/_}.wasm; \
	  [ target/rules/$$rule.wasm -nt $$core ] && [ target/rules/$$rule.wasm -nt target/debug/componentize ] && continue; \
	  target/debug/componentize $$core target/rules/$$rule.wasm || exit 1; \
	  echo "built target/rules/$$rule.wasm"; \
	done

hostile: wasm-target
	$(CARGO) build --profile component --target $(WASM_TARGET) -p hostile-rule
	$(CARGO) build -p componentize
	@mkdir -p target/hostile
	target/debug/componentize target/$(WASM_TARGET)/component/hostile_rule.wasm $(HOSTILE)

# The whole workspace, as `cargo test --workspace` builds it: built for
# `-p asim-rules` alone, wasmtime's dependencies get other features (what
# tools/componentize enables in wasmparser) and wasmtime is compiled twice.
host:
	$(CARGO) build --workspace

# Rules written in Python (guest-rules/python-sdk): examples/NAME/app.py built
# by componentize-py, from PyPI into a virtual environment, with the SDK.
# tests/hostile-python is the containment tests' misbehaving Python rule.
PY_RULES := port-scan-py
HOSTILE_PY := target/hostile/hostile-python.wasm
COMPONENTIZE_PY := target/componentize-py
PY_SDK := $(wildcard guest-rules/python-sdk/asim_rule/*.py)
COMPONENTIZE := $(COMPONENTIZE_PY)/bin/componentize-py --quiet -d wit -w detection componentize -p guest-rules/python-sdk
python-rules: $(PY_RULES:%=target/rules/%.wasm) $(HOSTILE_PY)

$(PY_RULES:%=target/rules/%.wasm): target/rules/%.wasm: examples/%/app.py $(PY_SDK) wit/asim-rules.wit $(COMPONENTIZE_PY)/installed
	@mkdir -p $(@D)
	$(COMPONENTIZE) -p $(<D) app -o $@
	@echo "built $@"

$(HOSTILE_PY): tests/hostile-python/app.py $(PY_SDK) wit/asim-rules.wit $(COMPONENTIZE_PY)/installed
	@mkdir -p $(@D)
	$(COMPONENTIZE) -p $(<D) app -o $@
	@echo "built $@"

$(COMPONENTIZE_PY)/installed: guest-rules/python-sdk/requirements.txt
	@command -v python3 >/dev/null || { echo "python-rules: python3 is required" >&2; exit 1; }
	python3 -m venv $(COMPONENTIZE_PY)
	$(COMPONENTIZE_PY)/bin/pip install --quiet --retries 2 --timeout 30 -r $< || { \
	  echo "python-rules: pip could not install $$(tr '\n' ' ' < $<)from PyPI: is the registry reachable (or PIP_INDEX_URL set)?" >&2; exit 1; }
	@touch $@

# Third-party hosts (examples/python-host, examples/js-host): wasmtime from PyPI
# in a virtual environment, jco from npm, and every rule transpiled to JS.
PYTHON_HOST_ENV := target/python-host
JS_HOST := examples/js-host
# Each rule is transpiled again only when its component changed.
JS_RULES := $(foreach rule,$(RULES),target/js-rules/$(rule)/$(rule).js)
example-hosts: components $(PYTHON_HOST_ENV)/installed $(JS_HOST)/node_modules/installed $(JS_RULES)

.SECONDEXPANSION:
$(JS_RULES): target/js-rules/%.js: target/rules/$$(notdir $$*).wasm $(JS_HOST)/node_modules/installed | components
	$(JS_HOST)/node_modules/.bin/jco transpile $< --instantiation async \
	  --no-typescript -o $(@D) > /dev/null
	@echo "transpiled $@"

$(PYTHON_HOST_ENV)/installed: examples/python-host/requirements.txt
	@command -v python3 >/dev/null || { echo "example-hosts: python3 is required" >&2; exit 1; }
	python3 -m venv $(PYTHON_HOST_ENV)
	$(PYTHON_HOST_ENV)/bin/pip install --quiet --retries 2 --timeout 30 -r $< || { \
	  echo "example-hosts: pip could not install $$(tr '\n' ' ' < $<)from PyPI: is the registry reachable (or PIP_INDEX_URL set)?" >&2; exit 1; }
	@touch $@

$(JS_HOST)/node_modules/installed: $(JS_HOST)/package-lock.json
	@command -v npm >/dev/null || { echo "example-hosts: Node.js and npm are required" >&2; exit 1; }
	cd $(JS_HOST) && npm ci --no-audit --no-fund --fetch-retries 2 || { \
	  echo "example-hosts: npm could not install @bytecodealliance/jco from the npm registry: is it reachable?" >&2; exit 1; }
	@touch $@

# 15 days of traffic; the last day replayed: TI hourly, the anomaly rule daily;
# then the last hour with port-scan (every 10 minutes), and its last alert as
# an OCSF finding.
demo: build
	$(BIN) generate --out $(DEMO_DIR) --days 15
	$(BIN) replay $(SENTINEL_RULES:%=--rule %) \
	  --indicators $(DEMO_DIR)/indicators.jsonl --sessions $(DEMO_DIR)/sessions.jsonl \
	  --from $(DEMO_FROM) --to $(DEMO_TO) --alert-format table
	$(BIN) replay --rule target/rules/port-scan.wasm --sessions $(DEMO_DIR)/sessions.jsonl \
	  --from 2026-03-11T23:00:00Z --to $(DEMO_TO) --alert-format table
	$(BIN) replay --rule target/rules/port-scan.wasm --sessions $(DEMO_DIR)/sessions.jsonl \
	  --from 2026-03-11T23:50:00Z --to $(DEMO_TO) --alert-format ocsf --out $(DEMO_DIR)/port-scan.ocsf.jsonl
	@echo "The last port-scan alert as an OCSF Detection Finding (--alert-format ocsf; docs/OUTPUTS.md):"
	@tail -n 1 $(DEMO_DIR)/port-scan.ocsf.jsonl | python3 -m json.tool

# The cluster mode on one machine (docs/CLUSTER.md): 3 JetStream nodes
# (nats-server from PyPI), 3 `serve --nats` instances, generated tenants, one
# instance killed half-way; each tenant's alerts read back.
demo-cluster: build $(PY_TOOLS)/installed
	bash tools/demo-cluster.sh

# Both rules on real Zeek captures and real blocklists from the team's shared
# data (docs/NORMALIZERS.md); says so and stops when that data is not there.
SHARED_DATA ?= ../shared/data
REAL_DIR := demo-real
demo-real: build
	@if [ ! -d $(SHARED_DATA)/zeek ] || [ ! -d $(SHARED_DATA)/ti ]; then \
	  echo "demo-real: $(SHARED_DATA)/zeek and $(SHARED_DATA)/ti are not there (set SHARED_DATA=...); nothing to run"; \
	  exit 0; \
	fi; \
	mkdir -p $(REAL_DIR); \
	$(BIN) replay $(SENTINEL_RULES:%=--rule %) \
	  $(patsubst %,--sessions $(SHARED_DATA)/zeek/stratosphere-%-mixed.conn.log.labeled,008 010 011) \
	  $(patsubst %,--indicators $(SHARED_DATA)/ti/%,firehol_level1.netset spamhaus_drop.txt spamhaus_dropv6.txt) \
	  --list-published 2022-06-12T00:00:00Z --from 2022-06-12T17:00:00Z --to 2022-06-15T00:00:00Z \
	  --format table --out $(REAL_DIR)/alerts.txt && \
	grep -A2 "network-session-anomaly" $(REAL_DIR)/alerts.txt | head -30; \
	grep -A4 "ti-map-ip" $(REAL_DIR)/alerts.txt | head -25; \
	echo "... every alert: $(REAL_DIR)/alerts.txt"

test: build hostile python-rules example-hosts $(PY_TOOLS)/installed lint
	$(CARGO) test --workspace
	$(MAKE) fuzz-smoke

# Fuzzing (docs/FUZZING.md): libFuzzer through cargo-fuzz, on the stable
# toolchain without a sanitizer. `make fuzz` runs every target for
# FUZZ_SECONDS each (optimised build); `make test` runs each for a few
# seconds (a quicker unoptimised build, without libFuzzer's comparison
# tracing, which made compiling a component on the first input take a
# minute). First, each target replays the
# inputs that once broke it (tests/fuzz/TARGET/).
FUZZ_TARGETS := session_files json_scanner indicator_files stix_pattern serve_config rule_restore rule_differential serve_checkpoint component_loader
FUZZ_SECONDS ?= 60
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_DIR := target/fuzz

fuzz-tool:
	@cargo fuzz --version 2>/dev/null | grep -qF $(CARGO_FUZZ_VERSION) || \
	  $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)

fuzz: FUZZ_PROFILE := -O
fuzz: FUZZ_BUILD := release
fuzz-smoke: FUZZ_PROFILE := -D --no-trace-compares
fuzz-smoke: FUZZ_BUILD := debug
fuzz-smoke: FUZZ_SECONDS := 3
fuzz fuzz-smoke: build fuzz-tool
	$(CARGO) fuzz build $(FUZZ_PROFILE) -s none --target-dir $(FUZZ_DIR)
	fuzz/seeds.sh $(BIN) $(FUZZ_DIR)/seeds
	@for target in $(FUZZ_TARGETS); do \
	  run=$(FUZZ_DIR)/x86_64-unknown-linux-gnu/$(FUZZ_BUILD)/$$target; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$target $(FUZZ_DIR)/artifacts/$$target; \
	  regressions=$$(find tests/fuzz/$$target -type f 2>/dev/null | sort); \
	  if [ -n "$$regressions" ]; then \
	    $$run $$regressions >$(FUZZ_DIR)/$$target.log 2>&1 || { cat $(FUZZ_DIR)/$$target.log; \
	      echo "fuzz: $$target fails on an input of tests/fuzz/$$target" >&2; exit 1; }; \
	  fi; \
	  $$run $(FUZZ_DIR)/corpus/$$target $(FUZZ_DIR)/seeds/$$target -max_total_time=$(FUZZ_SECONDS) -timeout=60 \
	    -close_fd_mask=2 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$target/ \
	    >$(FUZZ_DIR)/$$target.log 2>&1 || { tail -30 $(FUZZ_DIR)/$$target.log; \
	    echo "fuzz: $$target failed; the input is in $(FUZZ_DIR)/artifacts/$$target/ (docs/FUZZING.md)" >&2; exit 1; }; \
	  echo "fuzz: $$target: $$(grep -h '^stat::number_of_executed_units' $(FUZZ_DIR)/$$target.log | grep -o '[0-9]*$$') runs in $(FUZZ_SECONDS) s, $$(grep -o 'cov: [0-9]*' $(FUZZ_DIR)/$$target.log | tail -1), corpus $$(ls $(FUZZ_DIR)/corpus/$$target | wc -l) files"; \
	done

# The tests that read files of ../shared/data whose licences keep them out of
# the repository (tests/data/SOURCES.md says which): ignored by `make test`.
# --workspace, as `make test` builds: `-p asim-rules` alone would compile
# wasmtime again (see `host`).
test-real: build hostile python-rules
	@if [ ! -d $(SHARED_DATA) ]; then \
	  echo "test-real: SKIPPED, $(SHARED_DATA) is not there (set SHARED_DATA=...): the real-capture tests did not run"; \
	  exit 0; \
	fi; \
	ASIM_SHARED_DATA=$(abspath $(SHARED_DATA)) $(CARGO) test --workspace --test e2e -- --ignored

# cargo-deny from crates.io (built once, into ~/.cargo/bin); deny.toml says
# what it checks.
CARGO_DENY_VERSION := 0.20.2
deny-tool:
	@cargo deny --version 2>/dev/null | grep -qF $(CARGO_DENY_VERSION) || \
	  $(CARGO) install cargo-deny --locked --version $(CARGO_DENY_VERSION)

lint: wasm-target deny-tool
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) $(RULES:%=-p %) -p hostile-rule -p asim-rule-sdk -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml --check
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --target-dir $(FUZZ_DIR)/clippy -- -D warnings
	python3 -m py_compile examples/python-host/asim_host.py
	node --check examples/js-host/host.mjs
	$(CARGO) deny check bans licenses sources
	@if $(CARGO) deny fetch >/dev/null 2>&1; then $(CARGO) deny check advisories; \
	else echo "lint: advisories NOT checked: the RustSec database (GitHub) cannot be reached from here"; fi

# The peer DuckDB is measured in the same run: installed from PyPI here.
bench: components python-rules $(PY_TOOLS)/installed
	$(CARGO) build --release -p asim-rules
	$(CARGO) bench -p asim-rules --bench throughput
	bash tools/bench-cluster.sh

# The cluster mode against serve on spools, one JetStream node (docs/BENCHMARKS.md).
bench-cluster: components $(PY_TOOLS)/installed
	$(CARGO) build --release -p asim-rules
	bash tools/bench-cluster.sh

# DuckDB (the bench's peer, the tests' second Parquet reader) and the OCSF
# schema, from PyPI.
$(PY_TOOLS)/installed: tests/python-requirements.txt
	@command -v python3 >/dev/null || { echo "python3 is required (DuckDB, the OCSF schema)" >&2; exit 1; }
	python3 -m venv $(PY_TOOLS)
	$(PY_TOOLS)/bin/pip install --quiet --retries 2 --timeout 30 -r $< || { \
	  echo "pip could not install $$(grep -v '^#' $< | tr '\n' ' ')from PyPI: is the registry reachable (or PIP_INDEX_URL set)?" >&2; exit 1; }
	@touch $@

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR) $(REAL_DIR)
