//! The node's counters and gauges. Plain atomics: cheap on the event path, rendered as
//! Prometheus text at the edge.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
pub struct Metrics {
    /// Open websocket sessions.
    pub connections: Gauge,
    /// Sessions that have authenticated.
    pub authenticated_connections: Gauge,
    /// Client bindings held, over all sessions.
    pub bindings: Gauge,
    /// Distinct internal routes in the topic index.
    pub routes: Gauge,
    pub connections_total: Counter,
    pub events_in: Counter,
    /// Accepted events that no client can receive (e.g. call events outside the nine).
    pub events_undeliverable: Counter,
    pub deliveries: Counter,
    pub frames_in: Counter,
    pub errors_replied: Counter,
    pub rate_limited: Counter,
    pub frames_dropped: Counter,
    pub slow_consumer_disconnects: Counter,
    /// Slow consumers cut at the TCP level: a write stalled past the bound, so not even a close
    /// frame could reach them.
    pub slow_consumer_cuts: Counter,
    /// Sockets closed (or, under `drop_oldest`, trimmed) because the node's queued bytes passed
    /// `max_queued_bytes`; the closes are counted in `slow_consumer_disconnects` too.
    pub node_sheds: Counter,
    /// Bindings dropped because the directory no longer allows them.
    pub bindings_revoked: Counter,
    /// Sockets closed (4001) because their account left the directory.
    pub account_removed_closes: Counter,
}
