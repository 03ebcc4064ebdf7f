//! A socket's bounded outbound queue (SPEC 7). Replies and events are pushed here by the session
//! and the router without awaiting; the socket's writer drains it a batch at a time.
//!
//! A socket is a slow consumer when its oldest unsent frame has waited `max_lag`, or when it
//! holds more than `max_bytes`; then the configured policy applies. Nothing bounds the number of
//! frames: a client that keeps reading drains any burst that fits in those two bounds. Every byte
//! queued is also counted in the node's [`Backlog`], against `max_queued_bytes`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::frame::TextFrame;
use crate::metrics::Metrics;

/// What to do with a slow consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Close the socket with 1008 "slow consumer" (the default).
    Disconnect,
    /// Drop the frames older than `max_lag`, and the oldest ones beyond the byte bounds.
    DropOldest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxLimits {
    /// How long the oldest unsent frame may wait.
    pub max_lag: Duration,
    /// Bytes one socket may hold.
    pub max_bytes: usize,
    pub policy: SlowConsumerPolicy,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(5),
            max_bytes: 64 * 1024 * 1024,
            policy: SlowConsumerPolicy::Disconnect,
        }
    }
}

/// The bytes queued over every outbox of the node, against `max_queued_bytes` (SPEC 7). Each
/// outbox changes it in the same critical section as its own count, so it is always the sum of
/// theirs and never goes below 0. A push that takes it over the limit wakes whoever waits in
/// [`Backlog::overflowed`] (the supervisor, which then closes the biggest holders): once per
/// crossing, not once per push.
#[derive(Debug)]
pub struct Backlog {
    bytes: AtomicUsize,
    limit: usize,
    over: Notify,
}

impl Backlog {
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(0),
            limit,
            over: Notify::new(),
        }
    }

    /// Bytes queued now, over every socket.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How far over the limit the node is; 0 when it is not.
    pub fn excess(&self) -> usize {
        self.bytes().saturating_sub(self.limit)
    }

    /// Waits until a push takes the node over the limit. A crossing while nobody waits is kept
    /// (one permit), so none is missed.
    pub async fn overflowed(&self) {
        self.over.notified().await
    }

    fn add(&self, n: usize) {
        let before = self.bytes.fetch_add(n, Ordering::Relaxed);
        if before <= self.limit && before + n > self.limit {
            self.over.notify_one();
        }
    }

    fn sub(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Default for Backlog {
    /// SPEC 7's default `max_queued_bytes`: 512 MiB.
    fn default() -> Self {
        Self::new(512 * 1024 * 1024)
    }
}

/// Why the server closes a socket, with the websocket close code it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Server shutting down, or idle timeout: 1001.
    GoingAway,
    /// Outbound queue overflowed under the `Disconnect` policy: 1008.
    SlowConsumer,
    /// Kicked through `DELETE /v2/accounts/{A}/websockets/{ID}`: 4000.
    Kicked,
    /// Its account left the directory: 4001.
    AccountRemoved,
    /// The session failed: 1011.
    InternalError,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::GoingAway => 1001,
            CloseReason::SlowConsumer => 1008,
            CloseReason::Kicked => 4000,
            CloseReason::AccountRemoved => 4001,
            CloseReason::InternalError => 1011,
        }
    }
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::GoingAway => "going away",
            CloseReason::SlowConsumer => "slow consumer",
            CloseReason::Kicked => "closed by request",
            CloseReason::AccountRemoved => "account removed",
            CloseReason::InternalError => "internal error",
        }
    }
}

/// What the writer takes out in one go.
#[derive(Debug, Default)]
pub struct Batch {
    pub frames: Vec<Queued>,
    /// Set once: after it the writer sends the close frame and stops.
    pub close: Option<CloseReason>,
    /// When the oldest of `frames` will have waited `max_lag`: the writer gives up on a client
    /// that has not taken them by then. `None` when there are no frames.
    pub deadline: Option<Instant>,
}

/// A frame waiting for its socket's writer.
#[derive(Debug, PartialEq, Eq)]
pub struct Queued {
    pub frame: TextFrame,
    /// When it was pushed: for an event, its fan-out.
    pub at: Instant,
    /// An event's frame, rather than a reply or a notice.
    pub event: bool,
}

impl AsRef<[u8]> for Queued {
    fn as_ref(&self) -> &[u8] {
        self.frame.as_ref()
    }
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<Queued>,
    bytes: usize,
    close: Option<CloseReason>,
}

pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    limits: OutboxLimits,
    metrics: Arc<Metrics>,
    backlog: Arc<Backlog>,
}

impl Outbox {
    pub fn new(limits: OutboxLimits, metrics: Arc<Metrics>, backlog: Arc<Backlog>) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            limits,
            metrics,
            backlog,
        }
    }

    /// How long a frame may wait for this socket's client.
    pub fn max_lag(&self) -> Duration {
        self.limits.max_lag
    }

    /// Queues a reply or notice; false when the socket is closing and the frame was not queued.
    pub fn push(&self, frame: TextFrame) -> bool {
        self.queue_frame(frame, Instant::now(), false)
    }

    /// Queues an event's frame, fanned out at `now`: the router reads the clock once per event,
    /// not once per socket. Its delivery latency is timed from `now`.
    pub fn push_event(&self, frame: TextFrame, now: Instant) -> bool {
        self.queue_frame(frame, now, true)
    }

    fn queue_frame(&self, frame: TextFrame, now: Instant, event: bool) -> bool {
        let mut queue = self.queue.lock();
        if queue.close.is_some() {
            return false;
        }
        let len = frame.len();
        let lagging = |q: &Queue| {
            q.frames
                .front()
                .is_some_and(|old| now.saturating_duration_since(old.at) >= self.limits.max_lag)
        };
        // A frame larger than the bound still goes alone.
        let too_big = |q: &Queue| !q.frames.is_empty() && q.bytes + len > self.limits.max_bytes;
        if lagging(&queue) || too_big(&queue) {
            match self.limits.policy {
                SlowConsumerPolicy::Disconnect => {
                    self.clear(&mut queue);
                    queue.close = Some(CloseReason::SlowConsumer);
                    drop(queue);
                    self.metrics.slow_consumer_disconnects.inc();
                    self.ready.notify_one();
                    return false;
                }
                SlowConsumerPolicy::DropOldest => {
                    while lagging(&queue) || too_big(&queue) {
                        self.drop_oldest(&mut queue);
                    }
                }
            }
        }
        queue.bytes += len;
        self.backlog.add(len);
        queue.frames.push_back(Queued {
            frame,
            at: now,
            event,
        });
        drop(queue);
        self.ready.notify_one();
        true
    }

    /// Asks the writer to send what is queued, then close with `reason`. The first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut queue = self.queue.lock();
        if queue.close.is_none() {
            queue.close = Some(reason);
        }
        drop(queue);
        self.ready.notify_one();
    }

    /// The socket's writer gave up on a client whose TCP buffers stayed full: the connection is
    /// cut without a close frame (none could get through), counted as a slow consumer.
    /// A socket already closing as a slow consumer was counted then, and is not counted again.
    pub fn cut_for_a_stalled_write(&self) {
        let mut queue = self.queue.lock();
        self.clear(&mut queue);
        let counted = queue.close == Some(CloseReason::SlowConsumer);
        queue.close = Some(CloseReason::SlowConsumer);
        drop(queue);
        if !counted {
            self.metrics.slow_consumer_cuts.inc();
        }
    }

    /// The node holds more than `max_queued_bytes` and this socket is among the biggest holders:
    /// under `disconnect` it is closed with 1008 and its queue freed; under `drop_oldest` its
    /// oldest frames go until `excess` bytes are freed, or none is left. Returns the bytes freed.
    pub fn shed(&self, excess: usize) -> usize {
        let mut queue = self.queue.lock();
        let held = queue.bytes;
        if held == 0 {
            return 0;
        }
        match self.limits.policy {
            SlowConsumerPolicy::Disconnect => {
                self.clear(&mut queue);
                let newly_closed = queue.close.is_none();
                queue.close.get_or_insert(CloseReason::SlowConsumer);
                drop(queue);
                if newly_closed {
                    self.metrics.slow_consumer_disconnects.inc();
                }
                self.ready.notify_one();
            }
            SlowConsumerPolicy::DropOldest => {
                while held - queue.bytes < excess && !queue.frames.is_empty() {
                    self.drop_oldest(&mut queue);
                }
                let freed = held - queue.bytes;
                drop(queue);
                self.metrics.node_sheds.inc();
                return freed;
            }
        }
        self.metrics.node_sheds.inc();
        held
    }

    pub fn is_closing(&self) -> bool {
        self.queue.lock().close.is_some()
    }

    /// Bytes queued for this socket now.
    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }

    /// Waits until there is something to write or a close to send.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// Takes everything queued. Empty when the wake-up was spurious.
    pub fn take(&self) -> Batch {
        let mut queue = self.queue.lock();
        self.backlog.sub(queue.bytes);
        queue.bytes = 0;
        let deadline = queue
            .frames
            .front()
            .map(|oldest| oldest.at + self.limits.max_lag);
        Batch {
            frames: queue.frames.drain(..).collect(),
            close: queue.close,
            deadline,
        }
    }

    /// The writer put `frames` on the socket at `now`: the events' time from fan-out is recorded.
    pub fn written(&self, frames: &[Queued], now: Instant) {
        let waits = frames
            .iter()
            .filter(|queued| queued.event)
            .map(|queued| now.saturating_duration_since(queued.at));
        self.metrics.delivery_latency.observe_all(waits);
    }

    fn clear(&self, queue: &mut Queue) {
        self.backlog.sub(queue.bytes);
        queue.bytes = 0;
        queue.frames.clear();
    }

    fn drop_oldest(&self, queue: &mut Queue) {
        if let Some(old) = queue.frames.pop_front() {
            queue.bytes -= old.frame.len();
            self.backlog.sub(old.frame.len());
            self.metrics.frames_dropped.inc();
        }
    }
}

