//! What the clients of one worker count while they run ([`Tally`], shared by its tasks), and
//! the plain figures a worker reports ([`Snapshot`], [`Latencies`]), which add up across workers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Latencies are kept in microseconds from 1 µs to 10 minutes, to 3 significant figures.
pub(crate) const LATENCY_MAX_US: u64 = 600_000_000;

/// Live counters of one worker's clients.
pub(crate) struct Tally {
    pub(crate) attempted: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) subscribed: AtomicU64,
    pub(crate) open: AtomicU64,
    /// Sockets open now on each node (index into the run's --ws-url).
    pub(crate) open_per_node: Vec<AtomicU64>,
    pub(crate) closed_by_node: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) extra: AtomicU64,
    pub(crate) unstamped: AtomicU64,
    pub(crate) unreadable: AtomicU64,
    pub(crate) cycles: AtomicU64,
    /// Subscribed sockets per account (index into the run's accounts): what each should receive.
    pub(crate) subscribed_per_account: Vec<AtomicU64>,
    failures: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<Histogram<u64>>,
}

impl Tally {
    pub(crate) fn new(accounts: usize, nodes: usize) -> Tally {
        Tally {
            attempted: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            open: AtomicU64::new(0),
            open_per_node: (0..nodes).map(|_| AtomicU64::new(0)).collect(),
            closed_by_node: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            received: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            extra: AtomicU64::new(0),
            unstamped: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            subscribed_per_account: (0..accounts).map(|_| AtomicU64::new(0)).collect(),
            failures: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(new_histogram()),
        }
    }

    /// A client that could not connect or subscribe, counted under its reason.
    pub(crate) fn fail(&self, reason: String) {
        self.failed.fetch_add(1, Relaxed);
        *self.failures.lock().entry(reason).or_default() += 1;
    }

    pub(crate) fn record_latency(&self, micros: u64) {
        self.latency
            .lock()
            .saturating_record(micros.clamp(1, LATENCY_MAX_US));
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            attempted: self.attempted.load(Relaxed),
            connected: self.connected.load(Relaxed),
            failed: self.failed.load(Relaxed),
            failures: self.failures.lock().clone(),
            subscribed: self.subscribed.load(Relaxed),
            open: self.open.load(Relaxed),
            open_per_node: self.open_per_node.iter().map(|n| n.load(Relaxed)).collect(),
            closed_by_node: self.closed_by_node.load(Relaxed),
            deliveries: self.deliveries.load(Relaxed),
            received: self.received.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            extra: self.extra.load(Relaxed),
            unstamped: self.unstamped.load(Relaxed),
            unreadable: self.unreadable.load(Relaxed),
            cycles: self.cycles.load(Relaxed),
        }
    }

    pub(crate) fn latencies(&self) -> Latencies {
        Latencies::of(&self.latency.lock())
    }

    /// Subscribed sockets per account, now.
    pub(crate) fn subscribed_per_account(&self) -> Vec<u64> {
        self.subscribed_per_account
            .iter()
            .map(|sockets| sockets.load(Relaxed))
            .collect()
    }

    /// How many stamped deliveries this worker's subscribers should get, given how many events
    /// were published for each account.
    pub(crate) fn expected(&self, published_per_account: &[u64]) -> u64 {
        self.subscribed_per_account
            .iter()
            .zip(published_per_account)
            .map(|(sockets, events)| sockets.load(Relaxed) * events)
            .sum()
    }
}

/// Which of one socket's stamped events were seen already. Events reach a socket in stamp order
/// when one publish is in flight at a time: then any event not newer than the last is counted
/// as a duplicate (`window` 1). With several publishes in flight (--publish-concurrency), an
/// event may overtake an earlier one on its way through the node: the last `window` sequence
/// numbers seen are kept, so that an earlier event arriving late still counts as received, once.
/// One older than every kept number cannot be told from a duplicate, and counts as one.
#[derive(Debug, Default)]
pub(crate) struct SeqWindow {
    window: usize,
    /// The newest `window` (at least one) sequence numbers seen, ascending.
    recent: VecDeque<u64>,
}

impl SeqWindow {
    pub(crate) fn new(window: usize) -> SeqWindow {
        SeqWindow {
            window: window.max(1),
            ..SeqWindow::default()
        }
    }

    /// True when `seq` is seen for the first time (received), false for a duplicate.
    pub(crate) fn first_time(&mut self, seq: u64) -> bool {
        let full = self.recent.len() >= self.window;
        if full && self.recent.front().is_some_and(|&oldest| seq < oldest) {
            return false;
        }
        // In order: the common case, kept cheap.
        let at = match self.recent.back() {
            None => 0,
            Some(&newest) if seq > newest => self.recent.len(),
            Some(_) => match self.recent.binary_search(&seq) {
                Ok(_) => return false,
                Err(at) => at,
            },
        };
        self.recent.insert(at, seq);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
        true
    }
}

/// How many of its last sequence numbers each socket keeps ([`SeqWindow`]): none beyond the
/// last with one publish in flight (any event out of order then counts as a duplicate, as it
/// always did); else room for four times what can be in flight, 64 to 1024.
pub(crate) fn reorder_window(publish_concurrency: usize, batch: u32) -> usize {
    if publish_concurrency <= 1 {
        1
    } else {
        (publish_concurrency
            .saturating_mul(batch as usize)
            .saturating_mul(4))
        .clamp(64, 1024)
    }
}

/// An empty latency histogram of the run's bounds.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("constant bounds are valid")
}

