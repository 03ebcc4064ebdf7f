#!/usr/bin/env bash
# The attacks of docs/SECURITY.md against a fresh release node, each with a publish and a
# /healthz timed beside it; the node's RSS and open descriptors from /proc.
#
#   benches/attacks.sh bodies|upgrades|lists
#   NODE_BIN=../base/target/release/switchyard benches/attacks.sh lists   (another build's node)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/switchyard
NODE_BIN=$(realpath "${NODE_BIN:-$BIN}")
NAME=${1:?bodies, upgrades or lists}
dir=$(mktemp -d)
cd "$dir"
"$NODE_BIN" serve --ws-listen 127.0.0.1:45555 --http-listen 127.0.0.1:48000 \
    --max-connections-per-account 20000 >node.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -fs http://127.0.0.1:48000/healthz >/dev/null 2>&1 && break; sleep 0.1; done
master=$(python3 -c 'import json; print(json.load(open(".switchyard/accounts.json"))["accounts"][0]["id"])')
parent=0123456789abcdef0123456789abcdef
if [ "$NAME" = lists ]; then
    # 5,000 sockets of one account to list, held for the length of the attack.
    "$BIN" loadgen --quiet --scenario idle -n 5000 --duration 40s \
        --ws-url ws://127.0.0.1:45555/ --http-url http://127.0.0.1:48000 \
        --account-id "$parent" --output "$dir/idle.json" >/dev/null 2>&1 &
    sleep 8
fi
python3 "$OLDPWD/benches/attacks.py" 45555 48000 "$pid" \
    "$("$BIN" token --account "$master")" "$("$BIN" token --account "$parent")" "$parent" "$NAME"
