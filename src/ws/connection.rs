//! One socket's task: reads client frames and hands text to the session actor (waiting for it,
//! so a flooding client is slowed by TCP, not buffered), and writes what the session's outbox
//! holds, a batch per wake-up in vectored writes. Its end is logged once, with the socket's id.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ractor::ActorRef;
use tokio::time::MissedTickBehavior;

use switchyard_actors::frame::{Opcode, encode};
use switchyard_actors::metrics::Refusal;
use switchyard_actors::outbox::{Batch, CloseReason, Outbox};
use switchyard_actors::session::SessionMsg;
use switchyard_actors::supervisor::{OpenedSession, SupervisorMsg};

use super::ended::Ended;
use super::listener::WsOptions;
use super::reader::{Incoming, Reader};
use super::transport::Transport;
use super::writer::write_frames;

/// How long a closing socket may take to take our close frame and answer it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the connection goes on after a step.
enum Step {
    Go,
    Stop(Ended),
}

struct Socket {
    stream: Transport,
    reader: Reader,
}

pub(super) async fn run(
    stream: Transport,
    already_read: Vec<u8>,
    peer: SocketAddr,
    supervisor: ActorRef<SupervisorMsg>,
    options: &WsOptions,
) {
    let mut socket = Socket {
        stream,
        reader: Reader::new(options.max_frame_bytes, already_read),
    };
    let opened = ractor::call!(supervisor, |reply| SupervisorMsg::Open { peer, reply });
    let OpenedSession {
        session,
        outbox,
        id,
    } = match opened {
        Ok(Ok(opened)) => opened,
        _ => {
            options.metrics.connection_refused(Refusal::NodeUnavailable);
            socket
                .close(CloseReason::GoingAway.code(), "node unavailable")
                .await;
            return;
        }
    };

    tracing::debug!(socket = &*id, %peer, "socket opened");
    // Frames the client sent right behind its upgrade request are already read.
    if let Step::Stop(ended) = socket.act_on_messages(&session, &outbox).await {
        session.stop(None);
        ended.report(&id, peer, &options.metrics);
        return;
    }

    // One timer per socket serves both the pings and the idle check.
    let mut tick = tokio::time::interval(options.ping_interval.min(options.idle_timeout));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    let ended = loop {
        let step = tokio::select! {
            readable = socket.stream.readable() => match readable {
                Ok(()) => {
                    last_heard = Instant::now();
                    socket.on_readable(&session, &outbox).await
                }
                Err(_) => Step::Stop(Ended::ConnectionLost),
            },
            _ = outbox.ready() => socket.write_batch(&outbox, outbox.take()).await,
            _ = tick.tick() => {
                if last_heard.elapsed() >= options.idle_timeout {
                    socket.close(CloseReason::GoingAway.code(), "idle timeout").await;
                    Step::Stop(Ended::IdleTimeout)
                } else if last_ping.elapsed() >= options.ping_interval {
                    last_ping = Instant::now();
                    socket.send_control(&outbox, encode(Opcode::Ping, &[])).await
                } else {
                    Step::Go
                }
            }
        };
        if let Step::Stop(ended) = step {
            break ended;
        }
    };
    session.stop(None);
    ended.report(&id, peer, &options.metrics);
}

impl Socket {
    /// Reads what arrived and acts on every whole message in it.
    async fn on_readable(&mut self, session: &ActorRef<SessionMsg>, outbox: &Outbox) -> Step {
        match self.reader.read_from(&mut self.stream) {
            Ok(0) => Step::Stop(Ended::ConnectionLost),
            Ok(_) => self.act_on_messages(session, outbox).await,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Step::Go,
            Err(_) => Step::Stop(Ended::ConnectionLost),
        }
    }

    /// Acts on every whole message read so far.
    async fn act_on_messages(&mut self, session: &ActorRef<SessionMsg>, outbox: &Outbox) -> Step {
        loop {
            let step = match self.reader.next() {
                Ok(Some(message)) => self.act_on(message, session, outbox).await,
                Ok(None) => return Step::Go,
                Err(error) => {
                    self.close(error.close_code(), &error.to_string()).await;
                    Step::Stop(Ended::BrokenFrame(error))
                }
            };
            if let Step::Stop(_) = step {
                return step;
            }
        }
    }

