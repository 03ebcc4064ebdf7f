//! A whole node: binds both listeners, starts the supervisor, serves until told to stop, then
//! shuts down as SPEC 7 asks: stop accepting, send every socket close 1001, wait at most the
//! grace period for them to go; REST answers 503 for new work meanwhile, then stops too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use switchyard_actors::fabric::Fabric;
use switchyard_actors::outbox::CloseReason;
use switchyard_actors::supervisor::{Supervisor, SupervisorMsg};

use crate::auth::{AuthSetupError, DirectoryError, NodeAuthority};
use crate::bus::Bus;
use crate::config::{BusSetting, Settings};
use crate::http::{self, HttpContext};
use crate::lifecycle::{Lifecycle, Phase};
use crate::tcp::{FD_RESERVE, raise_open_file_limit};
use crate::tls::{Tls, TlsError};
use crate::ws::{self, AdmissionLimits, WsOptions};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {setting} {addr}: {source}")]
    Bind {
        setting: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot start the supervisor: {0}")]
    Supervisor(#[from] ractor::SpawnErr),
    #[error(
        "max_connections {websockets} and max_rest_connections {rest} need {needed} file \
         descriptors with the node's own {reserve}, but the open-file limit is {limit}: lower \
         them (at most {limit} in all) or raise the limit (ulimit -n)"
    )]
    DescriptorBudget {
        websockets: usize,
        rest: usize,
        reserve: usize,
        needed: usize,
        limit: usize,
    },
}

/// A running node.
pub struct Node {
    ws_addr: SocketAddr,
    http_addr: SocketAddr,
    authority: Arc<NodeAuthority>,
    fabric: Arc<Fabric>,
    supervisor: ActorRef<SupervisorMsg>,
    lifecycle: Arc<Lifecycle>,
    tls: Option<Tls>,
    done: JoinHandle<()>,
}

impl Node {
    /// Binds and starts serving; returns once both listeners are bound.
    pub async fn start(settings: Settings) -> Result<Node, StartError> {
        check_descriptor_budget(&settings)?;
        let tls = Tls::from_settings(&settings)?;
        let authority = Arc::new(NodeAuthority::from_settings(&settings)?);
        let ws_listener = bind("ws_listen", settings.ws_listen)?;
        let http_listener = bind("http_listen", settings.http_listen)?;
        let ws_addr = local_addr("ws_listen", &ws_listener, settings.ws_listen)?;
        let http_addr = local_addr("http_listen", &http_listener, settings.http_listen)?;

        let fabric = Fabric::new(
            authority.clone(),
            settings.limits(),
            settings.node_name.clone(),
        );
        let (supervisor, supervisor_done) = Actor::spawn(None, Supervisor, fabric.clone()).await?;
        let bus = Arc::new(match &settings.bus {
            BusSetting::Embedded => Bus::embedded(fabric.clone()),
            BusSetting::Amqp(url) => Bus::amqp(
                url.clone(),
                settings.node_name.clone(),
                fabric.clone(),
                supervisor.clone(),
            ),
        });
        let lifecycle = Arc::new(Lifecycle::new(supervisor.clone()));
        let sockets = TaskTracker::new();

        let ws_task = tokio::spawn(ws::serve(
            ws_listener,
            supervisor.clone(),
            WsOptions {
                admission: AdmissionLimits {
                    max_connections: settings.max_connections,
                    max_connections_per_ip: settings.max_connections_per_ip,
                    max_handshakes: settings.max_handshakes,
                },
                max_frame_bytes: settings.max_frame_bytes,
                ping_interval: settings.ping_interval,
                idle_timeout: settings.idle_timeout,
                tls: tls.as_ref().map(|tls| tls.acceptor()),
                metrics: fabric.metrics.clone(),
            },
            sockets.clone(),
            lifecycle.watch(),
        ));
        let ctx = Arc::new(HttpContext::new(
            fabric.clone(),
            supervisor.clone(),
            bus.clone(),
            settings.query_timeout,
            settings.max_rest_connections,
            lifecycle.clone(),
            settings.drain_duration,
        ));
        // REST goes on while the sockets close, answering 503 for new work.
        let (stop_rest, rest_stopped) = oneshot::channel::<()>();
        let rest_tls = tls.as_ref().map(|tls| tls.acceptor());
        let http_task = tokio::spawn(http::serve(http_listener, ctx, rest_tls, async move {
            let _ = rest_stopped.await;
        }));

        let grace = settings.shutdown_grace;
        let done = tokio::spawn({
            let mut phase = lifecycle.watch();
            let supervisor = supervisor.clone();
            async move {
                let _ = phase.wait_for(|phase| *phase == Phase::Stopping).await;
                let _ = ws_task.await;
                close_all(&supervisor, sockets, grace).await;
                let _ = stop_rest.send(());
                let _ = http_task.await;
                bus.shutdown().await;
                supervisor.stop(None);
                let _ = supervisor_done.await;
            }
        });
        Ok(Node {
            ws_addr,
            http_addr,
            authority,
            fabric,
            supervisor,
            lifecycle,
            tls,
            done,
        })
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn fabric(&self) -> &Arc<Fabric> {
        &self.fabric
    }

    pub fn authority(&self) -> &Arc<NodeAuthority> {
        &self.authority
    }

    /// Rereads the account directory (SIGHUP) and applies it to live sockets: those of accounts
    /// it no longer has are closed (4001), the others drop the bindings it no longer allows.
    /// On error the directory in use stays, and so does every binding.
    pub fn reload_directory(&self) -> Result<(), DirectoryError> {
        let removed = self.authority.reload_directory()?;
        let _ = self
            .supervisor
            .cast(SupervisorMsg::RightsChanged { removed });
        Ok(())
    }

    /// Rereads the TLS certificate and key (SIGHUP), for the connections made from now on;
    /// `Ok(false)` when the node has no TLS. On error the pair in use stays.
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Begins the graceful shutdown; [`Node::stopped`] waits for its end.
    pub fn shutdown(&self) {
        self.lifecycle.stop();
    }

    /// Serving, draining or stopping; and the drain (SIGUSR1, `POST /v2/drain`).
    pub fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.lifecycle
    }

