//! Everything that arrives on the node's queue, by the exchange it came through: KAZOO events
//! (routed to sockets), socket queries from other nodes or KAZOO's crossbar (answered),
//! replies to this node's own queries, and heartbeats. A message nobody can use is counted and
//! dropped, with a log line at most every
//! [`LOG_EVERY`](switchyard_actors::log_limit::LOG_EVERY) per cause: a flood of bad messages
//! never floods the log, nor stops the consumer. What a delivery is, is read by
//! [`parse_delivery`]; this module acts on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::message::Delivery;
use ractor::rpc::CallResult;
use serde_json::value::RawValue;

use switchyard_actors::account::AccountId;
use switchyard_actors::exchange::Exchange;
use switchyard_actors::log_limit::LogLimit;
use switchyard_actors::supervisor::{FoundSocket, PageRequest, SupervisorMsg};

use super::{Link, Shared, publish_json};
use crate::bus::messages::{
    APP_NAME, APP_VERSION, CATEGORY, CLOSE_REQ, CLOSE_RESP, DropCause, Dropped, GET_RESP, GOODBYE,
    Inbound, REPLY_EXCHANGE, Reply, Request, parse_delivery,
};

/// How long answering another node may wait on this node's supervisor.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn dispatch(shared: &Arc<Shared>, link: &Link, delivery: Delivery) {
    let (exchange, routing_key) = (delivery.exchange.as_str(), delivery.routing_key.as_str());
    let inbound = parse_delivery(exchange, routing_key, &delivery.data);
    if Exchange::parse(exchange).is_some() {
        shared.metrics.consumed.inc();
    }
    match inbound {
        Inbound::Event(event) => {
            shared.fabric.router.publish(&event);
        }
        // Our own question comes back to us too: the asker answers for itself.
        Inbound::Request(request) if request.server_id == link.queue => {}
        Inbound::Request(request) => {
            tokio::spawn(answer(shared.clone(), link.clone(), request));
        }
        Inbound::Reply(reply) => shared.pending.answered(reply),
        Inbound::Heartbeat(beat) if beat.server_id == link.queue => {}
        Inbound::Heartbeat(beat) if beat.event_name == GOODBYE => {
            shared.peers.left(&beat.server_id)
        }
        Inbound::Heartbeat(beat) => shared
            .peers
            .heard(&beat.server_id, &beat.node, Instant::now()),
        Inbound::Dropped(dropped) => drop_unusable(shared, exchange, routing_key, &dropped),
    }
}

/// Counts what was dropped, by cause, and logs it at most every
/// [`LOG_EVERY`](switchyard_actors::log_limit::LOG_EVERY) per cause.
fn drop_unusable(shared: &Shared, exchange: &str, routing_key: &str, dropped: &Dropped) {
    let log = match dropped.cause {
        DropCause::NotJson => &DROP_LOG.not_json,
        DropCause::Unroutable => &DROP_LOG.unroutable,
        DropCause::Unknown => &DROP_LOG.unknown,
    };
    shared.metrics.dropped(dropped.cause);
    let Dropped { what, why, .. } = dropped;
    log.note(|suppressed| {
        tracing::warn!(
            exchange,
            routing_key,
            why,
            suppressed,
            "dropped {what} this node cannot use"
        )
    });
}

/// Another node (or KAZOO's crossbar) asks about this node's sockets.
async fn answer(shared: Arc<Shared>, link: Link, request: Request) {
    // parse_delivery lets only get_req and close_req through.
    let (event_name, answer) = match request.event_name.as_str() {
        // Closing names one socket; a close of a whole list is nothing this node does.
        CLOSE_REQ if request.socket_id.is_some() => {
            (CLOSE_RESP, look_up(&shared, &request, true).await)
        }
        CLOSE_REQ => (CLOSE_RESP, None),
        _ => (GET_RESP, look_up(&shared, &request, false).await),
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
