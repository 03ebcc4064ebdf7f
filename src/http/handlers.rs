//! One function per REST request (SPEC 6). Each authenticates and authorizes, asks the fabric
//! by message with a deadline, and renders the envelope. Checks run in the spec's order:
//! 401, 403, 404, 400, 503.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use futures_util::Stream;
use ractor::rpc::CallResult;
use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::http::header::{CONTENT_TYPE, HeaderValue};
use warp::reply::Response;

use switchyard_actors::account::AccountId;
use switchyard_actors::bindings;
use switchyard_actors::event::BusMessage;
use switchyard_actors::supervisor::{FoundSocket, Page, PageRequest, QueryError, SupervisorMsg};

use super::across_nodes;
use super::envelope::{Envelope, Paging};
use super::metrics;
use super::{HttpContext, read_body, within};
use crate::bus::{AmqpBus, Ask, Bus, Outgoing};
use crate::config::parse_duration;
use crate::lifecycle::DrainError;

/// A request refused, with its status and message.
pub(super) struct Refusal(pub StatusCode, pub String);

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid credentials")
    }
    fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "socket not found")
    }
    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time",
        )
    }
}

pub(super) type Answer = Result<Response, Refusal>;

pub(super) fn catalogue(envelope: &Envelope) -> Answer {
    Ok(envelope.success(bindings::catalogue()))
}

pub(super) async fn list_sockets(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    query: &HashMap<String, String>,
) -> Answer {
    let account = authorize(ctx, token, account)?;
    let page = page_request(query)?;
    let paged = query.contains_key("page_size") || query.contains_key("start_key");
    // A whole list is the one heavy query: a bounded number are built at once.
    let whole = page.size.is_none() || ctx.bus.cluster().is_some();
    let _building = if whole {
        Some(
            within(&ctx.lists, ctx.query_timeout)
                .await
                .ok_or_else(Refusal::unavailable)?,
        )
    } else {
        None
    };
    if let Some(cluster) = ctx.bus.cluster() {
        return list_across_nodes(ctx, envelope, cluster, &account, &page, paged).await;
    }
    let page = local_page(ctx, &account, page).await?;
    let paging = Paging {
        page_size: paged.then_some(page.sockets.len()),
        next_start_key: page.next_start_key.as_deref(),
        partial: false,
    };
    Ok(envelope.success_paged(&page.sockets, paging))
}

/// Cluster mode: this node's whole list and every other node's, merged, then paged.
async fn list_across_nodes(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    cluster: &AmqpBus,
    account: &AccountId,
    page: &PageRequest,
    paged: bool,
) -> Answer {
    let (local, gathered) = tokio::join!(
        local_page(ctx, account, PageRequest::default()),
        cluster.ask(Ask::List {
            account: account.as_str()
        })
    );
    let partial = gathered.partial;
    let union = across_nodes::merge(across_nodes::lists_of(account, &local?.sockets, gathered));
    let (sockets, next) = across_nodes::page(union, page).map_err(Refusal::from)?;
    let paging = Paging {
        page_size: paged.then_some(sockets.len()),
        next_start_key: next.as_deref(),
        partial,
    };
    Ok(envelope.success_paged(&sockets, paging))
}

/// This node's sockets of `account`.
async fn local_page(
    ctx: &HttpContext,
    account: &AccountId,
    page: PageRequest,
) -> Result<Page, Refusal> {
    let answer = ctx
        .supervisor
        .call(
            |reply| SupervisorMsg::List {
                account: account.clone(),
                page,
                reply,
            },
            Some(ctx.query_timeout),
        )
        .await;
    match answer {
        Ok(CallResult::Success(page)) => page.map_err(Refusal::from),
        _ => Err(Refusal::unavailable()),
    }
}

impl From<QueryError> for Refusal {
    fn from(error: QueryError) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, error.to_string())
    }
}

pub(super) async fn find_socket(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    socket_id: &str,
) -> Answer {
    ask_about_socket(ctx, envelope, token, account, socket_id, Question::Find).await
}

/// Closes the socket (4000), wherever it is, and answers its last state.
pub(super) async fn kick_socket(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    socket_id: &str,
) -> Answer {
    ask_about_socket(ctx, envelope, token, account, socket_id, Question::Close).await
}

#[derive(Clone, Copy)]
enum Question {
    Find,
    Close,
}

/// This node first; in cluster mode, the others when it does not hold the socket.
async fn ask_about_socket(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    socket_id: &str,
    question: Question,
) -> Answer {
    let account = authorize(ctx, token, account)?;
    let ask_here = |reply| {
        let (account, socket_id) = (Some(account.clone()), socket_id.to_string());
        match question {
            Question::Find => SupervisorMsg::Find {
                account,
                socket_id,
                reply,
            },
            Question::Close => SupervisorMsg::Kick {
                account,
                socket_id,
                reply,
            },
        }
    };
    let found: Option<FoundSocket> =
        match ctx.supervisor.call(ask_here, Some(ctx.query_timeout)).await {
            Ok(CallResult::Success(found)) => found,
            _ => return Err(Refusal::unavailable()),
        };
    if let Some(found) = found {
        return Ok(envelope.success(found.description));
    }
    let Some(cluster) = ctx.bus.cluster() else {
        return Err(Refusal::not_found());
    };
    let ask_others = match question {
        Question::Find => Ask::Find {
            account: account.as_str(),
            socket_id,
        },
        Question::Close => Ask::Close {
            account: account.as_str(),
            socket_id,
        },
    };
    let gathered = cluster.ask(ask_others).await;
    let partial = gathered.partial;
    match across_nodes::socket_in(&account, gathered) {
        Some(socket) => Ok(envelope.success(socket)),
        None if partial => Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not every node answered: the socket may be on one that did not; retry",
        )),
        None => Err(Refusal::not_found()),
    }
}

