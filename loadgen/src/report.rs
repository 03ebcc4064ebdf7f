//! The figures of a run: the JSON report (every figure and the exact settings) and the readable
//! summary printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::args::{RestQuery, Scenario};
use super::node_probe::NodeFigures;
use super::plan::Settings;
use super::rest_load::{Queried, QueryStats};
use super::tally::Snapshot;

/// The node's live allocations, in its `/metrics`.
const HEAP_ALLOCATED: &str = "switchyard_heap_allocated_bytes";

/// Share of the memory a churn added that may stay allocated for the node to count as back.
pub(crate) const CHURN_MEMORY_TOLERANCE: f64 = 0.10;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) settings: Settings,
    pub(crate) started_at_unix_s: u64,
    pub(crate) elapsed_s: f64,
    /// True when no connection failed, the node closed no socket, no publish failed and no event
    /// was lost.
    pub(crate) complete: bool,
    pub(crate) problems: Vec<String>,
    pub(crate) connections: Connections,
    pub(crate) events: Option<Events>,
    /// Publish to receipt, in microseconds.
    pub(crate) latency_us: Option<LatencyFigures>,
    pub(crate) memory: Option<Memory>,
    pub(crate) churn: Option<Churn>,
    /// The rest scenario's queries.
    pub(crate) rest: Option<RestFigures>,
    pub(crate) cpu: Cpu,
    /// The clients' own counters, summed over workers.
    pub(crate) clients: Snapshot,
    pub(crate) node: NodeSamples,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Connections {
    pub(crate) attempted: u64,
    pub(crate) connected: u64,
    pub(crate) failed: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    /// From the first connection attempt until every client had connected (and subscribed) or
    /// failed.
    pub(crate) setup_s: f64,
    pub(crate) connect_rate_per_s: f64,
    pub(crate) subscribed: u64,
    pub(crate) subscribe_rate_per_s: f64,
    /// The node's `switchyard_connections` once every client was set up.
    pub(crate) held_by_node: Option<u64>,
    pub(crate) closed_by_node: u64,
    /// With several nodes (--ws-url repeated): each node's share.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) per_node: Vec<NodeConnections>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeConnections {
    pub(crate) ws_url: String,
    /// The run's sockets open on this node once every client was set up.
    pub(crate) open: u64,
    /// The node's `switchyard_connections` at the end of the hold, when its /metrics is read
    /// (--http-url given for every node).
    pub(crate) held_by_node: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Events {
    pub(crate) target_rate_per_s: f64,
    /// Events the node accepted (REST) or the broker confirmed (RabbitMQ).
    pub(crate) published: u64,
    /// RabbitMQ: publishes nacked, failed or not confirmed in time (by reason in `failures`).
    pub(crate) failed: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) batches: u64,
    pub(crate) publish_s: f64,
    pub(crate) publish_rate_per_s: f64,
    /// Event frames the clients received.
    pub(crate) deliveries: u64,
    /// From the first publish until the last expected delivery arrived (or the drain gave up).
    pub(crate) delivery_s: f64,
    pub(crate) delivery_rate_per_s: f64,
    /// Deliveries the subscribers should get: each published event, once per subscriber of its
    /// account (for the binding it was published for).
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    pub(crate) duplicates: u64,
    /// Deliveries for another binding of the socket that also matches the event.
    pub(crate) extra: u64,
    /// Deliveries of events this run did not publish.
    pub(crate) unstamped: u64,
    /// Frames the clients could not read: not JSON, or events without their subscribed_key.
    pub(crate) unreadable: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LatencyFigures {
    pub(crate) count: u64,
    pub(crate) min: u64,
    pub(crate) mean: f64,
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) max: u64,
}

