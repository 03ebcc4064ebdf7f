//! What nodes say to each other on the bus (SPEC 8): the socket queries KAZOO's crossbar sends
//! on `sysconf` / `websockets.get`, their replies on `targeted`, and our own heartbeats. KAZOO's
//! header names; every message carries the sender's `Server-ID` (its queue) and `Node`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use switchyard_actors::event::{BusMessage, Event};
use switchyard_actors::exchange::Exchange;

pub(crate) const APP_NAME: &str = "switchyard";
pub(crate) const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const CATEGORY: &str = "websockets";

/// The exchange and key KAZOO's crossbar asks blackhole nodes on.
pub(crate) const QUERY_EXCHANGE: &str = "sysconf";
pub(crate) const GET_KEY: &str = "websockets.get";
/// Closing a socket on another node: ours (KAZOO has no remote close), beside the query.
pub(crate) const CLOSE_KEY: &str = "websockets.close";
/// Replies go to the asker's queue, named by its `Server-ID`.
pub(crate) const REPLY_EXCHANGE: &str = "targeted";
/// Heartbeats: ours alone, so that no KAZOO application ever has to parse them.
pub(crate) const NODES_EXCHANGE: &str = "switchyard.nodes";

pub(crate) const GET_REQ: &str = "get_req";
pub(crate) const GET_RESP: &str = "get_resp";
pub(crate) const CLOSE_REQ: &str = "close_req";
pub(crate) const CLOSE_RESP: &str = "close_resp";
pub(crate) const HEARTBEAT: &str = "heartbeat";
pub(crate) const GOODBYE: &str = "goodbye";

/// A socket query or close request: a list when `socket_id` is absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Request {
    #[serde(rename = "Msg-ID")]
    pub msg_id: String,
    #[serde(
        rename = "Account-ID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub account_id: Option<String>,
    #[serde(
        rename = "Auth-Account-ID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_account_id: Option<String>,
    #[serde(rename = "Socket-ID", default, skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
    #[serde(rename = "Event-Category")]
    pub event_category: String,
    #[serde(rename = "Event-Name")]
    pub event_name: String,
    #[serde(rename = "App-Name", default)]
    pub app_name: String,
    #[serde(rename = "App-Version", default)]
    pub app_version: String,
    #[serde(rename = "Server-ID")]
    pub server_id: String,
    #[serde(rename = "Node", default)]
    pub node: String,
}

/// A node's answer: `Data` is a list of sockets, one socket, or `[]`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reply {
    #[serde(rename = "Data")]
    pub data: Box<RawValue>,
    #[serde(rename = "Msg-ID")]
    pub msg_id: String,
    #[serde(rename = "Event-Category")]
    pub event_category: String,
    #[serde(rename = "Event-Name")]
    pub event_name: String,
    #[serde(rename = "App-Name", default)]
    pub app_name: String,
    #[serde(rename = "App-Version", default)]
    pub app_version: String,
    /// The answering node's queue.
    #[serde(rename = "Server-ID", default)]
    pub server_id: String,
    #[serde(rename = "Node", default)]
    pub node: String,
    /// The account of the socket(s) in `Data`, so that the asker can check the scope.
    #[serde(
        rename = "Account-ID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub account_id: Option<String>,
}

/// "I am alive, and this is my queue" (or, as `goodbye`, "forget me").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    #[serde(rename = "Event-Category")]
    pub event_category: String,
    #[serde(rename = "Event-Name")]
    pub event_name: String,
    #[serde(rename = "Server-ID")]
    pub server_id: String,
    #[serde(rename = "Node")]
    pub node: String,
    #[serde(rename = "App-Name")]
    pub app_name: String,
    #[serde(rename = "App-Version")]
    pub app_version: String,
}

impl Heartbeat {
    pub(crate) fn new(event_name: &str, server_id: &str, node: &str) -> Self {
        Self {
            event_category: APP_NAME.to_string(),
            event_name: event_name.to_string(),
            server_id: server_id.to_string(),
            node: node.to_string(),
            app_name: APP_NAME.to_string(),
            app_version: APP_VERSION.to_string(),
        }
    }
}

/// A delivery as this node reads it, before anything is done with it.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A KAZOO event, normalised.
    Event(Event),
    Request(Request),
    Reply(Reply),
    Heartbeat(Heartbeat),
    Dropped(Dropped),
}

/// A delivery this node cannot use.
#[derive(Debug)]
pub(crate) struct Dropped {
    pub cause: DropCause,
    /// What it was taken for: "an event", "a query"...
    pub what: &'static str,
    pub why: String,
}