    async fn act_on(
        &mut self,
        message: Incoming,
        session: &ActorRef<SessionMsg>,
        outbox: &Outbox,
    ) -> Step {
        match message {
            Incoming::Text(text) => {
                // Boxed, as is the close: rare, and the task would be this much larger the
                // whole time.
                let handled =
                    Box::pin(session.call(|done| SessionMsg::Frame(text, done), None)).await;
                if matches!(handled, Ok(ractor::rpc::CallResult::Success(()))) {
                    return Step::Go;
                }
                let reason = CloseReason::InternalError;
                self.close(reason.code(), reason.text()).await;
                Step::Stop(Ended::Closed(reason))
            }
            Incoming::Ping(payload) => {
                self.send_control(outbox, encode(Opcode::Pong, &[&payload]))
                    .await
            }
            Incoming::Close(code) => {
                let echoed = code.map(u16::to_be_bytes);
                let echo = encode(Opcode::Close, &[echoed.as_ref().map_or(&[][..], |c| c)]);
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.write(&[echo])).await;
                Step::Stop(Ended::ByClient(code))
            }
        }
    }

    /// Writes a batch, then its close if it ends with one. A batch must be written before its
    /// oldest frame has waited `max_lag` (SPEC 7); a client that stopped reading (its TCP
    /// buffers full) is a slow consumer whose close frame could not get through either, so the
    /// connection is cut, and counted.
    async fn write_batch(&mut self, outbox: &Outbox, batch: Batch) -> Step {
        let deadline = batch
            .deadline
            .unwrap_or_else(|| Instant::now() + outbox.max_lag());
        let step = self.write_within(outbox, deadline, &batch.frames).await;
        if let Step::Go = step {
            outbox.written(&batch.frames, Instant::now());
        }
        match (step, batch.close) {
            (Step::Go, Some(reason)) => {
                self.close(reason.code(), reason.text()).await;
                Step::Stop(Ended::Closed(reason))
            }
            (step, _) => step,
        }
    }

    /// A ping or pong, which a client that stopped reading has `max_lag` to take.
    async fn send_control(&mut self, outbox: &Outbox, frame: Bytes) -> Step {
        let deadline = Instant::now() + outbox.max_lag();
        self.write_within(outbox, deadline, &[frame]).await
    }

    async fn write_within(
        &mut self,
        outbox: &Outbox,
        deadline: Instant,
        frames: &[impl AsRef<[u8]>],
    ) -> Step {
        match tokio::time::timeout_at(deadline.into(), self.write(frames)).await {
            Ok(Ok(())) => Step::Go,
            Ok(Err(_)) => Step::Stop(Ended::ConnectionLost),
            Err(_stalled) => {
                outbox.cut_for_a_stalled_write();
                Step::Stop(Ended::WriteStalled)
            }
        }
    }

    async fn write(&mut self, frames: &[impl AsRef<[u8]>]) -> std::io::Result<()> {
        write_frames(&mut self.stream, frames).await
    }

    /// Sends a close frame and waits briefly for the client's answer, dropping whatever else
    /// it sends meanwhile.
    async fn close(&mut self, code: u16, reason: &str) {
        let frame = encode(Opcode::Close, &[&code.to_be_bytes(), reason.as_bytes()]);
        // Boxed: a socket closes once, and its task need not be this much larger meanwhile.
        let handshake = Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, async {
            if self.write(&[frame]).await.is_ok() {
                self.until_the_client_closes().await;
            }
        }));
        let _ = handshake.await;
    }

    async fn until_the_client_closes(&mut self) {
        while self.stream.readable().await.is_ok() {
            match self.reader.read_from(&mut self.stream) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
            loop {
                match self.reader.next() {
                    Ok(Some(Incoming::Close(_))) | Err(_) => return,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                }
            }
        }
    }
}