/// The caller is checked before a byte of the body is read, so that nobody without a
/// superduper token can make the node hold a body.
pub(super) async fn publish_events<S, B>(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    body: S,
) -> Answer
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let caller = authenticate(ctx, token)?;
    if !ctx.fabric.authority.is_superduper(&caller) {
        return Err(Refusal::forbidden());
    }
    let Some(_reading) = within(&ctx.bodies, ctx.query_timeout).await else {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many publishes under way; retry",
        ));
    };
    let body = read_body(body).await?;
    let events = parse_events(&ctx.bus, &body)
        .map_err(|message| Refusal::new(StatusCode::BAD_REQUEST, message))?;
    let accepted = ctx
        .bus
        .publish(events)
        .await
        .map_err(|error| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))?;
    Ok(envelope.success(json!({"accepted": accepted})))
}

pub(super) async fn metrics(ctx: &HttpContext) -> Answer {
    let text = ctx.metrics.render(&ctx.supervisor, ctx.query_timeout).await;
    let mut response = Response::new(text.into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(response)
}

/// `POST /v2/drain[?duration=30s]`, superduper only: this node stops taking sockets and closes
/// the ones it holds over `duration` (default `drain_duration`).
pub(super) async fn drain(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    query: &HashMap<String, String>,
) -> Answer {
    let caller = authenticate(ctx, token)?;
    if !ctx.fabric.authority.is_superduper(&caller) {
        return Err(Refusal::forbidden());
    }
    let over = match query.get("duration") {
        None => ctx.drain_duration,
        Some(text) => parse_duration(text, true).map_err(|problem| {
            Refusal::new(StatusCode::BAD_REQUEST, format!("duration: {problem}"))
        })?,
    };
    let sockets = ctx
        .lifecycle
        .drain(over)
        .await
        .map_err(|error| match error {
            DrainError::Stopping => {
                Refusal::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            DrainError::Unanswered => Refusal::unavailable(),
        })?;
    let mut answer = envelope.success(json!({
        "draining": true,
        "sockets": sockets,
        "duration": humantime::format_duration(over).to_string(),
    }));
    *answer.status_mut() = StatusCode::ACCEPTED;
    Ok(answer)
}

/// `docs/openapi.json`, as built into the binary.
pub(super) fn openapi() -> Response {
    let mut response = Response::new(super::routes::OPENAPI.into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(super) fn health(envelope: &Envelope, healthy: bool, what: &str) -> Answer {
    if healthy {
        Ok(envelope.success(json!({ what: true })))
    } else {
        Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not {what}"),
        ))
    }
}

fn authenticate(ctx: &HttpContext, token: Option<&str>) -> Result<AccountId, Refusal> {
    let token = token.ok_or_else(Refusal::unauthorized)?;
    ctx.fabric
        .authority
        .authenticate(token)
        .map_err(|_| Refusal::unauthorized())
}

/// 401 without a good token, 403 when the caller may not act on `account`.
fn authorize(ctx: &HttpContext, token: Option<&str>, account: &str) -> Result<AccountId, Refusal> {
    let caller = authenticate(ctx, token)?;
    let Ok(account) = AccountId::parse(account) else {
        return Err(Refusal::new(StatusCode::NOT_FOUND, "unknown account id"));
    };
    if ctx.fabric.authority.may_act_on(&caller, &account) {
        Ok(account)
    } else {
        Err(Refusal::forbidden())
    }
}

fn page_request(query: &HashMap<String, String>) -> Result<PageRequest, Refusal> {
    let size = match query.get("page_size") {
        None => None,
        Some(raw) => match raw.parse::<usize>() {
            Ok(size @ 1..=1000) => Some(size),
            _ => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "page_size must be a whole number from 1 to 1000",
                ));
            }
        },
    };
    Ok(PageRequest {
        size,
        start_key: query.get("start_key").cloned(),
    })
}

/// One bus message, an array of them, or newline-delimited ones; refused whole when any one
/// is bad, naming the first.
fn parse_events(bus: &Bus, body: &Bytes) -> Result<Vec<Outgoing>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Err(
            "the body is empty: send a bus message, an array of them, or one per line".into(),
        );
    }
    let messages: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(messages)) => messages,
        Ok(message) => vec![message],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(at, line)| {
                serde_json::from_str(line)
                    .map_err(|error| format!("line {}: invalid JSON: {error}", at + 1))
            })
            .collect::<Result<_, _>>()?,
    };
    messages
        .into_iter()
        .enumerate()
        .map(|(at, message)| {
            let message: BusMessage = serde_json::from_value(message)
                .map_err(|error| format!("message {at}: {error}"))?;
            bus.prepare(message)
                .map_err(|error| format!("message {at}: {error}"))
        })
        .collect()
}
