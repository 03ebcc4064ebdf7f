//! What every session, the supervisor and the event path share.

use std::sync::Arc;

use crate::authority::Authority;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::outbox::Backlog;
use crate::router::Router;

pub struct Fabric {
    pub router: Router,
    pub authority: Arc<dyn Authority>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// The bytes queued over every socket, against `limits.max_queued_bytes`.
    pub backlog: Arc<Backlog>,
    /// This node's name: each socket's `destination`.
    pub node_name: String,
}

impl Fabric {
    pub fn new(authority: Arc<dyn Authority>, limits: Limits, node_name: String) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        Arc::new(Self {
            router: Router::new(authority.clone(), metrics.clone()),
            authority,
            backlog: Arc::new(Backlog::new(limits.max_queued_bytes)),
            limits,
            metrics,
            node_name,
        })
    }
}
