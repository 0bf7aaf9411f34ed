#!/usr/bin/env bash
# `make demo-cluster`: the cluster mode on one machine (docs/CLUSTER.md). A
# 3-node JetStream cluster on loopback, three `serve --nats` instances sharing
# three generated tenants, one instance killed half-way; then each tenant's
# alerts, read back from the alert stream. Everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/asim-rules}
NATS=${NATS:-target/py-tools/bin/nats-server}
work=$(mktemp -d -p "$PWD/target" demo-cluster.XXXXXX)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

# Six free loopback ports: three for clients, three for the cluster's routes.
read -r -a ports < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))')
routes="nats://127.0.0.1:${ports[3]},nats://127.0.0.1:${ports[4]},nats://127.0.0.1:${ports[5]}"
urls="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
for node in 0 1 2; do
  "$NATS" -js -a 127.0.0.1 -p "${ports[$node]}" -sd "$work/js-$node" -n "n$node" \
    --cluster_name demo --cluster "nats://127.0.0.1:${ports[$((node + 3))]}" --routes "$routes" \
    > "$work/nats-$node.log" 2>&1 &
  pids+=($!)
done
echo "3 JetStream nodes on $urls"

"$BIN" generate --out "$work/data" --days 15 --sessions-per-day 20000 > /dev/null
tenants=(acme globex initech)
{
  echo 'state = "state"'
  for tenant in "${tenants[@]}"; do
    printf '[[tenant]]\nname = "%s"\nfrom = "2026-03-10T18:00:00Z"\nlateness = "2d"\n' "$tenant"
    for rule in ti-map-ip network-session-anomaly; do
      printf '[[tenant.rule]]\ncomponent = "%s/target/rules/%s.wasm"\n' "$PWD" "$rule"
    done
  done
} > "$work/serve.toml"

# The cluster elects its JetStream leader first; until then publishing
# replicated streams is refused.
for try in $(seq 1 30); do
  "$BIN" publish --nats "$urls" --replicas 3 --global --indicators "$work/data/indicators.jsonl" \
    --log-level warn 2> /dev/null && break
  [ "$try" = 30 ] && { echo "no JetStream leader after 30 s" >&2; exit 1; }
  sleep 1
done
for tenant in "${tenants[@]}"; do
  "$BIN" publish --nats "$urls" --replicas 3 --tenant "$tenant" --sessions "$work/data/sessions.jsonl"
done
# A session two days later moves every watermark past the data.
echo '{"TimeGenerated":"2026-03-14T00:00:00Z","SrcIpAddr":"10.0.0.1","DstIpAddr":"10.0.0.2","DvcAction":"Allow","NetworkDirection":"Outbound","NetworkProtocol":"TCP","Dvc":"fw"}' > "$work/late.jsonl"

for instance in 0 1 2; do
  "$BIN" serve --config "$work/serve.toml" --nats "$urls" --replicas 3 > /dev/null 2> "$work/serve-$instance.log" &
  pids+=($!)
done
echo "3 instances of serve --nats share ${#tenants[@]} tenants; one is killed (kill -9) in 2 s"
sleep 2
{ kill -9 "${pids[3]}" && wait "${pids[3]}"; } 2> /dev/null || true
for tenant in "${tenants[@]}"; do
  "$BIN" publish --nats "$urls" --replicas 3 --tenant "$tenant" --sessions "$work/late.jsonl" --log-level warn
done

# The killed instance's tenants are taken over within the lease time (4 s).
expected=$("$BIN" replay --rule target/rules/ti-map-ip.wasm --rule target/rules/network-session-anomaly.wasm \
  --sessions "$work/data/sessions.jsonl" --indicators "$work/data/indicators.jsonl" \
  --from 2026-03-10T18:00:00Z --to 2026-03-12T00:00:00Z 2> /dev/null | wc -l)
for try in $(seq 1 60); do
  done_tenants=0
  for tenant in "${tenants[@]}"; do
    count=$({ "$BIN" alerts --nats "$urls" --tenant "$tenant" 2> /dev/null || true; } | wc -l)
    [ "$count" -ge "$expected" ] && done_tenants=$((done_tenants + 1))
  done
  [ "$done_tenants" = "${#tenants[@]}" ] && break
  sleep 1
done
for tenant in "${tenants[@]}"; do
  "$BIN" alerts --nats "$urls" --tenant "$tenant" --log-level warn > "$work/$tenant.jsonl"
  echo "tenant $tenant: $(wc -l < "$work/$tenant.jsonl") alerts (replay of the same data: $expected); the first three:"
  head -n 3 "$work/$tenant.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    alert = json.loads(line)
    print("  ", alert["EvaluatedAt"], alert["AlertName"], "AlertId", alert["AlertId"])'
done
echo "takeovers (epoch > 1):"
grep -h "taken with epoch [2-9]" "$work"/serve-*.log || echo "  none needed"
