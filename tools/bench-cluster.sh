#!/usr/bin/env bash
# `make bench-cluster` (part of `make bench`): the cluster mode measured
# against `serve` on spool folders in the same run, on one machine and one
# JetStream node (docs/BENCHMARKS.md). Prints: publish rate; sessions/s of
# serve on spools (the baseline), of one and of three `serve --nats`
# instances, and their ratios; the time a killed instance's tenants take to be
# held again.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/asim-rules}
NATS=${NATS:-target/py-tools/bin/nats-server}
TENANTS=${TENANTS:-4}
SESSIONS_PER_DAY=${SESSIONS_PER_DAY:-100000}
work=$(mktemp -d -p "$PWD/target" bench-cluster.XXXXXX)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])) / 1e6:.2f}')" "$@"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="nats://127.0.0.1:$port"
"$NATS" -js -a 127.0.0.1 -p "$port" -sd "$work/js" > "$work/nats.log" 2>&1 &
pids+=($!)
"$BIN" generate --out "$work/data" --days 15 --sessions-per-day "$SESSIONS_PER_DAY" > /dev/null
rows=$(wc -l < "$work/data/sessions.jsonl")
echo '{"TimeGenerated":"2026-03-14T00:00:00Z","SrcIpAddr":"10.0.0.1","DstIpAddr":"10.0.0.2","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP","Dvc":"fw"}' > "$work/late.jsonl"
tenants=()
for tenant in $(seq 1 "$TENANTS"); do tenants+=("t$tenant"); done
config() { # $1: spool or cluster
  echo 'state = "state-'"$1"'"'
  for tenant in "${tenants[@]}"; do
    printf '[[tenant]]\nname = "%s"\nfrom = "2026-03-10T18:00:00Z"\nlateness = "2d"\n' "$tenant"
    if [ "$1" = spool ]; then
      printf 'spool = "spool/%s"\nalerts = "alerts-%s.jsonl"\n' "$tenant" "$tenant"
    fi
    for rule in ti-map-ip network-session-anomaly; do
      printf '[[tenant.rule]]\ncomponent = "%s/target/rules/%s.wasm"\n' "$PWD" "$rule"
    done
  done
}
config spool > "$work/spool.toml"
config cluster > "$work/cluster.toml"

echo "# cluster mode: $TENANTS tenants x $rows sessions (15 days), both Sentinel rules, one JetStream node, $(nproc) cores"
# Publish: every tenant's sessions and the indicators, as batches.
start=$(now)
"$BIN" publish --nats "$url" --global --indicators "$work/data/indicators.jsonl" --log-level warn
for tenant in "${tenants[@]}"; do
  "$BIN" publish --nats "$url" --tenant "$tenant" --sessions "$work/data/sessions.jsonl" --sessions "$work/late.jsonl" --log-level warn
done
end=$(now)
echo "publish: $(rate $((rows * TENANTS)) "$start" "$end") M sessions/s ($(elapsed "$start" "$end") s for $((rows * TENANTS)))"

# Baseline: serve on spools holding the same files.
for tenant in "${tenants[@]}"; do
  mkdir -p "$work/spool/$tenant"
  cp "$work/data/indicators.jsonl" "$work/spool/$tenant/0001-indicators.jsonl"
  cp "$work/data/sessions.jsonl" "$work/spool/$tenant/0002-sessions.jsonl"
  cp "$work/late.jsonl" "$work/spool/$tenant/0003-sessions.jsonl"
done
start=$(now)
"$BIN" serve --config "$work/spool.toml" --until-idle --log-level warn
end=$(now)
spool=$(rate $((rows * TENANTS)) "$start" "$end")
echo "serve, spools:          $spool M sessions/s ($(elapsed "$start" "$end") s)"

start=$(now)
"$BIN" serve --config "$work/cluster.toml" --nats "$url" --until-idle --log-level warn
end=$(now)
one=$(rate $((rows * TENANTS)) "$start" "$end")
echo "serve --nats, 1 instance: $one M sessions/s ($(elapsed "$start" "$end") s); $(python3 -c "print(f'{$one / $spool:.2f}')")x spools"

# Three instances on new tenants (the same data under other names), until
# every tenant's stored checkpoint has played its last message.
sed -i 's/state-cluster/state-three/' "$work/cluster.toml"
for tenant in "${tenants[@]}"; do sed -i "s/name = \"$tenant\"/name = \"x$tenant\"/" "$work/cluster.toml"; done
for tenant in "${tenants[@]}"; do
  "$BIN" publish --nats "$url" --tenant "x$tenant" --sessions "$work/data/sessions.jsonl" --sessions "$work/late.jsonl" --log-level warn
done
start=$(now)
for instance in 1 2 3; do
  "$BIN" serve --config "$work/cluster.toml" --nats "$url" 2> "$work/serve-$instance.log" &
  pids+=($!)
done
while :; do
  caught_up=$("$BIN" status --nats "$url" --json 2> /dev/null | python3 -c '
import json, sys
status = json.load(sys.stdin)
mine = [t for t in status["tenants"] if t["tenant"].startswith("x")]
print(sum(1 for t in mine if t["position"] is not None and t["behind"] == 0))' || echo 0)
  [ "$caught_up" = "$TENANTS" ] && break
  sleep 0.2
done
end=$(now)
three=$(rate $((rows * TENANTS)) "$start" "$end")
echo "serve --nats, 3 instances: $three M sessions/s ($(elapsed "$start" "$end") s, to the last stored checkpoint); $(python3 -c "print(f'{$three / $spool:.2f}')")x spools"

# Takeover: one of the three killed; how long until its tenants are held again.
victim=$(sed -n 's/.*instance \([^ ]*\) joins the cluster.*/\1/p' "$work/serve-1.log")
held_by_victim=$(grep -c "taken with epoch" "$work/serve-1.log" || true)
start=$(now)
{ kill -9 "${pids[1]}" && wait "${pids[1]}"; } 2> /dev/null || true
while :; do
  held=$("$BIN" status --nats "$url" --json 2> /dev/null | python3 -c '
import json, sys
status = json.load(sys.stdin)
mine = [t for t in status["tenants"] if t["tenant"].startswith("x")]
print(sum(1 for t in mine if t["holder"] not in (None, sys.argv[1])))' "$victim" || echo 0)
  [ "$held" = "$TENANTS" ] && break
  sleep 0.1
done
end=$(now)
echo "takeover after kill -9 (lease time 4 s): $(elapsed "$start" "$end") s until every tenant is held by a live instance ($held_by_victim were the killed one's)"
