//! The bus's own figures (issue 9): is it connected, how often it reconnected, what it consumed
//! and dropped, what it holds on the broker, and how the cross-node queries fare.

use switchyard_actors::metrics::{Counter, Gauge};

#[derive(Default, Debug)]
pub(crate) struct BusMetrics {
    /// 1 while connected to the broker.
    pub connected: Gauge,
    /// Connections re-established after a loss.
    pub reconnects: Counter,
    /// Event messages taken from the broker.
    pub consumed: Counter,
    /// Event messages dropped: the body is not a JSON object.
    pub dropped_not_json: Counter,
    /// Event messages dropped: no routing key can be made of them (SPEC 5).
    pub dropped_unroutable: Counter,
    /// Bus messages on our queue that no part of the node understands.
    pub dropped_unknown: Counter,
    /// Bindings of this node's queue on the event exchanges.
    pub broker_bindings: Gauge,
    /// Queries this node asked the others.
    pub remote_queries: Counter,
    /// Of those, answered without every node known alive.
    pub remote_queries_partial: Counter,
    /// Time spent waiting for the others, in microseconds, over all queries.
    pub remote_query_micros: Counter,
    /// Queries from other nodes (or KAZOO) this node answered.
    pub queries_answered: Counter,
    /// Other nodes heard from recently.
    pub known_nodes: Gauge,
}
