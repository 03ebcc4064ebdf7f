//! Server → client frames: replies, and event frames built from a per-route head and a
//! per-event tail so that an event is serialised once however many sockets receive it.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::ProtocolError;
use crate::event::Event;
use crate::frame::TextFrame;
use crate::id::fresh_id;

#[derive(Serialize)]
struct Reply<'a> {
    action: &'static str,
    request_id: RequestId<'a>,
    status: &'static str,
    data: Value,
}

/// The client's `request_id`, echoed byte for byte, or a fresh one.
#[derive(Serialize)]
#[serde(untagged)]
enum RequestId<'a> {
    Echoed(&'a RawValue),
    Fresh(String),
}

fn reply(request_id: Option<&RawValue>, status: &'static str, data: Value) -> TextFrame {
    let reply = Reply {
        action: "reply",
        request_id: request_id.map_or_else(|| RequestId::Fresh(fresh_id()), RequestId::Echoed),
        status,
        data,
    };
    // Strings, raw JSON and a JSON value: nothing here can fail to serialise.
    TextFrame::from(serde_json::to_string(&reply).unwrap_or_default())
}

pub fn success(request_id: Option<&RawValue>, data: Value) -> TextFrame {
    reply(request_id, "success", data)
}

pub fn error(request_id: Option<&RawValue>, error: &ProtocolError) -> TextFrame {
    reply(request_id, "error", json!({"errors": [error.to_string()]}))
}

/// An error the client did not ask about (a fresh request id), with more to say in `data`
/// than the error itself.
pub fn error_with(error: &ProtocolError, data: Value) -> TextFrame {
    let mut fields = serde_json::Map::new();
    fields.insert("errors".into(), json!([error.to_string()]));
    if let Value::Object(more) = data {
        fields.extend(more);
    }
    reply(None, "error", Value::Object(fields))
}

/// The part of an event frame that depends only on the binding:
/// `{"action":"event","subscribed_key":…,"subscription_key":…,`
pub fn event_head(subscribed_key: &str, subscription_key: &str) -> String {
    format!(
        r#"{{"action":"event","subscribed_key":{},"subscription_key":{},"#,
        json_string(subscribed_key),
        json_string(subscription_key)
    )
}

/// The part of an event frame that depends only on the event:
/// `"name":…,"routing_key":…,"data":…}`
pub fn event_tail(event: &Event) -> String {
    let data = std::str::from_utf8(&event.data).unwrap_or("{}");
    format!(
        r#""name":{},"routing_key":{},"data":{}}}"#,
        json_string(&event.name),
        json_string(&event.routing_key),
        data
    )
}

pub fn event_frame(head: &str, tail: &str) -> TextFrame {
    TextFrame::joined(&[head, tail])
}

fn json_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn replies_echo_the_request_id_byte_for_byte() {
        let id = RawValue::from_string(r#""r5""#.to_string()).unwrap();
        let reply = success(Some(&id), json!({"response":"pong"}));
        assert_eq!(
            reply.text(),
            r#"{"action":"reply","request_id":"r5","status":"success","data":{"response":"pong"}}"#
        );
        let big = RawValue::from_string("18446744073709551617".to_string()).unwrap();
        let reply = error(Some(&big), &ProtocolError::InvalidJson);
        assert!(
            reply
                .text()
                .contains(r#""request_id":18446744073709551617,"#)
        );
    }

    #[test]
    fn replies_without_request_id_get_a_fresh_one() {
        let reply = error(None, &ProtocolError::InvalidJson);
        let value: Value = serde_json::from_str(reply.text()).unwrap();
        let id = value["request_id"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(value["data"], json!({"errors":["invalid json"]}));
        assert_eq!(value["status"], json!("error"));
    }

    #[test]
    fn event_frames_join_head_and_tail() {
        let event = Event {
            exchange: crate::exchange::Exchange::CallEvt,
            routing_key: "call.a.CHANNEL_CREATE.x%40y".into(),
            name: "CHANNEL_CREATE".into(),
            data: Bytes::from_static(br#"{"call_id":"x@y"}"#),
            account_id: None,
            deliverable: true,
        };
        let frame = event_frame(
            &event_head("call.CHANNEL_CREATE.*", "call.a.CHANNEL_CREATE.*"),
            &event_tail(&event),
        );
        let value: Value = serde_json::from_str(frame.text()).unwrap();
        assert_eq!(
            value,
            json!({"action":"event","subscribed_key":"call.CHANNEL_CREATE.*",
                "subscription_key":"call.a.CHANNEL_CREATE.*","name":"CHANNEL_CREATE",
                "routing_key":"call.a.CHANNEL_CREATE.x%40y","data":{"call_id":"x@y"}})
        );
        assert!(
            frame
                .text()
                .starts_with(r#"{"action":"event","subscribed_key""#)
        );
    }
}
