//! Everything that arrives on the node's queue, by the exchange it came through: KAZOO events
//! (routed to sockets), socket queries from other nodes or KAZOO's crossbar (answered),
//! replies to this node's own queries, and heartbeats. A message nobody can use is counted and
//! dropped, with a log line at most every
//! [`LOG_EVERY`](switchyard_actors::log_limit::LOG_EVERY) per cause: a flood of bad messages
//! never floods the log, nor stops the consumer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::message::Delivery;
use ractor::rpc::CallResult;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use switchyard_actors::account::AccountId;
use switchyard_actors::event::{BusMessage, Event};
use switchyard_actors::exchange::Exchange;
use switchyard_actors::log_limit::LogLimit;
use switchyard_actors::supervisor::{FoundSocket, PageRequest, SupervisorMsg};

use super::{Link, Shared, publish_json};
use crate::bus::messages::{
    APP_NAME, APP_VERSION, CATEGORY, CLOSE_REQ, CLOSE_RESP, GET_REQ, GET_RESP, GOODBYE, HEARTBEAT,
    Heartbeat, NODES_EXCHANGE, QUERY_EXCHANGE, REPLY_EXCHANGE, Reply, Request,
};

/// How long answering another node may wait on this node's supervisor.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn dispatch(shared: &Arc<Shared>, link: &Link, delivery: Delivery) {
    let exchange = delivery.exchange.as_str();
    if let Some(exchange) = Exchange::parse(exchange) {
        route_event(shared, exchange, &delivery);
        return;
    }
    match exchange {
        QUERY_EXCHANGE => match serde_json::from_slice::<Request>(&delivery.data) {
            // Our own question comes back to us too: the asker answers for itself.
            Ok(request) if request.server_id == link.queue => {}
            Ok(request) => {
                tokio::spawn(answer(shared.clone(), link.clone(), request));
            }
            Err(error) => unusable(shared, "a query", &error),
        },
        REPLY_EXCHANGE => match serde_json::from_slice::<Reply>(&delivery.data) {
            Ok(reply) => shared.pending.answered(reply),
            Err(error) => unusable(shared, "a reply", &error),
        },
        NODES_EXCHANGE => match serde_json::from_slice::<Heartbeat>(&delivery.data) {
            Ok(beat) if beat.server_id == link.queue => {}
            Ok(beat) if beat.event_name == GOODBYE => shared.peers.left(&beat.server_id),
            Ok(beat) if beat.event_name == HEARTBEAT => {
                shared
                    .peers
                    .heard(&beat.server_id, &beat.node, Instant::now())
            }
            Ok(_) => unusable(shared, "a node message", &"unknown Event-Name"),
            Err(error) => unusable(shared, "a node message", &error),
        },
        other => unusable(
            shared,
            "a message",
            &format_args!("from exchange {other:?}"),
        ),
    }
}

/// A KAZOO event: the payload is the message body, the exchange and key are the message's.
fn route_event(shared: &Shared, exchange: Exchange, delivery: &Delivery) {
    shared.metrics.consumed.inc();
    let payload = match serde_json::from_slice::<Map<String, Value>>(&delivery.data) {
        Ok(payload) => payload,
        Err(error) => {
            shared.metrics.dropped_not_json.inc();
            DROP_LOG.not_json.note(|suppressed| {
                tracing::warn!(%exchange, routing_key = delivery.routing_key.as_str(), %error, suppressed,
                    "dropped an event: the body is not a JSON object")
            });
            return;
        }
    };
    let message = BusMessage {
        exchange: exchange.name().to_string(),
        routing_key: delivery.routing_key.to_string(),
        payload,
    };
    match Event::from_bus(message) {
        Ok(event) => {
            shared.fabric.router.publish(&event);
        }
        Err(error) => {
            shared.metrics.dropped_unroutable.inc();
            DROP_LOG.unroutable.note(|suppressed| {
                tracing::warn!(%exchange, routing_key = delivery.routing_key.as_str(), %error, suppressed,
                    "dropped an event: no routing key can be made of it")
            });
        }
    }
}

fn unusable(shared: &Shared, what: &str, why: &dyn std::fmt::Display) {
    shared.metrics.dropped_unknown.inc();
    DROP_LOG
        .unknown
        .note(|suppressed| tracing::warn!(%why, suppressed, "dropped {what} this node cannot use"));
}

/// Another node (or KAZOO's crossbar) asks about this node's sockets.
async fn answer(shared: Arc<Shared>, link: Link, request: Request) {
    let (event_name, answer) = match request.event_name.as_str() {
        GET_REQ => (GET_RESP, look_up(&shared, &request, false).await),
        // Closing names one socket; a close of a whole list is nothing this node does.
        CLOSE_REQ if request.socket_id.is_some() => {
            (CLOSE_RESP, look_up(&shared, &request, true).await)
        }
        CLOSE_REQ => (CLOSE_RESP, None),
        _ => return unusable(&shared, "a query", &"unknown Event-Name"),
    };
    let (data, account_id) = answer.unwrap_or_else(|| (empty_list(), None));
    let reply = Reply {
        data,
        msg_id: request.msg_id,
        event_category: CATEGORY.to_string(),
        event_name: event_name.to_string(),
        app_name: APP_NAME.to_string(),
        app_version: APP_VERSION.to_string(),
        server_id: link.queue.clone(),
        node: shared.node_name.clone(),
        account_id,
    };
    shared.metrics.queries_answered.inc();
    // A lost reply only makes the asker's answer partial.
    let _ = publish_json(&link.control, REPLY_EXCHANGE, &request.server_id, &reply).await;
}

/// `Data` and its account: one socket (found or closed), or an account's list.
async fn look_up(
    shared: &Shared,
    request: &Request,
    close: bool,
) -> Option<(Box<RawValue>, Option<String>)> {
    let account = match request.account_id.as_deref() {
        Some(raw) => Some(AccountId::parse(raw).ok()?),
        None => None,
    };
    let supervisor = &shared.supervisor;
    let Some(socket_id) = request.socket_id.clone() else {
        let account = account?;
        let answer = supervisor
            .call(
                |reply| SupervisorMsg::List {
                    account: account.clone(),
                    page: PageRequest::default(),
                    reply,
                },
                Some(ANSWER_TIMEOUT),
            )
            .await;
        let Ok(CallResult::Success(Ok(page))) = answer else {
            return None;
        };
        let data = serde_json::value::to_raw_value(&page.sockets).ok()?;
        return Some((data, Some(account.as_str().to_string())));
    };
    let answer = supervisor
        .call(
            |reply| {
                if close {
                    SupervisorMsg::Kick {
                        account,
                        socket_id,
                        reply,
                    }
                } else {
                    SupervisorMsg::Find {
                        account,
                        socket_id,
                        reply,
                    }
                }
            },
            Some(ANSWER_TIMEOUT),
        )
        .await;
    let Ok(CallResult::Success(Some(FoundSocket {
        account,
        description,
    }))) = answer
    else {
        return None;
    };
    let data = serde_json::value::to_raw_value(&description).ok()?;
    Some((data, Some(account.as_str().to_string())))
}

fn empty_list() -> Box<RawValue> {
    serde_json::value::to_raw_value(&[(); 0]).unwrap_or_default()
}

struct DropLogs {
    not_json: LogLimit,
    unroutable: LogLimit,
    unknown: LogLimit,
}

static DROP_LOG: DropLogs = DropLogs {
    not_json: LogLimit::new(),
    unroutable: LogLimit::new(),
    unknown: LogLimit::new(),
};
