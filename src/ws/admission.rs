//! Who may hold a websocket, counted from `accept`: at most `max_connections` sockets in all (so
//! the node keeps file descriptors for REST), `max_connections_per_ip` per client address, and
//! `max_handshakes` handshakes under way. A handshake still under way never locks anyone out:
//! when a bound is reached, the oldest unfinished handshake (of that address, or of all) gives
//! way to the newcomer, so a slowloris only ever evicts itself.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use switchyard_actors::metrics::Refusal;

/// The bounds of [`Admissions`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdmissionLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    pub(crate) max_handshakes: usize,
}

/// Why a connection was refused, at once or when a newcomer evicted its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address holds `max_connections_per_ip` sockets: 429.
    TooManyFromAddress,
    /// The node holds `max_connections` sockets, or `max_handshakes` handshakes: 503.
    Full,
}

impl Refused {
    /// Why, in the words of `switchyard_connections_refused_total`.
    pub(crate) fn reason(self) -> Refusal {
        match self {
            Refused::TooManyFromAddress => Refusal::PerAddressLimit,
            Refused::Full => Refusal::NodeFull,
        }
    }
}

#[derive(Default)]
struct PerAddress {
    open: usize,
    /// Handshakes under way, oldest first, each with the way to tell it it was evicted.
    pending: BTreeMap<u64, oneshot::Sender<Refused>>,
}

#[derive(Default)]
struct Counts {
    per_address: HashMap<IpAddr, PerAddress>,
    /// Every handshake under way, oldest first.
    pending: BTreeMap<u64, IpAddr>,
    open: usize,
    next: u64,
}

impl Counts {
    fn held(&self) -> usize {
        self.open + self.pending.len()
    }

    /// Ends the handshake `ticket`, telling it why; false when there was none.
    fn evict(&mut self, ticket: u64, why: Refused) -> bool {
        let Some(ip) = self.pending.remove(&ticket) else {
            return false;
        };
        let evicted = self
            .per_address
            .get_mut(&ip)
            .and_then(|address| address.pending.remove(&ticket));
        if let Some(evicted) = evicted {
            let _ = evicted.send(why);
        }
        self.forget_if_idle(ip);
        true
    }

    fn evict_oldest(&mut self) -> bool {
        let oldest = self.pending.keys().next().copied();
        oldest.is_some_and(|ticket| self.evict(ticket, Refused::Full))
    }

    fn evict_oldest_of(&mut self, ip: IpAddr) -> bool {
        let oldest = self
            .per_address
            .get(&ip)
            .and_then(|address| address.pending.keys().next().copied());
        oldest.is_some_and(|ticket| self.evict(ticket, Refused::TooManyFromAddress))
    }

    fn forget_if_idle(&mut self, ip: IpAddr) {
        if self
            .per_address
            .get(&ip)
            .is_some_and(|address| address.open == 0 && address.pending.is_empty())
        {
            self.per_address.remove(&ip);
        }
    }
}

/// The node's count of sockets and handshakes.
pub(crate) struct Admissions {
    limits: AdmissionLimits,
    counts: Mutex<Counts>,
}

/// One admitted connection's place: a handshake until [`Admission::open`], then a socket.
/// Dropped, it gives its place back.
pub(crate) struct Admission {
    admissions: Arc<Admissions>,
    ip: IpAddr,
    ticket: u64,
    open: bool,
    /// Says why, when a newcomer evicts this handshake.
    evicted: Option<oneshot::Receiver<Refused>>,
}

impl Admissions {
    pub(crate) fn new(limits: AdmissionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A place for a connection from `ip` that was just accepted.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refused> {
        let limits = self.limits;
        let mut counts = self.counts.lock();
        if counts.held() >= limits.max_connections && !counts.evict_oldest() {
            return Err(Refused::Full);
        }
        if counts.pending.len() >= limits.max_handshakes {
            counts.evict_oldest();
        }
        let address = counts.per_address.entry(ip).or_default();
        let held_by_address = address.open + address.pending.len();
        if held_by_address >= limits.max_connections_per_ip && !counts.evict_oldest_of(ip) {
            counts.forget_if_idle(ip);
            return Err(Refused::TooManyFromAddress);
        }
        let ticket = counts.next;
        counts.next += 1;
        let (tell, evicted) = oneshot::channel();
        counts.pending.insert(ticket, ip);
        counts
            .per_address
            .entry(ip)
            .or_default()
            .pending
            .insert(ticket, tell);
        Ok(Admission {
            admissions: self.clone(),
            ip,
            ticket,
            open: false,
            evicted: Some(evicted),
        })
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let counts = self.counts.lock();
        (counts.open, counts.pending.len())
    }
}

impl Admission {
    /// Resolves when a newcomer evicts this handshake, with the refusal to answer it; never
    /// once the socket is open.
    pub(crate) async fn evicted(&mut self) -> Refused {
        match self.evicted.as_mut() {
            Some(evicted) => evicted.await.unwrap_or(Refused::Full),
            None => std::future::pending().await,
        }
    }