switchyard_actors::reasons! {
    /// Why a message was dropped (`switchyard_bus_messages_dropped_total`).
    pub(crate) DropCause {
        /// An event whose body is not a JSON object.
        NotJson => "not_json",
        /// An event no routing key can be made of.
        Unroutable => "unroutable",
        /// Anything else: a bad query, reply or node message, an unknown exchange.
        Unknown => "unknown",
    }
}

/// Reads a delivery of `exchange` with `routing_key` and `body`. Any bytes give an answer.
pub(crate) fn parse_delivery(exchange: &str, routing_key: &str, body: &[u8]) -> Inbound {
    if let Some(exchange) = Exchange::parse(exchange) {
        return parse_event(exchange, routing_key, body);
    }
    let dropped = |what, why: &dyn std::fmt::Display| {
        Inbound::Dropped(Dropped {
            cause: DropCause::Unknown,
            what,
            why: why.to_string(),
        })
    };
    match exchange {
        QUERY_EXCHANGE => match serde_json::from_slice::<Request>(body) {
            Ok(request) if [GET_REQ, CLOSE_REQ].contains(&request.event_name.as_str()) => {
                Inbound::Request(request)
            }
            Ok(_) => dropped("a query", &"unknown Event-Name"),
            Err(error) => dropped("a query", &error),
        },
        REPLY_EXCHANGE => match serde_json::from_slice::<Reply>(body) {
            Ok(reply) => Inbound::Reply(reply),
            Err(error) => dropped("a reply", &error),
        },
        NODES_EXCHANGE => match serde_json::from_slice::<Heartbeat>(body) {
            Ok(beat) if [HEARTBEAT, GOODBYE].contains(&beat.event_name.as_str()) => {
                Inbound::Heartbeat(beat)
            }
            Ok(_) => dropped("a node message", &"unknown Event-Name"),
            Err(error) => dropped("a node message", &error),
        },
        other => dropped("a message", &format_args!("from exchange {other:?}")),
    }
}

/// A KAZOO event: the payload is the message body, the exchange and key are the message's.
fn parse_event(exchange: Exchange, routing_key: &str, body: &[u8]) -> Inbound {
    let dropped = |cause, why: &dyn std::fmt::Display| {
        Inbound::Dropped(Dropped {
            cause,
            what: "an event",
            why: why.to_string(),
        })
    };
    let payload = match serde_json::from_slice::<Map<String, Value>>(body) {
        Ok(payload) => payload,
        Err(error) => return dropped(DropCause::NotJson, &error),
    };
    let message = BusMessage {
        exchange: exchange.name().to_string(),
        routing_key: routing_key.to_string(),
        payload,
    };
    match Event::from_bus(message) {
        Ok(event) => Inbound::Event(event),
        Err(error) => dropped(DropCause::Unroutable, &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_kazoo_crossbar_list_query_parses() {
        let kazoo = json!({"Msg-ID": "m1", "Account-ID": "a", "Auth-Account-ID": "a",
            "Event-Category": "websockets", "Event-Name": "get_req", "App-Name": "crossbar",
            "App-Version": "4.3.0", "Server-ID": "amq.gen-x", "Node": "crossbar@k1",
            "System-Log-ID": "ignored"});
        let request: Request = serde_json::from_value(kazoo).unwrap();
        assert_eq!(request.account_id.as_deref(), Some("a"));
        assert_eq!(request.socket_id, None);
        assert_eq!(request.server_id, "amq.gen-x");
    }

    #[test]
    fn a_socket_query_needs_no_account() {
        let kazoo = json!({"Msg-ID": "m2", "Socket-ID": "s", "Event-Category": "websockets",
            "Event-Name": "get_req", "Server-ID": "q"});
        let request: Request = serde_json::from_value(kazoo).unwrap();
        assert_eq!(request.socket_id.as_deref(), Some("s"));
        assert_eq!(request.account_id, None);
    }

    #[test]
    fn replies_carry_kazoos_headers() {
        let reply = Reply {
            data: RawValue::from_string("[]".into()).unwrap(),
            msg_id: "m".into(),
            event_category: CATEGORY.into(),
            event_name: GET_RESP.into(),
            app_name: APP_NAME.into(),
            app_version: APP_VERSION.into(),
            server_id: "q".into(),
            node: "n".into(),
            account_id: None,
        };
        let value: Value = serde_json::to_value(&reply).unwrap();
        assert_eq!(value["Data"], json!([]));
        assert_eq!(value["Event-Name"], "get_resp");
        assert_eq!(value["App-Name"], "switchyard");
        assert!(value.get("Account-ID").is_none());
    }
}