impl Drop for Outbox {
    /// A socket gone with frames still queued gives their bytes back to the node.
    fn drop(&mut self) {
        self.backlog.sub(self.queue.get_mut().bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: Duration = Duration::from_secs(5);

    fn limits(max_bytes: usize, policy: SlowConsumerPolicy) -> OutboxLimits {
        OutboxLimits {
            max_lag: LAG,
            max_bytes,
            policy,
        }
    }

    fn outbox(max_bytes: usize, policy: SlowConsumerPolicy) -> Outbox {
        let backlog = Arc::new(Backlog::default());
        Outbox::new(
            limits(max_bytes, policy),
            Arc::new(Metrics::default()),
            backlog,
        )
    }

    fn frame(text: &str) -> TextFrame {
        TextFrame::from(text.to_string())
    }

    fn texts(batch: &Batch) -> Vec<&str> {
        batch
            .frames
            .iter()
            .map(|queued| queued.frame.text())
            .collect()
    }

    #[test]
    fn drains_in_order() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        assert!(out.push(frame("a")));
        assert!(out.push(frame("b")));
        let batch = out.take();
        assert_eq!(texts(&batch), ["a", "b"]);
        assert_eq!(batch.close, None);
        assert!(out.take().frames.is_empty());
    }

    #[test]
    fn only_events_are_timed_from_their_fan_out_to_their_write() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        let t0 = Instant::now();
        assert!(out.push(frame("reply")));
        assert!(out.push_event(frame("event"), t0));
        let batch = out.take();
        out.written(&batch.frames, t0 + Duration::from_millis(3));
        assert_eq!(out.metrics.delivery_latency.count(), 1);
    }

    #[test]
    fn no_frame_count_bound_for_a_client_that_keeps_up() {
        let out = outbox(1 << 20, SlowConsumerPolicy::Disconnect);
        let t0 = Instant::now();
        for i in 0..100_000 {
            assert!(out.push_event(frame("x"), t0 + Duration::from_micros(i)));
        }
        assert_eq!(out.take().frames.len(), 100_000);
        assert_eq!(out.metrics.slow_consumer_disconnects.get(), 0);
    }

