//! How a socket's connection ended: counted by reason, and logged with the socket's id: every
//! end at debug; the ends a hostile or broken client can repeat at will (broken frames, stalled
//! reads) also at warn or info, at most once per cause per [`LOG_EVERY`].
//!
//! [`LOG_EVERY`]: switchyard_actors::log_limit::LOG_EVERY

use std::net::SocketAddr;

use switchyard_actors::log_limit::LogLimit;
use switchyard_actors::metrics::{Disconnect, Metrics};
use switchyard_actors::outbox::CloseReason;

use super::reader::FrameError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The client sent a close frame, with this code if any.
    ByClient(Option<u16>),
    /// The connection went without a close frame.
    ConnectionLost,
    /// Nothing heard for `idle_timeout`: closed 1001.
    IdleTimeout,
    /// Closed for a frame that breaks RFC 6455 (1002, 1007, 1009).
    BrokenFrame(FrameError),
    /// The server closed it for this reason.
    Closed(CloseReason),
    /// A write waited `max_lag` for a client that stopped reading: cut without a close frame.
    WriteStalled,
}

static TOO_LARGE: LogLimit = LogLimit::new();
static INVALID_UTF8: LogLimit = LogLimit::new();
static PROTOCOL: LogLimit = LogLimit::new();
static SLOW_CONSUMER: LogLimit = LogLimit::new();

impl Ended {
    /// Counts the end, and logs it: at debug; those a client can repeat at will also at warn or
    /// info, limited.
    pub(super) fn report(self, socket: &str, peer: SocketAddr, metrics: &Metrics) {
        metrics.disconnected(self.reason());
        tracing::debug!(socket, %peer, ended = ?self, "socket closed");
        match self {
            Ended::BrokenFrame(error) => {
                let limit = match error {
                    FrameError::TooLarge => &TOO_LARGE,
                    FrameError::InvalidUtf8 => &INVALID_UTF8,
                    FrameError::Protocol => &PROTOCOL,
                };
                limit.note(|suppressed| {
                    tracing::warn!(socket, %peer, code = error.close_code(), %error, suppressed,
                        "closed a socket that sent a broken frame")
                });
            }
            Ended::WriteStalled | Ended::Closed(CloseReason::SlowConsumer) => {
                SLOW_CONSUMER.note(|suppressed| {
                    tracing::info!(socket, %peer, ended = ?self, suppressed, "closed a slow consumer")
                });
            }
            // A failed session is logged by the supervisor, with its error.
            _ => {}
        }
    }

    /// Why, in the words of `switchyard_disconnects_total`.
    fn reason(self) -> Disconnect {
        match self {
            Ended::ByClient(_) => Disconnect::ClientClosed,
            Ended::ConnectionLost => Disconnect::ConnectionLost,
            Ended::IdleTimeout => Disconnect::IdleTimeout,
            Ended::BrokenFrame(FrameError::TooLarge) => Disconnect::FrameTooLarge,
            Ended::BrokenFrame(FrameError::InvalidUtf8) => Disconnect::InvalidUtf8,
            Ended::BrokenFrame(FrameError::Protocol) => Disconnect::ProtocolError,
            Ended::Closed(CloseReason::GoingAway) => Disconnect::GoingAway,
            Ended::Closed(CloseReason::SlowConsumer) => Disconnect::SlowConsumer,
            Ended::Closed(CloseReason::Kicked) => Disconnect::Kicked,
            Ended::Closed(CloseReason::AccountRemoved) => Disconnect::AccountRemoved,
            Ended::Closed(CloseReason::InternalError) => Disconnect::InternalError,
            Ended::WriteStalled => Disconnect::WriteStalled,
        }
    }
}
