#!/usr/bin/env bash
# The churn soak of docs/PERFORMANCE.md: a cluster-mode node (RabbitMQ on 127.0.0.1:5672, a
# vhost of its own) while `switchyard loadgen --scenario churn` opens and closes thousands of
# subscribed sockets in waves for minutes. At the end it prints what the node still holds
# (sockets, bindings, routes, broker bindings of its queue, from /metrics) and what RabbitMQ
# still holds for it (`rabbitmqctl list_bindings`, run as root); the load generator's summary
# says whether memory came back.
#
#   benches/soak.sh                 2,000 sockets at once for 5 minutes
#   DURATION=1m SOCKETS=1000 benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${CARGO_TARGET_DIR:-target}/release/switchyard
OUT=${OUT:-target/loadgen}
DURATION=${DURATION:-5m}
SOCKETS=${SOCKETS:-2000}
VHOST=switchyard-soak
WS_PORT=${WS_PORT:-5555}
HTTP_PORT=${HTTP_PORT:-8000}

cargo build --release --quiet
NODE_BIN=$(realpath "$BIN")
mkdir -p "$OUT"
rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true
rabbitmqctl -q add_vhost "$VHOST"
rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*'

node_dir=$(mktemp -d)
(cd "$node_dir" && exec "$NODE_BIN" serve \
    --ws-listen "127.0.0.1:$WS_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
    --bus "amqp://guest:guest@127.0.0.1:5672/$VHOST" \
    --max-connections-per-account 20000 >node.log 2>&1) &
node_pid=$!
trap 'kill -TERM $node_pid 2>/dev/null; wait $node_pid 2>/dev/null; rm -rf "$node_dir"; rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

# What the vhost holds for a node with no subscriber: the baseline the churn must come back to.
broker_bindings() {
    rabbitmqctl -q list_bindings -p "$VHOST" source_name destination_name routing_key | sort
}
broker_bindings >"$OUT/churn-soak.bindings-before"

"$BIN" loadgen --quiet \
    --ws-url "ws://127.0.0.1:$WS_PORT/" --http-url "http://127.0.0.1:$HTTP_PORT" \
    --secret-file "$node_dir/.switchyard/secret" \
    --accounts-file "$node_dir/.switchyard/accounts.json" \
    --node-pid "$node_pid" --output "$OUT/churn-soak.json" \
    --scenario churn -n "$SOCKETS" --hold 1s --duration "$DURATION" --rate 20 --settle 15s \
    --sockets-per-address 500 | tee "$OUT/churn-soak.txt"

broker_bindings >"$OUT/churn-soak.bindings-after"
echo "== what the node holds after the churn (/metrics)"
curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" |
    grep -E '^(switchyard_(connections|bindings|routes|queued_bytes|bus_bindings|connections_opened_total)|process_resident_memory_bytes) ' |
    tee -a "$OUT/churn-soak.txt"
echo "== RabbitMQ bindings of the vhost: $(wc -l <"$OUT/churn-soak.bindings-before") before, $(wc -l <"$OUT/churn-soak.bindings-after") after" |
    tee -a "$OUT/churn-soak.txt"
if diff "$OUT/churn-soak.bindings-before" "$OUT/churn-soak.bindings-after" >/dev/null; then
    echo "   the same bindings" | tee -a "$OUT/churn-soak.txt"
else
    echo "   DIFFERENT:" | tee -a "$OUT/churn-soak.txt"
    diff "$OUT/churn-soak.bindings-before" "$OUT/churn-soak.bindings-after" | tee -a "$OUT/churn-soak.txt" || true
fi