    #[test]
    fn the_deadline_is_the_oldest_frame_plus_max_lag() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        let t0 = Instant::now();
        out.push_event(frame("a"), t0);
        out.push_event(frame("b"), t0 + Duration::from_secs(1));
        assert_eq!(out.take().deadline, Some(t0 + LAG));
        assert_eq!(out.take().deadline, None);
    }

    #[test]
    fn disconnect_when_the_oldest_frame_waited_max_lag() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        let t0 = Instant::now();
        assert!(out.push_event(frame("a"), t0));
        assert!(out.push_event(frame("b"), t0 + LAG - Duration::from_millis(1)));
        assert!(!out.push_event(frame("c"), t0 + LAG));
        let batch = out.take();
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close, Some(CloseReason::SlowConsumer));
        assert_eq!(out.metrics.slow_consumer_disconnects.get(), 1);
        assert_eq!(out.backlog.bytes(), 0);
        assert!(
            !out.push_event(frame("d"), t0 + LAG),
            "a closing socket takes no more frames"
        );
    }

    #[test]
    fn a_drained_queue_starts_its_lag_afresh() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        let t0 = Instant::now();
        assert!(out.push_event(frame("a"), t0));
        out.take();
        assert!(out.push_event(frame("b"), t0 + LAG + Duration::from_secs(1)));
        assert!(out.push_event(frame("c"), t0 + 2 * LAG));
        assert_eq!(texts(&out.take()), ["b", "c"]);
    }

    #[test]
    fn disconnect_when_the_socket_holds_more_than_max_bytes() {
        // Wire bytes: each frame has a 2-byte header.
        let out = outbox(8, SlowConsumerPolicy::Disconnect);
        assert!(out.push(frame("aa")));
        assert!(out.push(frame("bb")));
        assert!(!out.push(frame("c")));
        let batch = out.take();
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close, Some(CloseReason::SlowConsumer));
        assert_eq!(out.metrics.slow_consumer_disconnects.get(), 1);
    }

    #[test]
    fn drop_oldest_drops_only_frames_older_than_max_lag() {
        let out = outbox(1000, SlowConsumerPolicy::DropOldest);
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        out.push_event(frame("a"), t0);
        out.push_event(frame("b"), t0 + second);
        out.push_event(frame("c"), t0 + 2 * second);
        // At t0 + 6 s, a and b have waited 5 s or more; c has waited 4 s.
        assert!(out.push_event(frame("d"), t0 + LAG + second));
        let batch = out.take();
        assert_eq!(texts(&batch), ["c", "d"]);
        assert_eq!(batch.close, None);
        assert_eq!(out.metrics.frames_dropped.get(), 2);
        assert_eq!(out.metrics.slow_consumer_disconnects.get(), 0);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_within_bytes() {
        let out = outbox(9, SlowConsumerPolicy::DropOldest);
        assert!(out.push(frame("aa")));
        assert!(out.push(frame("bb")));
        assert!(out.push(frame("cc")));
        let batch = out.take();
        assert_eq!(texts(&batch), ["bb", "cc"]);
        assert_eq!(out.metrics.frames_dropped.get(), 1);
    }

    #[test]
    fn a_frame_larger_than_the_byte_bound_still_goes_alone() {
        let out = outbox(3, SlowConsumerPolicy::Disconnect);
        assert!(out.push(frame("abcdef")));
        assert_eq!(out.take().frames.len(), 1);
    }

    #[test]
    fn a_stalled_write_cuts_the_socket_and_is_counted() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        out.push(frame("a"));
        out.cut_for_a_stalled_write();
        assert!(out.is_closing());
        assert!(!out.push(frame("b")), "nothing more is queued");
        assert!(out.take().frames.is_empty());
        assert_eq!(out.metrics.slow_consumer_cuts.get(), 1);
        assert_eq!(out.backlog.bytes(), 0);
    }

    #[test]
    fn a_slow_consumer_closing_and_then_cut_is_counted_once() {
        let out = outbox(2, SlowConsumerPolicy::Disconnect);
        out.push(frame("ab"));
        assert!(!out.push(frame("c")));
        out.cut_for_a_stalled_write();
        assert_eq!(out.metrics.slow_consumer_disconnects.get(), 1);
        assert_eq!(out.metrics.slow_consumer_cuts.get(), 0);
    }

    #[test]
    fn close_keeps_queued_frames_and_first_reason() {
        let out = outbox(1000, SlowConsumerPolicy::Disconnect);
        out.push(frame("a"));
        out.close(CloseReason::Kicked);
        out.close(CloseReason::GoingAway);
        let batch = out.take();
        assert_eq!(texts(&batch), ["a"]);
        assert_eq!(batch.close, Some(CloseReason::Kicked));
    }

    /// Outboxes sharing one backlog, as the sockets of a node do.
    fn node(
        n: usize,
        max_queued_bytes: usize,
        policy: SlowConsumerPolicy,
    ) -> (Arc<Backlog>, Vec<Outbox>) {
        let backlog = Arc::new(Backlog::new(max_queued_bytes));
        let metrics = Arc::new(Metrics::default());
        let outboxes = (0..n)
            .map(|_| Outbox::new(limits(1000, policy), metrics.clone(), backlog.clone()))
            .collect();
        (backlog, outboxes)
    }

    #[test]
    fn the_node_count_follows_every_push_take_drop_and_close() {
        let (backlog, outs) = node(3, 1 << 20, SlowConsumerPolicy::DropOldest);
        let t0 = Instant::now();
        outs[0].push_event(frame("aaaa"), t0);
        outs[1].push_event(frame("bb"), t0);
        outs[1].push_event(frame("cc"), t0);
        outs[2].push_event(frame("d"), t0);
        // Wire bytes: each frame has a 2-byte header.
        assert_eq!(backlog.bytes(), 6 + 4 + 4 + 3);
        outs[0].take();
        assert_eq!(backlog.bytes(), 11);
        // Both of outs[1]'s frames are older than max_lag: dropped.
        outs[1].push_event(frame("e"), t0 + LAG);
        assert_eq!(backlog.bytes(), 6);
        outs[2].cut_for_a_stalled_write();
        assert_eq!(backlog.bytes(), 3);
        assert_eq!(outs[1].shed(1), 3);
        assert_eq!(backlog.bytes(), 0);
        outs[0].push(frame("ff"));
        drop(outs);
        assert_eq!(backlog.bytes(), 0, "a dropped outbox gives its bytes back");
    }

    #[test]
    fn the_node_count_returns_to_zero_under_concurrent_pushes_and_takes() {
        let (backlog, outs) = node(4, usize::MAX / 2, SlowConsumerPolicy::Disconnect);
        let outs = Arc::new(outs);
        std::thread::scope(|scope| {
            for pusher in 0..4 {
                let outs = outs.clone();
                scope.spawn(move || {
                    for i in 0..20_000 {
                        outs[(pusher + i) % 4].push(frame("xyz"));
                    }
                });
            }
            let outs = outs.clone();
            scope.spawn(move || {
                for _ in 0..2_000 {
                    for out in outs.iter() {
                        out.take();
                    }
                }
            });
        });
        for out in outs.iter() {
            out.take();
        }
        assert_eq!(backlog.bytes(), 0);
    }

    #[tokio::test]
    async fn crossing_the_node_bound_wakes_the_shedder_once() {
        // Wire bytes: 8 + 6 = 14, then 17.
        let (backlog, outs) = node(2, 16, SlowConsumerPolicy::Disconnect);
        outs[0].push(frame("123456"));
        outs[1].push(frame("1234"));
        assert_eq!(backlog.excess(), 0);
        outs[1].push(frame("5"));
        assert_eq!(backlog.excess(), 1);
        // The crossing left a permit: this returns at once.
        tokio::time::timeout(Duration::from_secs(5), backlog.overflowed())
            .await
            .expect("woken");
        // Pushes while still over do not cross again.
        outs[1].push(frame("6"));
        let again = tokio::time::timeout(Duration::from_millis(20), backlog.overflowed()).await;
        assert!(again.is_err(), "no second wake-up without a new crossing");
    }

    #[test]
    fn shedding_closes_a_holder_under_disconnect_and_trims_under_drop_oldest() {
        let (backlog, outs) = node(1, 4, SlowConsumerPolicy::Disconnect);
        outs[0].push(frame("abc"));
        outs[0].push(frame("de"));
        assert_eq!(outs[0].shed(backlog.excess()), 9, "wire bytes: 5 + 4");
        let batch = outs[0].take();
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close, Some(CloseReason::SlowConsumer));
        assert_eq!(outs[0].metrics.slow_consumer_disconnects.get(), 1);
        assert_eq!(outs[0].metrics.node_sheds.get(), 1);
        assert_eq!(backlog.bytes(), 0);

        let (backlog, outs) = node(1, 10, SlowConsumerPolicy::DropOldest);
        outs[0].push(frame("abc"));
        outs[0].push(frame("de"));
        outs[0].push(frame("f"));
        assert_eq!(backlog.excess(), 2);
        assert_eq!(outs[0].shed(backlog.excess()), 5);
        let batch = outs[0].take();
        assert_eq!(texts(&batch), ["de", "f"]);
        assert_eq!(batch.close, None);
        assert_eq!(outs[0].metrics.frames_dropped.get(), 1);
        assert_eq!(backlog.bytes(), 0);
    }
}
