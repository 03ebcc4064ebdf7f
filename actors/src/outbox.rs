//! A socket's bounded outbound queue (SPEC 7). Replies and events are pushed here by the session
//! and the router without awaiting; the socket's writer drains it a batch at a time. The bound is
//! the session's own, not the actor mailbox's: a slow reader costs at most `max_frames` frames and
//! `max_bytes` bytes, then the configured policy applies.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// What to do when a socket's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Close the socket with 1008 "slow consumer" (the default).
    Disconnect,
    /// Drop the oldest queued frames until the new one fits.
    DropOldest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxLimits {
    pub max_frames: usize,
    pub max_bytes: usize,
    pub policy: SlowConsumerPolicy,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self {
            max_frames: 1024,
            max_bytes: 1024 * 1024,
            policy: SlowConsumerPolicy::Disconnect,
        }
    }
}

/// A websocket text frame: always valid UTF-8 (it can only be built from a `String`), so the
/// writer may hand its bytes to the websocket library without validating them again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFrame(Bytes);

impl TextFrame {
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
    pub fn as_str(&self) -> &str {
        // Built only from `String`s.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for TextFrame {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
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
    pub frames: Vec<TextFrame>,
    /// Set once: after it the writer sends the close frame and stops.
    pub close: Option<CloseReason>,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<TextFrame>,
    bytes: usize,
    close: Option<CloseReason>,
}

pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    limits: OutboxLimits,
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub fn new(limits: OutboxLimits, metrics: Arc<Metrics>) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            limits,
            metrics,
        }
    }

    /// Queues a frame; false when the socket is closing and the frame was not queued.
    pub fn push(&self, frame: TextFrame) -> bool {
        let mut queue = self.queue.lock();
        if queue.close.is_some() {
            return false;
        }
        let len = frame.len();
        let overflows = |q: &Queue| {
            q.frames.len() >= self.limits.max_frames
                || (q.bytes + len > self.limits.max_bytes && !q.frames.is_empty())
        };
        if overflows(&queue) {
            match self.limits.policy {
                SlowConsumerPolicy::Disconnect => {
                    queue.frames.clear();
                    queue.bytes = 0;
                    queue.close = Some(CloseReason::SlowConsumer);
                    drop(queue);
                    self.metrics.slow_consumer_disconnects.inc();
                    self.ready.notify_one();
                    return false;
                }
                SlowConsumerPolicy::DropOldest => {
                    while overflows(&queue) {
                        let Some(old) = queue.frames.pop_front() else {
                            break;
                        };
                        queue.bytes -= old.len();
                        self.metrics.frames_dropped.inc();
                    }
                }
            }
        }
        queue.bytes += len;
        queue.frames.push_back(frame);
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
    pub fn cut_for_a_stalled_write(&self) {
        let mut queue = self.queue.lock();
        queue.frames.clear();
        queue.bytes = 0;
        queue.close = Some(CloseReason::SlowConsumer);
        drop(queue);
        self.metrics.slow_consumer_cuts.inc();
    }

    pub fn is_closing(&self) -> bool {
        self.queue.lock().close.is_some()
    }

    /// Waits until there is something to write or a close to send.
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// Takes everything queued. Empty when the wake-up was spurious.
    pub fn take(&self) -> Batch {
        let mut queue = self.queue.lock();
        queue.bytes = 0;
        Batch {
            frames: queue.frames.drain(..).collect(),
            close: queue.close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(max_frames: usize, max_bytes: usize, policy: SlowConsumerPolicy) -> Outbox {
        let limits = OutboxLimits {
            max_frames,
            max_bytes,
            policy,
        };
        Outbox::new(limits, Arc::new(Metrics::default()))
    }

    fn frame(text: &str) -> TextFrame {
        TextFrame::from(text.to_string())
    }

    #[test]
    fn drains_in_order() {
        let out = outbox(10, 1000, SlowConsumerPolicy::Disconnect);
        assert!(out.push(frame("a")));
        assert!(out.push(frame("b")));
        let batch = out.take();
        assert_eq!(batch.frames, vec![frame("a"), frame("b")]);
        assert_eq!(batch.close, None);
        assert!(out.take().frames.is_empty());
    }

    #[test]
    fn disconnect_policy_closes_on_frame_overflow() {
        let out = outbox(2, 1000, SlowConsumerPolicy::Disconnect);
        assert!(out.push(frame("a")));
        assert!(out.push(frame("b")));
        assert!(!out.push(frame("c")));
        let batch = out.take();
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close, Some(CloseReason::SlowConsumer));
        assert_eq!(out.metrics.slow_consumer_disconnects.get(), 1);
        assert!(
            !out.push(frame("d")),
            "a closing socket takes no more frames"
        );
    }

    #[test]
    fn drop_oldest_policy_keeps_the_newest_within_bytes() {
        let out = outbox(100, 5, SlowConsumerPolicy::DropOldest);
        assert!(out.push(frame("aa")));
        assert!(out.push(frame("bb")));
        assert!(out.push(frame("cc")));
        let batch = out.take();
        assert_eq!(batch.frames, vec![frame("bb"), frame("cc")]);
        assert_eq!(out.metrics.frames_dropped.get(), 1);
    }

    #[test]
    fn a_frame_larger_than_the_byte_bound_still_goes_alone() {
        let out = outbox(100, 3, SlowConsumerPolicy::Disconnect);
        assert!(out.push(frame("abcdef")));
        assert_eq!(out.take().frames.len(), 1);
    }

    #[test]
    fn a_stalled_write_cuts_the_socket_and_is_counted() {
        let out = outbox(10, 1000, SlowConsumerPolicy::Disconnect);
        out.push(frame("a"));
        out.cut_for_a_stalled_write();
        assert!(out.is_closing());
        assert!(!out.push(frame("b")), "nothing more is queued");
        assert_eq!(out.take().frames, Vec::<TextFrame>::new());
        assert_eq!(out.metrics.slow_consumer_cuts.get(), 1);
    }

    #[test]
    fn close_keeps_queued_frames_and_first_reason() {
        let out = outbox(10, 1000, SlowConsumerPolicy::Disconnect);
        out.push(frame("a"));
        out.close(CloseReason::Kicked);
        out.close(CloseReason::GoingAway);
        let batch = out.take();
        assert_eq!(batch.frames, vec![frame("a")]);
        assert_eq!(batch.close, Some(CloseReason::Kicked));
    }
}
