//! Accepts sockets: per-IP admission (429 before the upgrade), the handshake with a tuned
//! `WebSocketConfig`, then one connection task each.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::ActorRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::task::TaskTracker;

use switchyard_actors::supervisor::SupervisorMsg;

use super::connection;

/// The websocket settings of a node.
#[derive(Clone, Debug)]
pub(crate) struct WsOptions {
    pub max_connections_per_ip: usize,
    pub max_frame_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

/// How long a client may take to complete the upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Open sockets per client IP.
#[derive(Default)]
struct PerIp {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted socket's place in its IP's count; given back on drop.
struct Admission {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Admission> {
        let mut open = self.open.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Admission {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Accepts until `shutdown` turns true. Every socket's task, from its handshake to its close,
/// runs on `sockets`, so that shutdown can wait for the last one.
pub(crate) async fn serve(
    listener: TcpListener,
    supervisor: ActorRef<SupervisorMsg>,
    options: WsOptions,
    sockets: TaskTracker,
    mut shutdown: watch::Receiver<bool>,
) {
    let per_ip = Arc::new(PerIp::default());
    let config = websocket_config(options.max_frame_bytes);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, mostly: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let admission = per_ip.admit(peer.ip(), options.max_connections_per_ip);
        let supervisor = supervisor.clone();
        let options = options.clone();
        sockets.spawn(async move {
            let handshake = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                upgrade(stream, admission.is_some(), config),
            );
            let Ok(Ok(ws)) = handshake.await else {
                return;
            };
            connection::run(ws, peer, supervisor, &options).await;
            drop(admission);
        });
    }
}

// The callback's error type is tungstenite's, whatever its size.
#[allow(clippy::result_large_err)]
async fn upgrade(
    stream: TcpStream,
    admitted: bool,
    config: WebSocketConfig,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::Error> {
    let check = move |_request: &Request, response: Response| {
        if admitted {
            Ok(response)
        } else {
            let mut refusal =
                ErrorResponse::new(Some("too many connections from this address".into()));
            *refusal.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            Err(refusal)
        }
    };
    tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)).await
}

/// Small buffers: an idle socket's memory is mostly these (DESIGN: ~7 KB instead of ~135 KB).
fn websocket_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes))
}
