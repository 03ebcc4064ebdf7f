//! The per-account and per-socket limits of SPEC 7 that the fabric enforces.

use crate::outbox::OutboxLimits;
use crate::rate_limit::RateLimit;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections_per_account: usize,
    pub max_bindings_per_socket: usize,
    /// The longest word (an id, mostly) a binding may hold.
    pub max_binding_id_bytes: usize,
    /// The bytes of binding strings one socket may hold, and one frame may name.
    pub max_binding_bytes_per_socket: usize,
    pub rate: RateLimit,
    pub outbox: OutboxLimits,
    /// Bytes queued over every socket of the node before the biggest holders are shed.
    pub max_queued_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections_per_account: 5000,
            max_bindings_per_socket: 500,
            max_binding_id_bytes: 256,
            max_binding_bytes_per_socket: 30 * 1024,
            rate: RateLimit::default(),
            outbox: OutboxLimits::default(),
            max_queued_bytes: 512 * 1024 * 1024,
        }
    }
}
