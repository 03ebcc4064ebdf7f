//! The REST edge (SPEC 6), on warp. One catch-all filter hands (method, path, query, headers,
//! body) to [`routes::resolve`] and the matching handler, so that the order of checks is ours
//! rather than warp's rejection ranking.

mod across_nodes;
mod envelope;
mod handlers;
mod metrics;
mod routes;
mod server;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use ractor::ActorRef;
use tokio::sync::{Semaphore, SemaphorePermit};
use warp::Filter;
use warp::http::header::{ALLOW, HeaderValue};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

use switchyard_actors::fabric::Fabric;
use switchyard_actors::id::fresh_id;
use switchyard_actors::supervisor::SupervisorMsg;

use crate::bus::Bus;
use crate::lifecycle::{Lifecycle, Phase};
use envelope::Envelope;
use handlers::Refusal;
use routes::{Route, RouteError};

pub(crate) use server::serve;

/// The largest request body taken (`POST /v2/events`).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long a request body may take to arrive once the request is admitted.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Publish bodies read at once: 16 MiB each at most.
const BODIES_IN_FLIGHT: usize = 4;
/// Whole lists (the heavy query) built at once; the others wait, up to `query_timeout`.
const LISTS_IN_FLIGHT: usize = 4;

pub(crate) struct HttpContext {
    pub fabric: Arc<Fabric>,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub bus: Arc<Bus>,
    pub query_timeout: Duration,
    /// REST connections open at once.
    pub max_connections: usize,
    /// Permits to read a publish body.
    bodies: Semaphore,
    /// Permits to build a whole list.
    lists: Semaphore,
    pub lifecycle: Arc<Lifecycle>,
    /// How long a drain takes when its caller does not say.
    pub drain_duration: Duration,
    metrics: metrics::Exposition,
}

impl HttpContext {
    pub(crate) fn new(
        fabric: Arc<Fabric>,
        supervisor: ActorRef<SupervisorMsg>,
        bus: Arc<Bus>,
        query_timeout: Duration,
        max_connections: usize,
        lifecycle: Arc<Lifecycle>,
        drain_duration: Duration,
    ) -> Self {
        let metrics = metrics::Exposition::new(&fabric, bus.cluster().map(|bus| bus.metrics()));
        Self {
            fabric,
            supervisor,
            bus,
            query_timeout,
            max_connections,
            bodies: Semaphore::new(BODIES_IN_FLIGHT),
            lists: Semaphore::new(LISTS_IN_FLIGHT),
            lifecycle,
            drain_duration,
            metrics,
        }
    }
}

pub(crate) fn api(
    ctx: Arc<HttpContext>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method, path: warp::path::FullPath, query: String, headers, body| {
                let ctx = ctx.clone();
                async move {
                    let started = Instant::now();
                    let (route, answer) =
                        answer(&ctx, method, path.as_str(), &query, &headers, body).await;
                    ctx.metrics
                        .rest
                        .answered(route, answer.status(), started.elapsed());
                    with_cors(answer)
                }
            },
        )
}

