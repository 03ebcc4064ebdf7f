//! The bus's own figures (issue 9): is it connected, how often it reconnected, what it consumed
//! and dropped, what it holds on the broker, and how the cross-node queries fare.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use switchyard_actors::metrics::{CounterSet, ReasonLabel, reason_labels, register_each};

use super::messages::DropCause;

#[derive(Debug)]
pub(crate) struct BusMetrics {
    /// 1 while connected to the broker.
    pub connected: Gauge,
    /// Connections re-established after a loss.
    pub reconnects: Counter,
    /// Event messages taken from the broker.
    pub consumed: Counter,
    /// Messages on our queue that no part of the node can use, by [`DropCause`].
    dropped: CounterSet<ReasonLabel>,
    /// Bindings of this node's queue on the event exchanges.
    pub broker_bindings: Gauge,
    /// How long each query of the other nodes took.
    pub remote_queries: Histogram,
    /// Of those, answered without every node known alive.
    pub remote_queries_partial: Counter,
    /// Queries from other nodes (or KAZOO) this node answered.
    pub queries_answered: Counter,
    /// Other nodes heard from recently.
    pub known_nodes: Gauge,
}

impl Default for BusMetrics {
    fn default() -> Self {
        Self {
            connected: Gauge::default(),
            reconnects: Counter::default(),
            consumed: Counter::default(),
            dropped: CounterSet::new(reason_labels(
                DropCause::ALL.iter().map(|cause| cause.word()),
            )),
            broker_bindings: Gauge::default(),
            // 1 ms to 2 s: a query waits at most QUERY_DEADLINE (1.5 s) for the slowest node.
            remote_queries: Histogram::new(exponential_buckets(0.001, 2.0, 12)),
            remote_queries_partial: Counter::default(),
            queries_answered: Counter::default(),
            known_nodes: Gauge::default(),
        }
    }
}

impl BusMetrics {
    pub(crate) fn dropped(&self, cause: DropCause) {
        self.dropped.inc(cause as usize);
    }

    /// Names every figure in `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let gauges = [
            (
                "switchyard_bus_connected",
                "1 while connected to RabbitMQ",
                &self.connected,
            ),
            (
                "switchyard_bus_bindings",
                "Bindings of this node's queue on the event exchanges",
                &self.broker_bindings,
            ),
            (
                "switchyard_bus_known_nodes",
                "Other nodes heard from within the expiry",
                &self.known_nodes,
            ),
        ];
        register_each(registry, &gauges);
        let counters = [
            (
                "switchyard_bus_reconnects",
                "Connections to RabbitMQ re-established after a loss",
                &self.reconnects,
            ),
            (
                "switchyard_bus_messages_consumed",
                "Event messages taken from RabbitMQ",
                &self.consumed,
            ),
            (
                "switchyard_bus_queries_answered",
                "Socket queries from other nodes answered",
                &self.queries_answered,
            ),
            (
                "switchyard_bus_remote_queries_partial",
                "Queries answered without every node known alive",
                &self.remote_queries_partial,
            ),
        ];
        register_each(registry, &counters);
        self.dropped.register(
            registry,
            "switchyard_bus_messages_dropped",
            "Messages from RabbitMQ dropped, by reason",
        );
        registry.register_with_unit(
            "switchyard_bus_remote_query",
            "Time spent asking the other nodes, per query",
            Unit::Seconds,
            self.remote_queries.clone(),
        );
    }
}
