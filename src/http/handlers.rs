//! One function per REST request (SPEC 6). Each authenticates and authorizes, asks the fabric
//! by message with a deadline, and renders the envelope. Checks run in the spec's order:
//! 401, 403, 404, 400, 503.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use futures_util::Stream;
use ractor::RpcReplyPort;
use ractor::rpc::CallResult;
use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::http::header::{CONTENT_TYPE, HeaderValue};
use warp::reply::Response;

use switchyard_actors::account::AccountId;
use switchyard_actors::bindings;
use switchyard_actors::description::Description;
use switchyard_actors::event::{BusMessage, Event};
use switchyard_actors::supervisor::{PageRequest, QueryError, SupervisorMsg};

use super::envelope::{Envelope, Paging};
use super::metrics;
use super::{HttpContext, read_body, within};

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
    // A whole list is the one heavy query: a bounded number are built at once.
    let _building = match page.size {
        Some(_) => None,
        None => Some(
            within(&ctx.lists, ctx.query_timeout)
                .await
                .ok_or_else(Refusal::unavailable)?,
        ),
    };
    let answer = ctx
        .supervisor
        .call(
            |reply| SupervisorMsg::List {
                account,
                page,
                reply,
            },
            Some(ctx.query_timeout),
        )
        .await;
    let page = match answer {
        Ok(CallResult::Success(Ok(page))) => page,
        Ok(CallResult::Success(Err(QueryError::UnknownStartKey(key)))) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("unknown start_key {key}"),
            ));
        }
        _ => return Err(Refusal::unavailable()),
    };
    let paged = query.contains_key("page_size") || query.contains_key("start_key");
    let paging = Paging {
        page_size: paged.then_some(page.sockets.len()),
        next_start_key: page.next_start_key.as_deref(),
    };
    Ok(envelope.success_paged(&page.sockets, paging))
}

pub(super) async fn find_socket(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    socket_id: &str,
) -> Answer {
    let ask = |account, socket_id, reply| SupervisorMsg::Find {
        account,
        socket_id,
        reply,
    };
    ask_about_socket(ctx, envelope, token, account, socket_id, ask).await
}

/// Closes the socket (4000) and answers its last state.
pub(super) async fn kick_socket(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    socket_id: &str,
) -> Answer {
    let ask = |account, socket_id, reply| SupervisorMsg::Kick {
        account,
        socket_id,
        reply,
    };
    ask_about_socket(ctx, envelope, token, account, socket_id, ask).await
}

async fn ask_about_socket(
    ctx: &HttpContext,
    envelope: &Envelope<'_>,
    token: Option<&str>,
    account: &str,
    socket_id: &str,
    ask: impl FnOnce(AccountId, String, RpcReplyPort<Option<Description>>) -> SupervisorMsg,
) -> Answer {
    let account = authorize(ctx, token, account)?;
    let socket_id = socket_id.to_string();
    let answer = ctx
        .supervisor
        .call(
            |reply| ask(account, socket_id, reply),
            Some(ctx.query_timeout),
        )
        .await;
    match answer {
        Ok(CallResult::Success(Some(socket))) => Ok(envelope.success(socket)),
        Ok(CallResult::Success(None)) => {
            Err(Refusal::new(StatusCode::NOT_FOUND, "socket not found"))
        }
        _ => Err(Refusal::unavailable()),
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
    let events =
        parse_events(&body).map_err(|message| Refusal::new(StatusCode::BAD_REQUEST, message))?;
    let accepted = ctx.bus.publish(events).await;
    Ok(envelope.success(json!({"accepted": accepted})))
}

pub(super) fn metrics(ctx: &HttpContext) -> Answer {
    let mut response = Response::new(metrics::render(&ctx.fabric.metrics).into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
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
fn parse_events(body: &Bytes) -> Result<Vec<Event>, String> {
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
            Event::from_bus(message).map_err(|error| format!("message {at}: {error}"))
        })
        .collect()
}
