#!/usr/bin/env bash
# Seed corpora for the fuzz targets, made from the project's own samples
# (tests/data) and generated data: `fuzz/seeds.sh BIN OUT` writes OUT/TARGET/*.
# Targets that read a choice byte first (format, gzip, rule) get one seed per
# choice that fits the file.
set -euo pipefail
bin=$1
out=$2
rm -rf "$out"
mkdir -p "$out"/{session_files,json_scanner,indicator_files,stix_pattern,serve_config,rule_restore,rule_differential,serve_checkpoint,component_loader}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A day of generated sessions and indicators, with CSV copies.
"$bin" generate --out "$work/gen" --days 2 --sessions-per-day 300 --csv >/dev/null

# seed TARGET NAME CHOICE FILE [BYTES]: the choice byte, then the file's start.
seed() {
  local target=$1 name=$2 choice=$3 file=$4 bytes=${5:-16384}
  { printf "\\x$(printf %02x "$choice")"; head -c "$bytes" "$file"; } >"$out/$target/$name"
}
gz() { gzip -1 -c "$1" >"$work/$(basename "$1").gz"; echo "$work/$(basename "$1").gz"; }

# Sessions: ASIM JSON lines and CSV (choice bit 0), gzipped (bit 1), a small
# line limit (bit 2); Sentinel's vendor tables as CSV.
seed session_files asim.jsonl 0 "$work/gen/sessions.jsonl"
seed session_files asim-short-lines.jsonl 4 "$work/gen/sessions.jsonl"
seed session_files asim.csv 1 "$work/gen/sessions.csv"
seed session_files asim.jsonl.gz 2 "$(gz "$work/gen/sessions.jsonl")"
for sample in tests/data/sentinel-samples/*.csv; do
  seed session_files "$(basename "$sample")" 1 "$sample"
done
# Raw logs, written out here (the real captures stay in ../shared/data).
printf '#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\n1700000000.123456\tC1\t192.0.2.10\t50000\t198.51.100.20\t443\ttcp\tssl\t1.5\t100\t200\tSF\tT\tF\n' >"$work/conn.log"
seed session_files zeek.tsv 0 "$work/conn.log"
printf '{"ts":1700000100.5,"uid":"C2","id.orig_h":"10.9.8.7","id.orig_p":40042,"id.resp_h":"192.0.2.53","id.resp_p":53,"proto":"udp","duration":0.0121,"conn_state":"SHR"}\n' >"$work/conn.json"
seed session_files zeek.json 0 "$work/conn.json"
printf 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 1 eni-1 203.0.113.7 10.1.2.3 51515 22 6 10 840 1700000000 1700000060 ACCEPT OK\n' >"$work/vpc.log"
seed session_files aws-vpc.log 0 "$work/vpc.log"
printf '{"timestamp":"2023-11-14T23:00:05.000000+0100","flow_id":1,"event_type":"flow","src_ip":"192.0.2.50","src_port":5353,"dest_ip":"192.0.2.60","dest_port":40000,"proto":"UDP","flow":{"pkts_toserver":5,"bytes_toserver":1500,"start":"2023-11-14T23:00:01.250001+0100","end":"2023-11-14T23:00:03.500003+0100"}}\n' >"$work/eve.json"
seed session_files suricata.json 0 "$work/eve.json"

# The JSON scanner: lines of generated sessions, and short records with the
# target's own keys.
head -c 16384 "$work/gen/sessions.jsonl" >"$out/json_scanner/sessions.jsonl"
printf '{"a":"x","b":1}\n{"b":2.5e3,"a":"y\\"z"}\n{"":null,"TimeGenerated":"2026-03-14T15:00:00Z","SrcIpAddr":"10.0.0.1"}\n' \
  >"$out/json_scanner/short.jsonl"

# Indicators: every source, by name (choice bits 0-1: .txt .json .jsonl .csv).
seed indicator_files table.jsonl 2 "$work/gen/indicators.jsonl"
seed indicator_files table.csv 3 "$work/gen/indicators.csv"
seed indicator_files table.jsonl.gz 6 "$(gz "$work/gen/indicators.jsonl")"
seed indicator_files ioc.csv 3 tests/data/ti/azure-sentinel_IP_IOC_V1.csv
for bundle in tests/data/stix/*.json; do
  seed indicator_files "$(basename "$bundle")" 1 "$bundle"
done
printf '# a list\n198.51.100.7 # a comment\n10.0.0.0/8\n2001:db8::/32\n' >"$work/list.txt"
seed indicator_files list.txt 0 "$work/list.txt"

# STIX patterns, as the bundles write them.
n=0
grep -ho '"pattern": *"[^"]*"' tests/data/stix/*.json | sed 's/^"pattern": *"//; s/"$//' | sort -u |
  while IFS= read -r pattern; do
    n=$((n + 1))
    printf '%s' "$pattern" | sed "s/\\\\'/'/g" >"$out/stix_pattern/pattern-$n"
  done

# serve configs: the README's, and one per budget and option.
sed -n '/^state = "state"/,/^```/p' README.md | sed '$d' >"$out/serve_config/readme.toml"
printf 'state = "s"\n[[tenant]]\nname = "t"\nspool = "in"\nalerts = "a.jsonl"\nmax_ahead = "2d"\nbudgets = { memory_mib = 64 }\n[[tenant.rule]]\ncomponent = "r.wasm"\nparameters = { threshold = "2.5" }\n' \
  >"$out/serve_config/small.toml"

# Snapshots of each rule (choice byte: 0 TI, 1 anomaly, 2 port-scan) from a
# serve run over the generated data.
mkdir -p "$work/serve/spool"
cp "$work/gen/indicators.jsonl" "$work/serve/spool/0001-indicators.jsonl"
cp "$work/gen/sessions.jsonl" "$work/serve/spool/0002-sessions.jsonl"
{
  echo 'state = "state"'
  echo '[[tenant]]'
  echo 'name = "seed"'
  echo 'spool = "spool"'
  echo 'alerts = "alerts.jsonl"'
  for rule in ti-map-ip network-session-anomaly port-scan; do
    printf '[[tenant.rule]]\ncomponent = "%s"\n' "$PWD/target/rules/$rule.wasm"
  done
} >"$work/serve/serve.toml"
ASIM_RULES_COMPILE_CACHE=off "$bin" serve --config "$work/serve/serve.toml" --until-idle 2>/dev/null
for rule in 0 1 2; do
  for state in "$work"/serve/state/seed/rule-"$rule"-*.state; do
    seed rule_restore "rule-$rule-$(basename "$state")" "$rule" "$state" 1000000000
  done
done

# The differential target draws its batches from a seed of any bytes.
head -c 4096 "$work/gen/sessions.jsonl" >"$out/rule_differential/bytes"

# Components: a built rule, for the raw-bytes path to mutate.
seed component_loader port-scan.wasm 0 target/rules/port-scan.wasm 1000000000
printf '\x00asm\x01\x00\x00\x00' >"$out/component_loader/empty-module"
