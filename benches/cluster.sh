#!/usr/bin/env bash
# Cluster mode measured (docs/PERFORMANCE.md, "Cluster over RabbitMQ"): two nodes on the
# RabbitMQ at 127.0.0.1:5672, in a vhost of this run's own, events published to RabbitMQ by the
# load generator as KAZOO's publishers would (`--publish-via amqp://…`), subscribers spread
# over both nodes; and the same load on one node with the embedded bus, to compare the node's
# CPU per delivery. Figures land in $OUT (target/loadgen/cluster): NAME.json and NAME.txt.
#
#   benches/cluster.sh                  every measurement (about 5 minutes)
#   benches/cluster.sh cluster-1k-max   only those named
#
# Needs root for rabbitmqctl (the vhost); never touches the broker's own configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/switchyard
OUT=${OUT:-target/loadgen/cluster}
VHOST=switchyard-bench-$$
BROKER="amqp://guest:guest@127.0.0.1:5672/$VHOST"

cargo build --release --quiet
BIN=$(realpath "$BIN")
mkdir -p "$OUT"
bash .ci/ensure-rabbitmq
rabbitmqctl add_vhost "$VHOST" >/dev/null
rabbitmqctl set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null

run_dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1 || true
    rm -rf "$run_dir"
}
trap cleanup EXIT

# start_node NAME WS_PORT HTTP_PORT BUS: one node in its own directory, sharing the run's secret.
start_node() {
    local dir="$run_dir/$1"
    mkdir -p "$dir"
    [ -d "$run_dir/.switchyard" ] && cp -r "$run_dir/.switchyard" "$dir/"
    (cd "$dir" && exec "$BIN" serve --node-name "$1" --bus "$4" \
        --ws-listen "127.0.0.1:$2" --http-listen "127.0.0.1:$3" \
        --max-connections-per-account 20000 >node.log 2>&1) &
    pids+=($!)
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$3/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:$3/readyz" >/dev/null || { echo "$1 is not ready; see $dir/node.log" >&2; exit 1; }
    [ -d "$run_dir/.switchyard" ] || cp -r "$dir/.switchyard" "$run_dir/"
}

stop_nodes() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

selected=("$@")
wanted() { [ ${#selected[@]} -eq 0 ] || [[ " ${selected[*]} " =~ " $1 " ]]; }

# cluster NAME LOADGEN-FLAGS…: two fresh nodes on the broker; events through RabbitMQ.
cluster() {
    local name=$1
    shift
    wanted "$name" || return 0
    echo "== $name (2 nodes, RabbitMQ): switchyard loadgen $*"
    start_node one 5555 8000 "$BROKER"
    start_node two 5556 8001 "$BROKER"
    local status=0
    "$BIN" loadgen --quiet \
        --ws-url ws://127.0.0.1:5555/ --ws-url ws://127.0.0.1:5556/ \
        --http-url http://127.0.0.1:8000 --http-url http://127.0.0.1:8001 \
        --publish-via "$BROKER" \
        --secret-file "$run_dir/.switchyard/secret" \
        --accounts-file "$run_dir/.switchyard/accounts.json" \
        --output "$OUT/$name.json" "$@" | tee "$OUT/$name.txt" || status=$?
    stop_nodes
    [ "$status" -eq 0 ] || echo "   (loadgen exit status $status)"
}

# embedded NAME LOADGEN-FLAGS…: the same load on one node alone, events through REST.
embedded() {
    local name=$1
    shift
    wanted "$name" || return 0
    echo "== $name (1 node, embedded bus): switchyard loadgen $*"
    start_node alone 5555 8000 embedded
    local status=0
    "$BIN" loadgen --quiet \
        --ws-url ws://127.0.0.1:5555/ --http-url http://127.0.0.1:8000 \
        --secret-file "$run_dir/.switchyard/secret" \
        --accounts-file "$run_dir/.switchyard/accounts.json" \
        --output "$OUT/$name.json" "$@" | tee "$OUT/$name.txt" || status=$?
    stop_nodes
    [ "$status" -eq 0 ] || echo "   (loadgen exit status $status)"
}

# 1,000 subscribers of one account, each event to all of them: latency at a light load, then
# more than the pair can take, for capacity.
cluster cluster-1k-steady -n 1000 --rate 20 --batch 1 --duration 30s
embedded embedded-1k-steady -n 1000 --rate 20 --batch 1 --duration 30s
cluster cluster-1k-max -n 1000 --rate 2000 --batch 1 --duration 20s
embedded embedded-1k-max -n 1000 --rate 2000 --batch 1 --duration 20s
# What one node consumes: 1,000 subscribers over 1,000 accounts, so each event reaches one
# socket, but every node takes every call event (KAZOO's call keys carry no account, so one
# broker binding serves every account's subscription).
cluster cluster-consume -n 1000 --accounts 1000 --rate 20000 --batch 1 --duration 20s
