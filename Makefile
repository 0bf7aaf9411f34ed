# asim-rules: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
# Rule crates under guest-rules/ built as components into target/rules/NAME.wasm.
RULES := ti-map-ip network-session-anomaly
COMPONENTS := $(RULES:%=target/rules/%.wasm)
BIN := target/debug/asim-rules
DEMO_DIR := demo-data
DEMO_FROM := 2026-03-11T00:00:00Z
DEMO_TO := 2026-03-12T00:00:00Z

.PHONY: build components host demo test lint bench clean wasm-target

build: components host

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Each guest is compiled once per build, then wrapped by the in-repo tool.
components: wasm-target
	$(CARGO) build --profile component --target $(WASM_TARGET) $(RULES:%=-p %)
	$(CARGO) build -p componentize
	@mkdir -p target/rules
	@for rule in $(RULES); do \
	  target/debug/componentize target/$(WASM_TARGET)/component/$${rule//-/_}.wasm target/rules/$$rule.wasm || exit 1; \
	  echo "built target/rules/$$rule.wasm"; \
	done

host:
	$(CARGO) build -p asim-rules

# 15 days of traffic; the last day replayed: TI hourly, the anomaly rule daily.
demo: build
	$(BIN) generate --out $(DEMO_DIR) --days 15
	$(BIN) replay $(COMPONENTS:%=--rule %) \
	  --indicators $(DEMO_DIR)/indicators.jsonl --sessions $(DEMO_DIR)/sessions.jsonl \
	  --from $(DEMO_FROM) --to $(DEMO_TO) --format table

test: build
	$(CARGO) test --workspace

lint: wasm-target
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) $(RULES:%=-p %) -p asim-rule-sdk -- -D warnings

bench: components
	$(CARGO) build --release -p asim-rules
	$(CARGO) bench -p asim-rules --bench throughput

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)