    /// The handshake is done: the place becomes an open socket's. False when the handshake
    /// was evicted meanwhile (the connection must then be dropped).
    pub(crate) fn open(&mut self) -> bool {
        let mut counts = self.admissions.counts.lock();
        if counts.pending.remove(&self.ticket).is_none() {
            return false;
        }
        let address = counts.per_address.entry(self.ip).or_default();
        address.pending.remove(&self.ticket);
        address.open += 1;
        counts.open += 1;
        self.open = true;
        self.evicted = None;
        true
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self.admissions.counts.lock();
        if self.open {
            counts.open -= 1;
            if let Some(address) = counts.per_address.get_mut(&self.ip) {
                address.open -= 1;
            }
            counts.forget_if_idle(self.ip);
        } else {
            counts.evict(self.ticket, Refused::Full);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admissions(max_connections: usize, per_ip: usize, handshakes: usize) -> Arc<Admissions> {
        Admissions::new(AdmissionLimits {
            max_connections,
            max_connections_per_ip: per_ip,
            max_handshakes: handshakes,
        })
    }

    /// Whether `admission` was told it is evicted, without waiting.
    fn evicted(admission: &mut Admission) -> Option<Refused> {
        admission.evicted.as_mut()?.try_recv().ok()
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn open_sockets_of_an_address_are_bounded_and_given_back() {
        let admissions = admissions(100, 2, 100);
        let mut first = admissions.admit(A).unwrap();
        let mut second = admissions.admit(A).unwrap();
        assert!(first.open() && second.open());
        assert_eq!(admissions.admit(A).err(), Some(Refused::TooManyFromAddress));
        assert!(
            admissions.admit(B).is_ok(),
            "another address is not affected"
        );
        drop(first);
        assert!(admissions.admit(A).is_ok());
        drop(second);
        assert_eq!(admissions.held(), (0, 0));
        assert!(admissions.counts.lock().per_address.is_empty());
    }

    #[test]
    fn a_stalled_handshake_gives_way_to_a_newcomer_of_its_address() {
        let admissions = admissions(100, 3, 100);
        let mut stalled: Vec<_> = (0..3).map(|_| admissions.admit(A).unwrap()).collect();
        let mut newcomer = admissions.admit(A).expect("the oldest handshake gives way");
        assert_eq!(evicted(&mut stalled[0]), Some(Refused::TooManyFromAddress));
        assert_eq!(evicted(&mut stalled[1]), None);
        assert!(newcomer.open());
        assert_eq!(admissions.held(), (1, 2));
        drop(stalled);
        assert_eq!(admissions.held(), (1, 0));
    }

    #[test]
    fn an_evicted_handshake_cannot_open() {
        let admissions = admissions(100, 1, 100);
        let mut stalled = admissions.admit(A).unwrap();
        let _newcomer = admissions.admit(A).unwrap();
        assert!(!stalled.open());
        drop(stalled);
        assert_eq!(admissions.held(), (0, 1));
    }

    #[test]
    fn the_node_bounds_sockets_and_handshakes_in_all() {
        let admissions = admissions(2, 10, 100);
        let mut a = admissions.admit(A).unwrap();
        let mut b = admissions.admit(B).unwrap();
        assert!(a.open() && b.open());
        assert_eq!(admissions.admit(A).err(), Some(Refused::Full));

        let admissions = self::admissions(100, 100, 2);
        let mut first = admissions.admit(A).unwrap();
        let _second = admissions.admit(B).unwrap();
        let _third = admissions.admit(B).unwrap();
        assert_eq!(
            evicted(&mut first),
            Some(Refused::Full),
            "the oldest of all gives way"
        );
        assert_eq!(admissions.held(), (0, 2));
    }
}
