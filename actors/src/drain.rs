//! A drain: the node's sockets closed a few at a time over a given duration, so that the
//! clients a load balancer sends elsewhere reconnect in a trickle, not a storm.
//!
//! The sockets open when the drain begins are closed in connect order, an equal batch per
//! [`DRAIN_TICK`], the first at once. A batch never grows to catch up: a busy node only
//! stretches the drain, it never closes the rest in one go.

use std::collections::VecDeque;
use std::time::Duration;

/// How often a batch is closed.
pub const DRAIN_TICK: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct DrainPlan<K> {
    left: VecDeque<K>,
    per_tick: usize,
}

impl<K> DrainPlan<K> {
    /// `sockets` in the order they are to close, spread over `over`.
    pub fn new(sockets: impl IntoIterator<Item = K>, over: Duration) -> Self {
        let left: VecDeque<K> = sockets.into_iter().collect();
        let ticks = (over.as_nanos() / DRAIN_TICK.as_nanos()).max(1);
        let ticks = usize::try_from(ticks).unwrap_or(usize::MAX);
        DrainPlan {
            per_tick: left.len().div_ceil(ticks).max(1),
            left,
        }
    }

    /// The sockets to close now.
    pub fn next_batch(&mut self) -> impl Iterator<Item = K> + '_ {
        let n = self.per_tick.min(self.left.len());
        self.left.drain(..n)
    }

    /// Sockets not closed yet.
    pub fn len(&self) -> usize {
        self.left.len()
    }

    pub fn is_empty(&self) -> bool {
        self.left.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(sockets: usize, over: Duration) -> Vec<Vec<usize>> {
        let mut plan = DrainPlan::new(0..sockets, over);
        let mut out = Vec::new();
        while !plan.is_empty() {
            out.push(plan.next_batch().collect());
        }
        out
    }

    #[test]
    fn sockets_close_in_order_in_equal_batches_within_the_duration() {
        let out = batches(1000, Duration::from_secs(10));
        assert_eq!(out.len(), 100, "one batch per tick");
        assert!(out.iter().all(|b| b.len() == 10));
        assert_eq!(out.concat(), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_remainder_makes_the_last_batch_smaller_not_the_drain_longer() {
        let out = batches(1001, Duration::from_secs(10));
        assert!(out.len() <= 100, "{}", out.len());
        assert_eq!(out.concat().len(), 1001);
    }

    #[test]
    fn fewer_sockets_than_ticks_close_one_per_tick() {
        let out = batches(3, Duration::from_secs(10));
        assert_eq!(out, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn a_duration_shorter_than_a_tick_closes_everything_at_once() {
        assert_eq!(batches(5, Duration::ZERO), vec![vec![0, 1, 2, 3, 4]]);
        assert_eq!(batches(5, Duration::from_millis(30)).len(), 1);
    }

    #[test]
    fn nothing_to_drain_is_done_at_once() {
        assert!(DrainPlan::new(0..0, Duration::from_secs(1)).is_empty());
    }
}