async fn answer<S, B>(
    ctx: &HttpContext,
    method: Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: S,
) -> (&'static str, Response)
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let request_id = request_id(headers);
    let envelope = Envelope {
        node: &ctx.fabric.node_name,
        request_id: &request_id,
    };
    let token = token(headers);
    let route = match routes::resolve(&method, path) {
        Ok(route) => route,
        Err(RouteError::NotFound) => {
            return (
                UNMATCHED,
                envelope.error(StatusCode::NOT_FOUND, "not found"),
            );
        }
        Err(RouteError::MethodNotAllowed { allowed }) if method == Method::OPTIONS => {
            return (UNMATCHED, preflight(allowed));
        }
        Err(RouteError::MethodNotAllowed { allowed }) => {
            let mut refused = envelope.error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            refused
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            return (UNMATCHED, refused);
        }
    };
    let label = route.label();
    let phase = ctx.lifecycle.phase();
    if let (Phase::Stopping, Some(reason)) = (phase, phase.refusal())
        && !route.observes()
    {
        return (
            label,
            envelope.error(StatusCode::SERVICE_UNAVAILABLE, reason),
        );
    }
    let answered = match route {
        Route::Catalogue => handlers::catalogue(&envelope),
        Route::AccountSockets { account } => {
            let query = parse_query(query);
            handlers::list_sockets(ctx, &envelope, token, &account, &query).await
        }
        Route::AccountSocket { account, socket_id } => {
            handlers::find_socket(ctx, &envelope, token, &account, &socket_id).await
        }
        Route::KickSocket { account, socket_id } => {
            handlers::kick_socket(ctx, &envelope, token, &account, &socket_id).await
        }
        Route::PublishEvents => handlers::publish_events(ctx, &envelope, token, body).await,
        Route::Drain => handlers::drain(ctx, &envelope, token, &parse_query(query)).await,
        Route::Metrics => handlers::metrics(ctx).await,
        Route::OpenApi => Ok(handlers::openapi()),
        Route::Healthz => handlers::health(&envelope, true, "alive"),
        Route::Readyz => match phase.refusal() {
            Some(reason) => Err(Refusal(StatusCode::SERVICE_UNAVAILABLE, reason.to_string())),
            None => handlers::health(&envelope, ctx.bus.is_ready(), "ready"),
        },
    };
    let response =
        answered.unwrap_or_else(|Refusal(status, message)| envelope.error(status, &message));
    (label, response)
}

/// `X-Request-ID` when the client sent one, else a fresh id.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .unwrap_or_else(fresh_id)
}

/// The `route` of requests that name no route: unknown paths, wrong methods, preflights.
const UNMATCHED: &str = "unmatched";

/// An error answer for a request refused before routing.
fn refuse(
    ctx: &HttpContext,
    headers: &HeaderMap,
    (status, message): (StatusCode, &str),
) -> Response {
    ctx.metrics.rest.answered(UNMATCHED, status, Duration::ZERO);
    let request_id = request_id(headers);
    let envelope = Envelope {
        node: &ctx.fabric.node_name,
        request_id: &request_id,
    };
    with_cors(envelope.error(status, message))
}

/// A permit of `permits`, waiting at most `patience`: `None` past it.
async fn within<'a>(permits: &'a Semaphore, patience: Duration) -> Option<SemaphorePermit<'a>> {
    tokio::time::timeout(patience, permits.acquire())
        .await
        .ok()?
        .ok()
}

/// A browser's CORS preflight: the methods the path takes; [`with_cors`] adds the rest.
fn preflight(allowed: &'static str) -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ALLOW, HeaderValue::from_static(allowed));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(allowed),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type, X-Auth-Token, X-Request-ID, Authorization"),
    );
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

/// Browser dashboards call the API from their own origin, as they do KAZOO's crossbar; a token,
/// not a cookie, authenticates, so any origin may read the answers.
fn with_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("X-Request-ID"),
    );
    response
}

/// `X-Auth-Token`, or a bearer token in `Authorization`.
fn token(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(token);
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `a=1&b=x%20y` → pairs, percent- and plus-decoded.
fn parse_query(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The whole body, refused past [`MAX_BODY_BYTES`] or [`BODY_TIMEOUT`].
async fn read_body<S, B>(body: S) -> Result<Bytes, Refusal>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    tokio::time::timeout(BODY_TIMEOUT, collect_body(body))
        .await
        .unwrap_or_else(|_| {
            Err(Refusal(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {}s", BODY_TIMEOUT.as_secs()),
            ))
        })
}

async fn collect_body<S, B>(mut body: S) -> Result<Bytes, Refusal>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let mut collected = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|error| {
            Refusal(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {error}"),
            )
        })?;
        if collected.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(Refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            collected.extend_from_slice(piece);
            let len = piece.len();
            chunk.advance(len);
        }
    }
    Ok(collected.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        let query = parse_query("page_size=2&start_key=a%2Fb+c&flag");
        assert_eq!(query["page_size"], "2");
        assert_eq!(query["start_key"], "a/b c");
        assert_eq!(query["flag"], "");
        assert_eq!(parse_query("k=100%")["k"], "100%");
        assert_eq!(parse_query("k=%zz")["k"], "%zz");
        assert_eq!(parse_query("k=%41%")["k"], "A%");
    }
}
