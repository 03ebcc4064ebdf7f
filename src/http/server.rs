//! The REST listener. Every client can reach it, so what one client can hold is bounded: the
//! connections open at once (`max_rest_connections`; past it a new connection is answered 503
//! and closed), the time a request head may take to arrive, which is also how long a kept-alive
//! connection may sit idle, and the size of a head. Request targets that name no path
//! (`CONNECT host:port`) are answered here: warp's path filters cannot take them.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use warp::http::{Method, Request, StatusCode};
use warp::reply::Response;

use switchyard_actors::log_limit::LogLimit;

use super::{HttpContext, api, refuse};
use crate::tcp::turn_away;

/// How long a client may take to send a request head, and how long a kept-alive connection
/// may wait for its next request.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head taken (request line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Serves REST until `shutdown` resolves, then lets the requests under way finish.
pub(crate) async fn serve(
    listener: TcpListener,
    ctx: Arc<HttpContext>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = Arc::new(Semaphore::new(ctx.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    let builder = Arc::new(builder);
    let api = warp::service(api(ctx.clone()));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, mostly: back off instead of spinning.
                    static ACCEPT_FAILED: LogLimit = LogLimit::new();
                    ACCEPT_FAILED
                        .note(|suppressed| tracing::warn!(%error, suppressed, "REST accept failed"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Over TLS a plain answer could not be read: the connection is just closed.
            if tls.is_none() {
                let mut stream = stream;
                tokio::spawn(async move {
                    let status = "503 Service Unavailable";
                    turn_away(&mut stream, status, "", "too many connections; retry").await;
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let api = api.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let answer = match path_less(&request) {
                Some(refusal) => Err(refuse(&ctx, request.headers(), refusal)),
                None => Ok(api.clone().call(request)),
            };
            async move {
                match answer {
                    Ok(routed) => routed.await,
                    Err(refused) => Ok::<Response, Infallible>(refused),
                }
            }
        });
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => {
                    let io = TokioIo::new(stream);
                    let connection = builder.serve_connection_with_upgrades(io, service);
                    let _ = watcher.watch(connection.into_owned()).await;
                }
                Some(acceptor) => {
                    // The handshake has as long as a request head.
                    let handshake =
                        tokio::time::timeout(REQUEST_HEAD_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        let io = TokioIo::new(stream);
                        let connection = builder.serve_connection_with_upgrades(io, service);
                        let _ = watcher.watch(connection.into_owned()).await;
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A request whose target names no path: `CONNECT host:port` (405: no resource here takes
/// CONNECT), or any other method with an authority for a target (400).
fn path_less<B>(request: &Request<B>) -> Option<(StatusCode, &'static str)> {
    if request.uri().path_and_query().is_some() {
        return None;
    }
    Some(if request.method() == Method::CONNECT {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else {
        (StatusCode::BAD_REQUEST, "the request target names no path")
    })
}
