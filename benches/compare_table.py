#!/usr/bin/env python3
"""The medians table of benches/compare.sh, from the NAME.json reports of `switchyard loadgen`.

    compare_table.py OUT RUNS ROW...   reads OUT/{base,new}/{1..RUNS}/ROW.json
"""

import json
import statistics
import sys
from pathlib import Path


def node_cores(report):
    """Cores the node kept busy while delivering: below the machine's, the node was not the limit
    (the publisher's POSTs in flight, --publish-concurrency, may be)."""
    busy, span = figure(report, "cpu.node_publishing_s"), figure(report, "events.delivery_s")
    return busy / span if busy is not None and span else None


# Per row: (figure, path into the report or a function of it, unit, "lower" or "higher" is
# better, or "info").
FIGURES = {
    "idle-15k": [
        ("memory per idle subscribed socket", "memory.per_socket_bytes", "B", "lower"),
    ],
    "subscribe-15k": [
        ("subscribed sockets/s, 200 in flight", "connections.subscribe_rate_per_s", "/s", "higher"),
    ],
    "fanout-1k-25": [
        ("1k subs, 25 ev/s: p99 publish→receipt", "latency_us.p99", "µs", "lower"),
        ("1k subs, 25 ev/s: node CPU per delivery", "cpu.node_us_per_delivery", "µs", "lower"),
    ],
    "fanout-1k-max-batch1": [
        ("1k subs, saturated: deliveries/s", "events.delivery_rate_per_s", "/s", "higher"),
        ("1k subs, saturated: p99 (bound 100 ms)", "latency_us.p99", "µs", "lower"),
        ("1k subs, saturated: node CPU busy", node_cores, "cores", "info"),
    ],
    "fanout-10k-2.5": [
        ("10k subs, 2.5 ev/s: p99 of one fan-out", "latency_us.p99", "µs", "lower"),
    ],
    "fanout-10k-max-batch1": [
        ("10k subs, saturated: deliveries/s", "events.delivery_rate_per_s", "/s", "higher"),
        ("10k subs, saturated: p99 (bound 1 s)", "latency_us.p99", "µs", "lower"),
        ("10k subs, saturated: node CPU busy", node_cores, "cores", "info"),
    ],
}

# The capacity rows count only when every run kept its bound and lost nothing.
BOUNDS_US = {"fanout-1k-max-batch1": 100_000, "fanout-10k-max-batch1": 1_000_000}


def figure(report, path):
    if callable(path):
        return path(report)
    value = report
    for key in path.split("."):
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return float(value)


def reports(out, build, runs, row):
    found = []
    for run in range(1, runs + 1):
        path = Path(out) / build / str(run) / f"{row}.json"
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass  # a failed run: the count column shows it
    return found


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def shown(value, unit):
    if value is None:
        return "–"
    return f"{value:,.2f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def ratio(base, new, better):
    """new/base, and whether that is the better way for this figure."""
    if base is None or new is None or base == 0:
        return "–"
    r = new / base
    if better == "info":
        return f"{r:.2f}"
    gain = r if better == "higher" else 1 / r if r else float("inf")
    return f"{r:.2f} ({gain:.2f}× {'better' if gain >= 1 else 'worse'})"


def bound_note(row, runs_of):
    bound = BOUNDS_US.get(row)
    if bound is None:
        return ""
    kept = [
        sum(1 for r in runs if (figure(r, "latency_us.p99") or 0) <= bound
            and figure(r, "events.lost") == 0)
        for runs in runs_of
    ]
    return f"bound and no loss kept: base {kept[0]}/{len(runs_of[0])}, new {kept[1]}/{len(runs_of[1])}"


def main():
    out, runs, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    print(f"Medians of {runs} run(s) per build, alternating base and new, each on a fresh node.\n")
    print("| row | figure | base | new | new/base | runs |")
    print("|---|---|---|---|---|---|")
    notes = []
    for row in rows:
        runs_of = [reports(out, build, runs, row) for build in ("base", "new")]
        for name, path, unit, better in FIGURES[row]:
            base, new = (median(figure(r, path) for r in found) for found in runs_of)
            print(f"| {row} | {name} | {shown(base, unit)} | {shown(new, unit)} | "
                  f"{ratio(base, new, better)} | {len(runs_of[0])}+{len(runs_of[1])} |")
        note = bound_note(row, runs_of)
        if note:
            notes.append(f"- {row}: {note}")
    if notes:
        print("\nCapacity rows: the publisher sends one event per POST, with 8 POSTs in flight"
              " (--publish-concurrency 8, each answered once its fan-out is queued), so it runs"
              " at the node's pace; where the node's CPU busy is well under the machine's cores,"
              " that pace, not the node's CPU, may be the limit. The figure holds as \"max with"
              " p99 within the bound, no loss\" only where every run kept both:")
        print("\n".join(notes))


if __name__ == "__main__":
    main()