impl LatencyFigures {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Option<LatencyFigures> {
        (!histogram.is_empty()).then(|| LatencyFigures {
            count: histogram.len(),
            min: histogram.min(),
            mean: histogram.mean(),
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Memory {
    pub(crate) node_rss_before_bytes: u64,
    /// While every client was held, at the end of the hold.
    pub(crate) node_rss_held_bytes: u64,
    pub(crate) node_rss_peak_bytes: u64,
    pub(crate) sockets: u64,
    pub(crate) per_socket_bytes: u64,
}

impl Memory {
    pub(crate) fn of(
        before: &NodeFigures,
        held: &NodeFigures,
        peak: u64,
        sockets: u64,
    ) -> Option<Memory> {
        let (before, held) = (before.rss_bytes?, held.rss_bytes?);
        Some(Memory {
            node_rss_before_bytes: before,
            node_rss_held_bytes: held,
            node_rss_peak_bytes: peak.max(held),
            sockets,
            per_socket_bytes: held.saturating_sub(before) / sockets.max(1),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Churn {
    pub(crate) cycles: u64,
    pub(crate) cycles_per_s: f64,
    pub(crate) connections_before: Option<u64>,
    pub(crate) connections_after: Option<u64>,
    pub(crate) sockets_back: bool,
    pub(crate) rss_before_bytes: Option<u64>,
    pub(crate) rss_peak_bytes: Option<u64>,
    pub(crate) rss_after_bytes: Option<u64>,
    /// True when at most [`CHURN_MEMORY_TOLERANCE`] of what the churn added is still held.
    pub(crate) memory_back: Option<bool>,
    /// The node's live allocations before and after (`switchyard_heap_allocated_bytes`, served
    /// by jemalloc builds): back when the resident memory kept is the allocator's, not a leak.
    pub(crate) heap_before_bytes: Option<u64>,
    pub(crate) heap_after_bytes: Option<u64>,
}

impl Churn {
    pub(crate) fn of(
        clients: &Snapshot,
        churn_s: f64,
        before: &NodeFigures,
        after: &NodeFigures,
        peak: Option<u64>,
    ) -> Churn {
        let memory_back = match (before.rss_bytes, peak, after.rss_bytes) {
            (Some(before), Some(peak), Some(after)) => {
                let added = peak.saturating_sub(before) as f64;
                Some(after.saturating_sub(before) as f64 <= added * CHURN_MEMORY_TOLERANCE)
            }
            _ => None,
        };
        Churn {
            cycles: clients.cycles,
            cycles_per_s: rate(clients.cycles, churn_s),
            connections_before: before.connections(),
            connections_after: after.connections(),
            sockets_back: after.connections().is_some()
                && after.connections() == before.connections(),
            rss_before_bytes: before.rss_bytes,
            rss_peak_bytes: peak,
            rss_after_bytes: after.rss_bytes,
            memory_back,
            heap_before_bytes: before.metric(HEAP_ALLOCATED),
            heap_after_bytes: after.metric(HEAP_ALLOCATED),
        }
    }
}

/// The rest scenario's queries, per kind.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RestFigures {
    /// Queries in flight at once, each on its own connection.
    pub(crate) concurrency: usize,
    pub(crate) query_s: f64,
    pub(crate) queries: BTreeMap<RestQuery, QueryFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueryFigures {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// Failed queries by reason: an HTTP status, a transport error or a wrong answer.
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) rate_per_s: f64,
    /// Request to whole answer, in microseconds.
    pub(crate) latency_us: Option<LatencyFigures>,
}

impl RestFigures {
    pub(crate) fn of(queried: &Queried, concurrency: usize) -> RestFigures {
        let query_s = queried.elapsed.as_secs_f64();
        let figures = |stats: &QueryStats| QueryFigures {
            requests: stats.requests,
            failed: stats.failed,
            failures: stats.failures.clone(),
            rate_per_s: rate(stats.requests, query_s),
            latency_us: LatencyFigures::of(&stats.latency),
        };
        RestFigures {
            concurrency,
            query_s,
            queries: queried
                .per_query
                .iter()
                .map(|(kind, stats)| (*kind, figures(stats)))
                .collect(),
        }
    }

    /// What went wrong, one line per kind of query.
    fn problems(&self) -> impl Iterator<Item = String> + '_ {
        self.queries.iter().filter_map(|(kind, q)| {
            if q.requests == 0 {
                return Some(format!("rest {}: no query was made", kind.name()));
            }
            (q.failed > 0).then(|| {
                format!(
                    "rest {}: {} of {} queries failed: {}",
                    kind.name(),
                    q.failed,
                    q.requests,
                    by_reason(&q.failures)
                )
            })
        })
    }

    fn write_summary(&self, out: &mut String) {
        for (kind, q) in &self.queries {
            let label = format!("rest {}", kind.name());
            let _ = write!(
                out,
                "  {label:<12} {} queries in {:.1} s: {:.1}/s, {} failed",
                q.requests, self.query_s, q.rate_per_s, q.failed
            );
            if let Some(l) = &q.latency_us {
                let _ = write!(
                    out,
                    "; p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                    micros(l.p50),
                    micros(l.p90),
                    micros(l.p99),
                    micros(l.p999),
                    micros(l.max)
                );
            }
            out.push('\n');
        }
    }
}

/// Where the machine's CPU went: the node and the load generator share it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cpu {
    /// The node, from before the first client connected until the last one left.
    pub(crate) node_s: Option<f64>,
    /// The node while events were published and delivered (fanout, churn).
    pub(crate) node_publishing_s: Option<f64>,
    /// `node_publishing_s` per delivery, in microseconds: the node's cost of one delivery.
    pub(crate) node_us_per_delivery: Option<f64>,
    /// The load generator and its worker processes, over the whole run.
    pub(crate) loadgen_s: f64,
    /// The load generator over the span of `node_publishing_s`.
    pub(crate) loadgen_publishing_s: Option<f64>,
    /// `loadgen_publishing_s` per delivery, in microseconds: to hold against the node's.
    pub(crate) loadgen_us_per_delivery: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeSamples {
    pub(crate) before: NodeFigures,
    /// Once every client was set up (connect) or at the end of the hold or publishing.
    pub(crate) held: NodeFigures,
    /// Churn: after the clients left and the node settled.
    pub(crate) after: Option<NodeFigures>,
}

pub(crate) fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Report {
    /// Problems found, in the order a reader should look at them; empty for a complete run.
    pub(crate) fn find_problems(&mut self) {
        let mut problems = Vec::new();
        let c = &self.connections;
        if c.failed > 0 {
            problems.push(format!(
                "{} connections failed: {}",
                c.failed,
                by_reason(&c.failures)
            ));
        }
        if c.closed_by_node > 0 {
            problems.push(format!("the node closed {} sockets", c.closed_by_node));
        }
        if let Some(events) = &self.events {
            if events.failed > 0 {
                problems.push(format!(
                    "{} publishes failed: {}",
                    events.failed,
                    by_reason(&events.failures)
                ));
            }
            if events.lost > 0 {
                problems.push(format!(
                    "{} of {} deliveries lost",
                    events.lost, events.expected
                ));
            }
            if events.unreadable > 0 {
                problems.push(format!("{} frames unreadable", events.unreadable));
            }
            if events.duplicates > 0 {
                problems.push(format!(
                    "{} deliveries duplicated or reordered",
                    events.duplicates
                ));
            }
        }
        if let Some(churn) = &self.churn
            && !churn.sockets_back
        {
            problems.push(format!(
                "the node's socket count did not come back: {:?} before, {:?} after",
                churn.connections_before, churn.connections_after
            ));
        }
        if let Some(rest) = &self.rest {
            problems.extend(rest.problems());
        }
        self.complete = problems.is_empty();
        self.problems = problems;
    }

    pub(crate) fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("plain data serialises");
        text.push('\n');
        std::fs::write(path, text)
    }

    pub(crate) fn summary(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let scenario = serde_json::to_value(s.scenario).expect("an enum serialises");
        let _ = writeln!(
            out,
            "switchyard loadgen {}: {} sockets, {} account(s), bindings {}; clients in {}, \
             from {} source address(es)",
            scenario.as_str().unwrap_or_default(),
            s.sockets,
            s.accounts,
            s.bindings.join(" "),
            if s.workers > 1 {
                format!("{} worker processes", s.workers)
            } else {
                "this process".to_string()
            },
            s.source_addresses.max(1),
        );
        if s.ws_urls.len() > 1 {
            let probed = if s.http_urls.len() == s.ws_urls.len() {
                "figures summed over every node".to_string()
            } else {
                format!("figures of the first node only ({})", s.http_urls[0])
            };
            let _ = writeln!(out, "  nodes        {}; {probed}", s.ws_urls.join(" "));
        }
        let c = &self.connections;
        let _ = write!(
            out,
            "  connections  {} connected, {} failed in {:.2} s: {:.0}/s",
            c.connected, c.failed, c.setup_s, c.connect_rate_per_s
        );
        if s.scenario != Scenario::Connect {
            let _ = write!(
                out,
                "; {} subscribed: {:.0}/s",
                c.subscribed, c.subscribe_rate_per_s
            );
        }
        if let Some(held) = c.held_by_node {
            let _ = write!(out, "; node held {held}");
        }
        if !c.per_node.is_empty() {
            let shares: Vec<String> = c
                .per_node
                .iter()
                .map(|n| match n.held_by_node {
                    Some(held) => format!("{} (node held {held})", n.open),
                    None => n.open.to_string(),
                })
                .collect();
            let _ = write!(out, "; per node {}", shares.join(" + "));
        }
        out.push('\n');
        if let Some(e) = &self.events {
            let via = if s.publish_via == "rest" {
                "POST /v2/events".to_string()
            } else {
                format!("RabbitMQ {}", s.publish_via)
            };
            let _ = write!(
                out,
                "  published    {} events in {} batches over {:.1} s: {:.1}/s (asked {}/s), via {via}",
                e.published, e.batches, e.publish_s, e.publish_rate_per_s, e.target_rate_per_s
            );
            if e.failed > 0 {
                let _ = write!(out, "; {} failed", e.failed);
            }
            out.push('\n');
            let _ = write!(
                out,
                "  delivered    {} frames in {:.1} s: {:.0}/s",
                e.deliveries, e.delivery_s, e.delivery_rate_per_s,
            );
            if s.scenario != Scenario::Churn {
                let _ = write!(
                    out,
                    "; expected {}, received {}, lost {}, duplicated {}, also via another \
                     binding {}",
                    e.expected, e.received, e.lost, e.duplicates, e.extra
                );
            }
            out.push('\n');
        }
        if let Some(l) = &self.latency_us {
            let _ = writeln!(
                out,
                "  latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (publish to receipt, {} \
                 samples)",
                micros(l.p50),
                micros(l.p90),
                micros(l.p99),
                micros(l.p999),
                micros(l.max),
                l.count
            );
        }
        if let Some(rest) = &self.rest {
            rest.write_summary(&mut out);
        }
        if let Some(m) = &self.memory {
            let _ = writeln!(
                out,
                "  memory       node {} before, {} holding {} sockets: {} per socket",
                bytes(m.node_rss_before_bytes),
                bytes(m.node_rss_held_bytes),
                m.sockets,
                bytes(m.per_socket_bytes)
            );
        }
        if let Some(ch) = &self.churn {
            let opt = |v: Option<u64>| v.map_or("?".to_string(), bytes);
            let _ = writeln!(
                out,
                "  churn        {} cycles ({:.0}/s); node sockets {:?} → {:?} ({}); memory {} → \
                 peak {} → {} ({})",
                ch.cycles,
                ch.cycles_per_s,
                ch.connections_before.unwrap_or_default(),
                ch.connections_after.unwrap_or_default(),
                if ch.sockets_back { "back" } else { "NOT back" },
                opt(ch.rss_before_bytes),
                opt(ch.rss_peak_bytes),
                opt(ch.rss_after_bytes),
                match ch.memory_back {
                    Some(true) => "back",
                    Some(false) => "NOT back",
                    None => "unknown",
                }
            );
            if let (Some(before), Some(after)) = (ch.heap_before_bytes, ch.heap_after_bytes) {
                let _ = writeln!(
                    out,
                    "               heap allocated {} → {}",
                    bytes(before),
                    bytes(after)
                );
            }
        }
        let cpu = &self.cpu;
        let _ = write!(out, "  cpu          load generator {:.1} s", cpu.loadgen_s);
        if let (Some(publishing), Some(per)) =
            (cpu.loadgen_publishing_s, cpu.loadgen_us_per_delivery)
        {
            let _ = write!(
                out,
                " ({publishing:.1} s while publishing: {per:.2} µs per delivery)"
            );
        }
        if let Some(node) = cpu.node_s {
            let _ = write!(out, ", node {node:.1} s");
        }
        if let (Some(publishing), Some(per)) = (cpu.node_publishing_s, cpu.node_us_per_delivery) {
            let _ = write!(
                out,
                " ({publishing:.1} s while publishing: {per:.2} µs per delivery)"
            );
        }
        out.push('\n');
        if self.problems.is_empty() {
            let _ = writeln!(out, "  outcome      complete: nothing failed, nothing lost");
        } else {
            for problem in &self.problems {
                let _ = writeln!(out, "  PROBLEM      {problem}");
            }
        }
        out
    }
}

/// `3 × reason, 1 × other reason`
fn by_reason(failures: &BTreeMap<String, u64>) -> String {
    let reasons: Vec<String> = failures
        .iter()
        .map(|(reason, count)| format!("{count} × {reason}"))
        .collect();
    reasons.join(", ")
}

fn micros(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

fn bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(rss: u64, connections: f64) -> NodeFigures {
        NodeFigures {
            rss_bytes: Some(rss),
            cpu_seconds: None,
            metrics: [("switchyard_connections".to_string(), connections)].into(),
            nodes: Vec::new(),
        }
    }

    #[test]
    fn churn_is_back_when_sockets_match_and_most_memory_returned() {
        let clients = Snapshot {
            cycles: 50,
            ..Snapshot::default()
        };
        let back = Churn::of(
            &clients,
            10.0,
            &figures(100, 0.0),
            &figures(105, 0.0),
            Some(200),
        );
        assert!(back.sockets_back);
        assert_eq!(back.memory_back, Some(true));
        assert_eq!(back.cycles_per_s, 5.0);
        let kept = Churn::of(
            &clients,
            10.0,
            &figures(100, 0.0),
            &figures(150, 3.0),
            Some(200),
        );
        assert!(!kept.sockets_back);
        assert_eq!(kept.memory_back, Some(false));
    }

    #[test]
    fn memory_per_socket_needs_both_readings() {
        let none = NodeFigures::default();
        assert!(Memory::of(&none, &figures(1, 0.0), 0, 1).is_none());
        let m = Memory::of(&figures(1000, 0.0), &figures(21_000, 0.0), 0, 10).unwrap();
        assert_eq!(m.per_socket_bytes, 2000);
        assert_eq!(m.node_rss_peak_bytes, 21_000);
    }

    #[test]
    fn units() {
        assert_eq!(micros(950), "950 µs");
        assert_eq!(micros(1_500), "1.50 ms");
        assert_eq!(micros(2_500_000), "2.50 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(17 * 1024), "17.0 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