    pub async fn stopped(self) {
        let _ = self.done.await;
    }
}

/// Every websocket and REST connection the settings allow must fit in the open-file limit with
/// room to spare, or a flood of websockets would leave REST and `/healthz` without descriptors.
fn check_descriptor_budget(settings: &Settings) -> Result<(), StartError> {
    let limit = raise_open_file_limit();
    let (websockets, rest) = (settings.max_connections, settings.max_rest_connections);
    let needed = websockets.saturating_add(rest).saturating_add(FD_RESERVE);
    if needed > limit {
        return Err(StartError::DescriptorBudget {
            websockets,
            rest,
            reserve: FD_RESERVE,
            needed,
            limit,
        });
    }
    Ok(())
}

/// Asks every socket to close with 1001 and waits until every socket's task has ended, or
/// `grace` has passed. The listener has stopped: no task joins `sockets` any more.
async fn close_all(supervisor: &ActorRef<SupervisorMsg>, sockets: TaskTracker, grace: Duration) {
    let _ = supervisor.cast(SupervisorMsg::CloseAll(CloseReason::GoingAway));
    sockets.close();
    let _ = tokio::time::timeout(grace, sockets.wait()).await;
}

/// Connections the kernel completes and queues before the node accepts them. std's default
/// (128) overflows when many clients connect at once (every dashboard reconnecting after a
/// restart): each overflowing SYN is dropped and retried a second later. The kernel caps this
/// at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(setting: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    let refused = |source| StartError::Bind {
        setting,
        addr,
        source,
    };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(refused)?;
    // As std's bind does: a restarted node may reuse its port while old connections linger.
    socket.set_reuseaddr(true).map_err(refused)?;
    socket.bind(addr).map_err(refused)?;
    socket.listen(LISTEN_BACKLOG).map_err(refused)
}

fn local_addr(
    setting: &'static str,
    listener: &TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        setting,
        addr,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped() {
        let listener = bind("ws_listen", "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Nobody accepts: every connection must still complete, queued by the kernel. With
        // std's backlog of 128 the rest would be dropped and never complete.
        let mut clients = Vec::new();
        for _ in 0..300 {
            let connect = tokio::net::TcpStream::connect(addr);
            let client = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .expect("connects without a SYN retry")
                .expect("connects");
            clients.push(client);
        }
        drop(listener);
    }

    #[test]
    fn a_taken_port_names_the_setting() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = bind("http_listen", addr).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("cannot listen on http_listen {addr}")),
            "{error}"
        );
    }
}