/// One worker's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// Connections tried (churn: every cycle's).
    pub(crate) attempted: u64,
    /// Websocket handshakes completed.
    pub(crate) connected: u64,
    /// Connections or subscriptions that failed, by reason in `failures`.
    pub(crate) failed: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    /// Subscriptions the node confirmed.
    pub(crate) subscribed: u64,
    /// Sockets open now.
    pub(crate) open: u64,
    /// Sockets open now on each node (index into the run's --ws-url).
    #[serde(default)]
    pub(crate) open_per_node: Vec<u64>,
    /// Sockets the node closed while the run still held them.
    pub(crate) closed_by_node: u64,
    /// Event frames received.
    pub(crate) deliveries: u64,
    /// Events received for the binding they were published for, each once, in order.
    pub(crate) received: u64,
    /// Events received again for the same binding, or out of publish order (beyond what
    /// --publish-concurrency can reorder: [`SeqWindow`]).
    pub(crate) duplicates: u64,
    /// Events received for another binding of the socket that also matches them.
    pub(crate) extra: u64,
    /// Events without this run's stamp (published by someone else).
    pub(crate) unstamped: u64,
    /// Frames that were not JSON, or events without their subscribed_key.
    #[serde(default)]
    pub(crate) unreadable: u64,
    /// Churn: connect-subscribe-hold-leave cycles completed.
    pub(crate) cycles: u64,
}

impl Snapshot {
    pub(crate) fn add(&mut self, other: &Snapshot) {
        self.attempted += other.attempted;
        self.connected += other.connected;
        self.failed += other.failed;
        for (reason, count) in &other.failures {
            *self.failures.entry(reason.clone()).or_default() += count;
        }
        self.subscribed += other.subscribed;
        self.open += other.open;
        let nodes = self.open_per_node.len().max(other.open_per_node.len());
        self.open_per_node.resize(nodes, 0);
        for (sum, open) in self.open_per_node.iter_mut().zip(&other.open_per_node) {
            *sum += open;
        }
        self.closed_by_node += other.closed_by_node;
        self.deliveries += other.deliveries;
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.extra += other.extra;
        self.unstamped += other.unstamped;
        self.unreadable += other.unreadable;
        self.cycles += other.cycles;
    }
}

/// A latency histogram as (value in µs, count) pairs: what crosses a process boundary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Latencies(Vec<(u64, u64)>);

impl Latencies {
    fn of(histogram: &Histogram<u64>) -> Latencies {
        Latencies(
            histogram
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// All workers' latencies in one histogram.
    pub(crate) fn merge(all: impl IntoIterator<Item = Latencies>) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for Latencies(pairs) in all {
            for (value, count) in pairs {
                histogram.saturating_record_n(value, count);
            }
        }
        histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_flight_counts_anything_out_of_order_as_a_duplicate() {
        let mut seen = SeqWindow::new(reorder_window(1, 10));
        let firsts: Vec<bool> = [0, 2, 2, 1, 5, 3, 6]
            .into_iter()
            .map(|seq| seen.first_time(seq))
            .collect();
        assert_eq!(firsts, [true, true, false, false, true, false, true]);
    }

    #[test]
    fn several_in_flight_tolerate_reordering_within_the_window() {
        let mut seen = SeqWindow::new(4);
        let firsts: Vec<bool> = [1, 3, 2, 3, 0, 5, 4, 4, 9, 7, 8, 6, 5, 2]
            .into_iter()
            .map(|seq| seen.first_time(seq))
            .collect();
        // 5 was seen; 2 is older than the four newest kept (6, 7, 8, 9) and cannot be told from
        // a duplicate.
        let expected = [
            true, true, true, false, true, true, true, false, true, true, true, true, false, false,
        ];
        assert_eq!(firsts, expected);
        assert_eq!(seen.recent, [6, 7, 8, 9]);
    }

    #[test]
    fn the_window_grows_with_what_can_be_in_flight() {
        assert_eq!(reorder_window(1, 1000), 1);
        assert_eq!(reorder_window(0, 1), 1);
        assert_eq!(reorder_window(8, 1), 64);
        assert_eq!(reorder_window(8, 10), 320);
        assert_eq!(reorder_window(64, 1000), 1024);
    }

    #[test]
    fn snapshots_add_up() {
        let tally = Tally::new(2, 1);
        tally.attempted.fetch_add(3, Relaxed);
        tally.fail("refused".into());
        tally.fail("refused".into());
        tally.open_per_node[0].fetch_add(2, Relaxed);
        let mut total = Snapshot::default();
        total.add(&tally.snapshot());
        total.add(&tally.snapshot());
        assert_eq!(total.open_per_node, [4]);
        assert_eq!(total.attempted, 6);
        assert_eq!(total.failed, 4);
        assert_eq!(total.failures["refused"], 4);
    }

    #[test]
    fn expected_is_sockets_times_events_per_account() {
        let tally = Tally::new(2, 1);
        tally.subscribed_per_account[0].store(3, Relaxed);
        tally.subscribed_per_account[1].store(2, Relaxed);
        assert_eq!(tally.expected(&[10, 7]), 44);
    }

    #[test]
    fn latencies_survive_the_trip_and_merge() {
        let a = Tally::new(1, 1);
        let b = Tally::new(1, 1);
        for us in [100, 200, 300] {
            a.record_latency(us);
        }
        b.record_latency(0);
        b.record_latency(u64::MAX);
        let wire = serde_json::to_string(&a.latencies()).unwrap();
        let back: Latencies = serde_json::from_str(&wire).unwrap();
        let merged = Latencies::merge([back, b.latencies()]);
        assert_eq!(merged.len(), 5);
        assert_eq!(merged.min(), 1);
        assert!(merged.max() >= LATENCY_MAX_US);
        assert_eq!(merged.value_at_quantile(0.5), 200);
    }
}
