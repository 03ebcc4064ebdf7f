#!/usr/bin/env bash
# The measurements of docs/PERFORMANCE.md: each on a node of its own (a node's memory figure
# means nothing after another run has grown its heap), with `switchyard loadgen` in a second
# process. Figures land in $OUT (target/loadgen): NAME.json (every figure and the settings) and
# NAME.txt (the summary).
#
#   benches/baseline.sh             every measurement (about 17 minutes)
#   benches/baseline.sh idle-15k    only those named
#   NODE_BIN=../base/target/release/switchyard benches/baseline.sh rest-5k
#                                   a node of another build, driven by this load generator
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${CARGO_TARGET_DIR:-target}/release/switchyard
OUT=${OUT:-target/loadgen}
WS_PORT=${WS_PORT:-5555}
HTTP_PORT=${HTTP_PORT:-8000}

cargo build --release --quiet
NODE_BIN=$(realpath "${NODE_BIN:-$BIN}")
mkdir -p "$OUT"

node_dir=""
node_pid=""

start_node() {
    node_dir=$(mktemp -d)
    # One account may hold every socket of a run; the load generator spreads source addresses,
    # so the per-IP limit stays as shipped.
    (cd "$node_dir" && exec "$NODE_BIN" serve \
        --ws-listen "127.0.0.1:$WS_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
        --max-connections-per-account 20000 >node.log 2>&1) &
    node_pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "the node did not start; see $node_dir/node.log" >&2
    exit 1
}

stop_node() {
    kill -TERM "$node_pid"
    wait "$node_pid" || true
    rm -rf "$node_dir"
}

# measure NAME LOADGEN-FLAGS…
measure() {
    local name=$1
    shift
    if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " =~ " $name " ]]; then
        return
    fi
    echo "== $name: switchyard loadgen $*"
    start_node
    local status=0
    "$BIN" loadgen --quiet \
        --ws-url "ws://127.0.0.1:$WS_PORT/" --http-url "http://127.0.0.1:$HTTP_PORT" \
        --secret-file "$node_dir/.switchyard/secret" \
        --accounts-file "$node_dir/.switchyard/accounts.json" \
        --node-pid "$node_pid" --output "$OUT/$name.json" "$@" | tee "$OUT/$name.txt" || status=$?
    stop_node
    [ "$status" -eq 0 ] || echo "   (loadgen exit status $status)"
}

selected=("$@")
measure connect-15k --scenario connect -n 15000
measure idle-15k --scenario idle -n 15000 --duration 10s
# As many sockets as the node's own open-file limit lets it hold, from three worker processes.
measure idle-19800-workers --scenario idle -n 19800 --duration 10s --workers 3
# steady: a light load (one event at a time, a fraction of a core), for latency; max: more than
# the node can take, so the publisher (whose POST answers once the fan-out is queued) runs at
# the node's pace, for capacity.
measure fanout-1k-steady -n 1000 --rate 20 --batch 1 --duration 30s
measure fanout-1k-max -n 1000 --rate 5000 --batch 10 --duration 20s
measure fanout-10k-steady -n 10000 --rate 2 --batch 1 --duration 30s
measure fanout-10k-max -n 10000 --rate 500 --batch 10 --duration 20s
# The rows of benches/compare.sh (issue 10's targets), one event per POST throughout:
# subscriptions with 200 handshakes in flight; latency and CPU per delivery at a light pace;
# capacity with --rate far above what the node takes and 8 POSTs in flight at once, each on its
# own connection (--publish-concurrency 8): with one in flight the publisher waits a round trip
# per event and measures itself, not the node (1k subscribers, one noisy run each: 62k
# deliveries/s p99 69 ms with 1, 157k p99 118 ms with 4, 224k p99 135 ms with 8, none lost);
# p99 and losses beside it.
measure subscribe-15k --scenario idle -n 15000 --concurrency 200 --workers 1 --duration 1s
measure fanout-1k-25 -n 1000 --rate 25 --batch 1 --duration 30s
measure fanout-1k-max-batch1 -n 1000 --rate 100000 --batch 1 --publish-concurrency 8 \
    --duration 20s
measure fanout-10k-2.5 -n 10000 --rate 2.5 --batch 1 --duration 30s
measure fanout-10k-max-batch1 -n 10000 --rate 100000 --batch 1 --publish-concurrency 8 \
    --duration 20s
# REST while the node holds 5,000 sockets of one account: what operators' dashboards ask (the
# whole list, a page of 100, one socket), alone, then during a steady fan-out, and that fan-out
# without REST to compare its latency with.
# REST with 5,000 sockets in one account: each kind of query alone, as dashboards poll (for
# latency); all three as fast as four connections get answers (for capacity); ten whole lists a
# second during a fan-out, against the same fan-out alone.
measure rest-5k-list --scenario rest -n 5000 --rest-query list --rest-concurrency 1 \
    --rest-rate 10 --duration 20s
measure rest-5k-page --scenario rest -n 5000 --rest-query page --rest-concurrency 1 \
    --rest-rate 50 --duration 20s
measure rest-5k-socket --scenario rest -n 5000 --rest-query socket --rest-concurrency 1 \
    --rest-rate 50 --duration 20s
measure rest-5k-max --scenario rest -n 5000 --rest-concurrency 4 --duration 20s
measure rest-5k-fanout --scenario rest -n 5000 --rest-query list --rest-concurrency 1 \
    --rest-rate 10 --duration 20s --rate 20 --batch 1
measure fanout-5k-steady -n 5000 --rate 20 --batch 1 --duration 20s
measure churn-1k -n 1000 --scenario churn --hold 1s --duration 60s --rate 20 --settle 10s \
    --sockets-per-address 500
