#!/usr/bin/env bash
# Issue 10's target rows against two builds: each row is a measurement of benches/baseline.sh,
# run RUNS times per build, alternating base and new, each on a fresh node, always driven by
# this tree's load generator. Prints the medians side by side with new/base, and writes them to
# $OUT/compare.md (each run's NAME.json and NAME.txt under $OUT/base/N and $OUT/new/N).
#
#   git worktree add ../base 267012d && (cd ../base && cargo build --release)
#   BASE_BIN=../base/target/release/switchyard benches/compare.sh          every row (~17 min)
#   RUNS=1 BASE_BIN=… benches/compare.sh fanout-1k-25 idle-15k             only those rows
#
# NEW_BIN defaults to this tree's build; OUT to target/compare; WS_PORT and HTTP_PORT go to
# baseline.sh. The routing-key match row is criterion's: benches/routing.rs in each tree,
#   cargo bench --bench routing -- topic_match
# (copy this tree's benches/routing.rs into the base tree first: the API it uses is the same).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-target}
NEW_BIN=$(realpath "${NEW_BIN:-$TARGET/release/switchyard}")
BASE_BIN=$(realpath "${BASE_BIN:?the switchyard binary of the baseline build}")
RUNS=${RUNS:-3}
OUT=$(realpath -m "${OUT:-$TARGET/compare}")

# Every row, and roughly how long one run of it takes on a fresh node (seconds).
declare -A SECONDS_PER_RUN=(
    [idle-15k]=30
    [subscribe-15k]=20
    [fanout-1k-25]=35
    [fanout-1k-max-batch1]=25
    [fanout-10k-2.5]=40
    [fanout-10k-max-batch1]=30
)
ALL_ROWS=(idle-15k subscribe-15k fanout-1k-25 fanout-1k-max-batch1 fanout-10k-2.5
    fanout-10k-max-batch1)

rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=("${ALL_ROWS[@]}")
estimate=0
for row in "${rows[@]}"; do
    [ -n "${SECONDS_PER_RUN[$row]:-}" ] || {
        echo "no row $row; rows: ${ALL_ROWS[*]}" >&2
        exit 2
    }
    estimate=$((estimate + SECONDS_PER_RUN[$row] * RUNS * 2))
done
echo "base $BASE_BIN"
echo "new  $NEW_BIN"
echo "${#rows[@]} row(s) × $RUNS run(s) × 2 builds: about $(((estimate + 59) / 60)) minutes"

cargo build --release --quiet
for row in "${rows[@]}"; do
    for run in $(seq "$RUNS"); do
        for build in base new; do
            bin=$BASE_BIN
            [ "$build" = new ] && bin=$NEW_BIN
            echo "== $row, $build, run $run of $RUNS"
            NODE_BIN=$bin OUT=$OUT/$build/$run benches/baseline.sh "$row" >/dev/null ||
                echo "   (baseline.sh failed: see $OUT/$build/$run/$row.txt)"
        done
    done
done

python3 benches/compare_table.py "$OUT" "$RUNS" "${rows[@]}" | tee "$OUT/compare.md"
