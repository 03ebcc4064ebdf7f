//! Accepts sockets: admission counted from `accept` (refusals answered at once, 429 or 503),
//! our own handshake within [`HANDSHAKE_TIMEOUT`] (a handshake evicted by a newcomer ends at
//! once), then one connection task each.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use switchyard_actors::log_limit::LogLimit;
use switchyard_actors::metrics::{Metrics, Refusal};
use switchyard_actors::supervisor::SupervisorMsg;

use super::admission::{AdmissionLimits, Admissions, Refused};
use super::connection;
use super::handshake::{self, WS_VERSION_HEADER, refuse};
use super::transport::Transport;
use crate::lifecycle::Phase;
use crate::tcp::turn_away;

/// The websocket settings of a node.
#[derive(Clone)]
pub(crate) struct WsOptions {
    pub(crate) admission: AdmissionLimits,
    pub(crate) max_frame_bytes: usize,
    pub(crate) ping_interval: Duration,
    pub(crate) idle_timeout: Duration,
    /// Set when both listeners speak TLS.
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) metrics: Arc<Metrics>,
}

/// How long a client may take to complete the upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts until the node stops, and answers 503 while it drains. Every socket's task, from its
/// handshake to its close, runs on `sockets`, so that shutdown can wait for the last one.
pub(crate) async fn serve(
    listener: TcpListener,
    supervisor: ActorRef<SupervisorMsg>,
    options: WsOptions,
    sockets: TaskTracker,
    mut phase: watch::Receiver<Phase>,
) {
    let admissions = Admissions::new(options.admission);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = phase.wait_for(|phase| *phase == Phase::Stopping) => break,
        };
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, mostly: back off instead of spinning.
                static ACCEPT_FAILED: LogLimit = LogLimit::new();
                ACCEPT_FAILED
                    .note(|suppressed| tracing::warn!(%error, suppressed, "accept failed"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let refused_now = phase
            .borrow()
            .refusal()
            .map(|reason| ("503 Service Unavailable", reason));
        let admitted = match refused_now {
            Some(refused) => {
                options.metrics.connection_refused(Refusal::Draining);
                Err(refused)
            }
            None => admissions.admit(peer.ip()).map_err(|refused| {
                options.metrics.connection_refused(refused.reason());
                refusal(refused)
            }),
        };
        let mut admission = match admitted {
            Ok(admission) => admission,
            Err((status, reason)) => {
                // Over TLS the client could not read a plain answer, and a handshake is what a
                // full or draining node should not spend: the connection is just closed.
                if options.tls.is_none() {
                    sockets.spawn(async move {
                        turn_away(&mut stream, status, WS_VERSION_HEADER, reason).await
                    });
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let supervisor = supervisor.clone();
        let options = options.clone();
        sockets.spawn(async move {
            let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
            let mut stream = match &options.tls {
                None => Transport::Plain(stream),
                Some(acceptor) => tokio::select! {
                    secured = timeout_at(deadline, acceptor.accept(stream)) => match secured {
                        Ok(Ok(secured)) => Transport::tls(secured),
                        _ => {
                            options.metrics.connection_refused(Refusal::TlsHandshakeFailed);
                            return;
                        }
                    },
                    // Evicted in its TLS handshake: nothing can be answered yet.
                    _ = admission.evicted() => {
                        options.metrics.connection_refused(Refusal::HandshakeEvicted);
                        return;
                    }
                },
            };
            let reading = timeout_at(deadline, handshake::read_upgrade(&mut stream));
            let upgrade = tokio::select! {
                read = reading => read,
                refused = admission.evicted() => {
                    options.metrics.connection_refused(Refusal::HandshakeEvicted);
                    let (status, reason) = refusal(refused);
                    refuse(&mut stream, status, reason).await;
                    return;
                }
            };
            let Ok(Ok(upgrade)) = upgrade else {
                options.metrics.connection_refused(Refusal::BadHandshake);
                return;
            };
            if !admission.open() {
                // Evicted just as its request arrived: it was told why, and is answered so.
                options
                    .metrics
                    .connection_refused(Refusal::HandshakeEvicted);
                let (status, reason) = refusal(admission.evicted().await);
                refuse(&mut stream, status, reason).await;
                return;
            }
            let Ok((stream, already_read)) = handshake::accept(stream, upgrade).await else {
                options.metrics.connection_refused(Refusal::BadHandshake);
                return;
            };
            connection::run(stream, already_read, peer, supervisor, &options).await;
            drop(admission);
        });
    }
}

/// The answer to a connection refused at `accept`: status and reason.
fn refusal(refused: Refused) -> (&'static str, &'static str) {
    match refused {
        Refused::TooManyFromAddress => (
            "429 Too Many Requests",
            "too many connections from this address",
        ),
        Refused::Full => (
            "503 Service Unavailable",
            "the node holds all it can; retry",
        ),
    }
}
