//! One socket's task: reads client frames and hands text to the session actor (waiting for it,
//! so a flooding client is slowed by TCP, not buffered), and writes what the session's outbox
//! holds, a batch per wake-up with one flush.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ractor::ActorRef;
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use switchyard_actors::outbox::{CloseReason, TextFrame};
use switchyard_actors::session::SessionMsg;
use switchyard_actors::supervisor::{OpenedSession, SupervisorMsg};

use super::listener::WsOptions;

/// How long a closing socket may take to take our close frame and answer it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<TcpStream>;

pub(super) async fn run(
    mut ws: Ws,
    peer: SocketAddr,
    supervisor: ActorRef<SupervisorMsg>,
    options: &WsOptions,
) {
    let opened = ractor::call!(supervisor, |reply| SupervisorMsg::Open { peer, reply });
    let OpenedSession {
        session, outbox, ..
    } = match opened {
        Ok(Ok(opened)) => opened,
        _ => {
            close(&mut ws, CloseCode::Away, "node unavailable").await;
            return;
        }
    };

    // One timer per socket serves both the pings and the idle check.
    let mut tick = tokio::time::interval(options.ping_interval.min(options.idle_timeout));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    loop {
        tokio::select! {
            incoming = ws.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let handled = session
                            .call(|done| SessionMsg::Frame(text.to_string(), done), None)
                            .await;
                        if !matches!(handled, Ok(ractor::rpc::CallResult::Success(()))) {
                            close(&mut ws, CloseCode::Error, "internal error").await;
                            break;
                        }
                    }
                    // Binary frames are ignored; pings are answered by tungstenite itself.
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        if let Some((code, reason)) = close_for(&error) {
                            close(&mut ws, code, reason).await;
                        }
                        break;
                    }
                    None => break,
                }
            }
            _ = outbox.ready() => {
                let batch = outbox.take();
                // A batch must be written before its oldest frame has waited `max_lag` (SPEC 7);
                // a client that stopped reading (its TCP buffers full) is a slow consumer whose
                // close frame could not get through either, so the connection is cut, and counted.
                let deadline = batch.deadline.unwrap_or_else(|| Instant::now() + outbox.max_lag());
                let written = tokio::time::timeout_at(deadline.into(), write_batch(&mut ws, batch.frames)).await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break,
                    Err(_stalled) => {
                        outbox.cut_for_a_stalled_write();
                        break;
                    }
                }
                if let Some(reason) = batch.close {
                    close(&mut ws, close_code(reason), reason.text()).await;
                    break;
                }
            }
            _ = tick.tick() => {
                if last_heard.elapsed() >= options.idle_timeout {
                    close(&mut ws, CloseCode::Away, "idle timeout").await;
                    break;
                }
                if last_ping.elapsed() >= options.ping_interval {
                    last_ping = Instant::now();
                    let sent = tokio::time::timeout(outbox.max_lag(), ws.send(Message::Ping(Bytes::new()))).await;
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break,
                        Err(_stalled) => {
                            outbox.cut_for_a_stalled_write();
                            break;
                        }
                    }
                }
            }
        }
    }
    session.stop(None);
}

async fn write_batch(ws: &mut Ws, frames: Vec<TextFrame>) -> Result<(), WsError> {
    if frames.is_empty() {
        return Ok(());
    }
    for frame in frames {
        // SAFETY: a `TextFrame` can only be built from a `String`, so its bytes are UTF-8.
        let text = unsafe { Utf8Bytes::from_bytes_unchecked(frame.into_bytes()) };
        ws.feed(Message::Text(text)).await?;
    }
    ws.flush().await
}

/// Sends a close frame and waits briefly for the client's answer.
async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// The close a client's broken frame earns (RFC 6455 section 7.4.1); `None` when the
/// connection itself is gone and nothing can be sent.
fn close_for(error: &WsError) -> Option<(CloseCode, &'static str)> {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            Some((CloseCode::Size, "frame too large"))
        }
        WsError::Utf8(_) => Some((CloseCode::Invalid, "invalid utf-8 in a text frame")),
        WsError::Protocol(_) | WsError::Capacity(_) => {
            Some((CloseCode::Protocol, "protocol error"))
        }
        _ => None,
    }
}

fn close_code(reason: CloseReason) -> CloseCode {
    CloseCode::from(reason.code())
}
