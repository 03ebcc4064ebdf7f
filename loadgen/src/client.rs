//! One load-generator websocket client: connect from a chosen source address, subscribe, count
//! what arrives, leave cleanly.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::event_frame::{self, Frame};
use super::tally::{SeqWindow, Tally};
use super::tls::Trust;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a leaving client waits for the node's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Small buffers: a load generator holds tens of thousands of clients, each receiving short
/// frames (tungstenite's defaults would cost 128 KiB of read buffer per client).
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
}

/// Why a client did not get connected and subscribed. The text is the reason it is counted under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientError {
    /// The node answered the subscription with an error: not load, a wrong setup.
    #[error("the node refused the subscription: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// `ws://host:port/path` or `wss://…`, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
    /// Set for wss://: what the node's certificate is checked against.
    trust: Option<Trust>,
}

impl Endpoint {
    pub(crate) fn parse(raw: &str, trust: &Trust) -> Result<Endpoint, String> {
        let (url, addr) = super::node_url::parse(raw, &["ws", "wss"], "a ws:// or wss:// URL")?;
        Ok(Endpoint {
            trust: (url.scheme() == "wss").then(|| trust.clone()),
            url: url.to_string(),
            addr,
        })
    }
}

/// TCP connect (from `source` when given) and the websocket handshake.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    source: Option<IpAddr>,
) -> Result<Socket, ClientError> {
    let failed = |what: &str, e: std::io::Error| ClientError::Failed(format!("{what}: {e}"));
    let socket = match endpoint.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| failed("socket", e))?;
    if let Some(source) = source {
        bind_without_port(&socket);
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| failed("bind", e))?;
    }
    let stream = socket
        .connect(endpoint.addr)
        .await
        .map_err(|e| failed("connect", e))?;
    let _ = stream.set_nodelay(true);
    // Always named: without a connector tungstenite would build one of its own for every
    // connection, reading the system's certificates while the node waits for the request.
    let tls = match &endpoint.trust {
        Some(trust) => Connector::Rustls(trust.config()),
        None => Connector::Plain,
    };
    let (socket, _response) = tokio_tungstenite::client_async_tls_with_config(
        endpoint.url.as_str(),
        stream,
        Some(websocket_config()),
        Some(tls),
    )
    .await
    .map_err(|e| match e {
        WsError::Http(response) => {
            ClientError::Failed(format!("handshake: HTTP {}", response.status()))
        }
        other => ClientError::Failed(format!("handshake: {other}")),
    })?;
    Ok(socket)
}

/// Lets the kernel pick the source port at `connect`, by the whole 4-tuple, instead of at `bind`:
/// otherwise every bound client would use up a port of the source address for any destination.
fn bind_without_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a c_int option of the size passed; failure only means the
    // kernel picks ports at bind time, as without the option.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// Sends the subscription and waits for its reply; events that arrive before it are ignored.
pub(crate) async fn subscribe(
    socket: &mut Socket,
    token: &str,
    account: &str,
    bindings: &[String],
    request_id: &str,
) -> Result<(), ClientError> {
    let frame = json!({
        "action": "subscribe",
        "auth_token": token,
        "request_id": request_id,
        "name": "switchyard-loadgen",
        "data": {"account_id": account, "bindings": bindings},
    });
    socket
        .send(Message::text(frame.to_string()))
        .await
        .map_err(|e| ClientError::Failed(format!("subscribe: {e}")))?;
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                return Err(ClientError::Failed(format!(
                    "closed by the node before the subscription reply{}",
                    frame
                        .map(|f| format!(" ({} {})", f.code, f.reason))
                        .unwrap_or_default()
                )));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ClientError::Failed(format!("subscribe: {e}"))),
            None => {
                return Err(ClientError::Failed(
                    "closed by the node before the subscription reply".to_string(),
                ));
            }
        };
        let Ok(reply) = serde_json::from_str::<Reply>(&text) else {
            return Err(ClientError::Failed(format!(
                "unreadable frame from the node: {}",
                &text[..text.len().min(120)]
            )));
        };
        if reply.action != "reply" {
            continue;
        }
        return match reply.status.as_deref() {
            Some("success") => Ok(()),
            _ => Err(ClientError::Refused(
                reply
                    .data
                    .as_ref()
                    .and_then(|d| d["errors"].as_array())
                    .map(|errors| {
                        errors
                            .iter()
                            .filter_map(|e| e.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_else(|| text.to_string()),
            )),
        };
    }
}

/// What ended a client's receiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The run asked it to leave (or its hold time passed).
    Asked,
    /// The node closed the socket or the connection broke.
    ByNode,
}

