//! The other nodes this node knows are alive, from their heartbeats: a query waits for these
//! and no others. A node that stops beating is forgotten after [`PEER_EXPIRY`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often a node says it is alive.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// Silent this long: gone. Three heartbeats missed, well within the 10 s the issue allows.
pub(crate) const PEER_EXPIRY: Duration = Duration::from_secs(7);

/// A peer by its queue (`Server-ID`), where its replies come from.
pub(crate) type ServerId = String;

#[derive(Default)]
pub(crate) struct Peers {
    seen: Mutex<HashMap<ServerId, Peer>>,
}

struct Peer {
    node: String,
    last_seen: Instant,
}

impl Peers {
    pub(crate) fn heard(&self, server_id: &str, node: &str, now: Instant) {
        let mut seen = self.seen.lock();
        match seen.get_mut(server_id) {
            Some(peer) => peer.last_seen = now,
            None => {
                tracing::info!(node, server_id, "a node joined");
                seen.insert(
                    server_id.to_string(),
                    Peer {
                        node: node.to_string(),
                        last_seen: now,
                    },
                );
            }
        }
    }

    pub(crate) fn left(&self, server_id: &str) {
        if let Some(peer) = self.seen.lock().remove(server_id) {
            tracing::info!(node = peer.node, server_id, "a node left");
        }
    }

    /// Forgets the silent ones and answers who is left.
    pub(crate) fn alive(&self, now: Instant) -> Vec<ServerId> {
        let mut seen = self.seen.lock();
        seen.retain(|server_id, peer| {
            let alive = now.duration_since(peer.last_seen) < PEER_EXPIRY;
            if !alive {
                tracing::warn!(node = peer.node, server_id, "a node went silent: forgotten");
            }
            alive
        });
        seen.keys().cloned().collect()
    }

    /// Cut off from the bus, a node knows nobody.
    pub(crate) fn forget_all(&self) {
        self.seen.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_peers_are_forgotten_and_goodbyes_are_immediate() {
        let peers = Peers::default();
        let start = Instant::now();
        peers.heard("q1", "n1", start);
        peers.heard("q2", "n2", start);
        peers.heard("q1", "n1", start + Duration::from_secs(5));
        let mut alive = peers.alive(start + Duration::from_secs(8));
        alive.sort();
        assert_eq!(alive, ["q1"]);
        peers.left("q1");
        assert!(peers.alive(start + Duration::from_secs(8)).is_empty());
    }
}