/// Counts events until `stop` turns true or `until` passes, then leaves with a close handshake.
pub(crate) async fn receive(
    mut socket: Socket,
    bindings: &[String],
    reorder_window: usize,
    tally: &Tally,
    mut stop: watch::Receiver<bool>,
    until: Option<tokio::time::Instant>,
) -> Ended {
    let mut seen = SeqWindow::new(reorder_window);
    let hold_over = async {
        match until {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(hold_over);
    // One waiter for the whole hold: a fresh one per frame would queue on the watch's lock.
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    let ended = loop {
        tokio::select! {
            _ = &mut stopped => break Ended::Asked,
            () = &mut hold_over => break Ended::Asked,
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => count(&text, bindings, tally, &mut seen),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Ended::ByNode,
                Some(Ok(_)) => {}
            },
        }
    };
    if ended == Ended::Asked {
        leave(&mut socket).await;
    }
    ended
}

/// Counts one frame: a targeted scan of event frames ([`event_frame`]), so that the load
/// generator spends less per delivery than the node it measures.
fn count(text: &str, bindings: &[String], tally: &Tally, seen: &mut SeqWindow) {
    use std::sync::atomic::Ordering::Relaxed;
    let (subscribed_key, stamp) = match event_frame::read(text) {
        Frame::Other => return,
        Frame::Unreadable => {
            tally.unreadable.fetch_add(1, Relaxed);
            return;
        }
        Frame::Event {
            subscribed_key,
            stamp,
        } => (subscribed_key, stamp),
    };
    tally.deliveries.fetch_add(1, Relaxed);
    let Some(stamp) = stamp else {
        tally.unstamped.fetch_add(1, Relaxed);
        return;
    };
    tally.record_latency(unix_micros().saturating_sub(stamp.sent_us));
    let for_its_binding = bindings
        .get(stamp.binding)
        .is_some_and(|b| *subscribed_key == **b);
    if !for_its_binding {
        tally.extra.fetch_add(1, Relaxed);
    } else if seen.first_time(stamp.seq) {
        tally.received.fetch_add(1, Relaxed);
    } else {
        tally.duplicates.fetch_add(1, Relaxed);
    }
}

/// Close handshake: send ours, read until the node's arrives (bounded).
pub(crate) async fn leave(socket: &mut Socket) {
    let _ = socket.close(None).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// Microseconds since the Unix epoch: the clock every process of a run shares.
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn endpoints() {
        let trust = Trust::new(None).unwrap();
        let e = Endpoint::parse("ws://127.0.0.1:5555", &trust).unwrap();
        assert_eq!(e.url, "ws://127.0.0.1:5555/");
        assert_eq!(e.addr, "127.0.0.1:5555".parse().unwrap());
        assert!(e.trust.is_none());
        let e = Endpoint::parse("ws://localhost:9/x", &trust).unwrap();
        assert_eq!(e.url, "ws://localhost:9/x");
        let e = Endpoint::parse("wss://127.0.0.1:5555", &trust).unwrap();
        assert!(e.trust.is_some());
        for bad in ["http://127.0.0.1:5555", "ws://", "ws://[::1"] {
            assert!(Endpoint::parse(bad, &trust).is_err(), "{bad}");
        }
    }

    fn event(subscribed_key: &str, seq: u64, binding: usize) -> String {
        json!({
            "action": "event",
            "subscribed_key": subscribed_key,
            "data": {"loadgen_seq": seq, "loadgen_binding": binding, "loadgen_sent_us": 1, "x": [1]},
        })
        .to_string()
    }

    #[test]
    fn counting_tells_targets_duplicates_extras_and_strangers() {
        let bindings = vec!["call.*.*".to_string(), "call.CHANNEL_CREATE.*".to_string()];
        let tally = Tally::new(1, 1);
        let mut last = SeqWindow::new(1);
        for text in [
            event("call.*.*", 1, 0),
            event("call.CHANNEL_CREATE.*", 1, 0), // also matches its other binding
            event("call.CHANNEL_CREATE.*", 2, 1),
            event("call.CHANNEL_CREATE.*", 2, 1), // again
            json!({"action": "event", "subscribed_key": "x", "data": {}}).to_string(),
            json!({"action": "reply", "data": {}}).to_string(),
            "not json".to_string(),
            json!({"action": "event", "data": {}}).to_string(),
        ] {
            count(&text, &bindings, &tally, &mut last);
        }
        assert_eq!(tally.deliveries.load(Relaxed), 5);
        assert_eq!(tally.received.load(Relaxed), 2);
        assert_eq!(tally.extra.load(Relaxed), 1);
        assert_eq!(tally.duplicates.load(Relaxed), 1);
        assert_eq!(tally.unstamped.load(Relaxed), 1);
        assert_eq!(tally.unreadable.load(Relaxed), 2);
        assert_eq!(crate::tally::Latencies::merge([tally.latencies()]).len(), 4);
    }
}
