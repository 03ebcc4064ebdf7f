//! Events in (SPEC 5): a KAZOO bus message → the event as clients see it.

use bytes::Bytes;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bindings::CALL_EVENTS;
use crate::encoding::encode_id;
use crate::exchange::Exchange;

/// A KAZOO bus message, as `POST /v2/events` takes it and as RabbitMQ carries it.
#[derive(Debug, Clone, Deserialize)]
pub struct BusMessage {
    pub exchange: String,
    pub routing_key: String,
    pub payload: serde_json::Map<String, serde_json::Value>,
}

/// An event ready to route: everything but the per-binding envelope is computed once.
#[derive(Debug, Clone)]
pub struct Event {
    pub exchange: Exchange,
    /// The routing key delivered to clients (and matched against bindings).
    pub routing_key: String,
    /// `payload.Event-Name`.
    pub name: String,
    /// The normalised payload, serialised once.
    pub data: Bytes,
    /// `payload.Account-ID`, where present (conference commands are filtered on it).
    pub account_id: Option<String>,
    /// False for accepted but undeliverable events (a call event not among the nine).
    pub deliverable: bool,
}

/// Why a bus message was refused; the text is what the publisher sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unknown exchange {0:?}: expected callevt, configuration, faxes or conference")]
    UnknownExchange(String),
    #[error("payload has no Event-Name (a string)")]
    NoEventName,
    #[error(
        "callevt payload has no {0} (a non-empty string): the routing key is \
         call.{{Custom-Channel-Vars.Account-ID}}.{{Event-Name}}.{{Call-ID}}"
    )]
    MissingCallField(&'static str),
    #[error("{exchange} routing key {routing_key:?} is not of the form {expected}")]
    RoutingKeyShape {
        exchange: Exchange,
        routing_key: String,
        expected: &'static str,
    },
}

/// Top-level payload keys that never reach clients (AMQP plumbing, as KAZOO strips them).
const DROPPED_KEYS: [&str; 13] = [
    "Access-Group",
    "Defer-Response",
    "Destination-Server",
    "Geo-Location",
    "System-Log-ID",
    "Node",
    "Server-Queue-ID",
    "Raw-Headers",
    "Server-ID",
    "Request-From-PID",
    "Reply-To-PID",
    "AMQP-Broker",
    "AMQP-Broker-Zone",
];

const CONFIGURATION_SHAPE: &str = "{action}.{DB}.{type}.{id}";
const FAXES_SHAPE: &str = "fax.status.{A}.{FAX_ID}";
const CONFERENCE_SHAPE: &str =
    "conference.event.{ev}.{A}.{CONF}.{CALL_ID} or conference.command.{CONF}";

impl Event {
    pub fn from_bus(message: BusMessage) -> Result<Event, EventError> {
        let BusMessage {
            exchange,
            routing_key,
            payload,
        } = message;
        let Some(kind) = Exchange::parse(&exchange) else {
            return Err(EventError::UnknownExchange(exchange));
        };
        let name = match payload.get("Event-Name") {
            Some(Value::String(name)) => name.clone(),
            _ => return Err(EventError::NoEventName),
        };
        let (routing_key, deliverable) = match kind {
            Exchange::CallEvt => (call_routing_key(&payload, &name)?, is_call_event(&name)),
            Exchange::Configuration => {
                check_shape(&routing_key, kind, CONFIGURATION_SHAPE, |w| w.len() == 4)?;
                (routing_key, true)
            }
            Exchange::Faxes => {
                check_shape(&routing_key, kind, FAXES_SHAPE, |w| {
                    matches!(w, ["fax", "status", _, _])
                })?;
                (routing_key, true)
            }
            Exchange::Conference => {
                check_shape(&routing_key, kind, CONFERENCE_SHAPE, |w| {
                    matches!(
                        w,
                        ["conference", "event", _, _, _, _, ..] | ["conference", "command", _]
                    )
                })?;
                (routing_key, true)
            }
        };
        let account_id = match payload.get("Account-ID") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => None,
        };
        let data = serialise_data(&payload);
        Ok(Event {
            exchange: kind,
            routing_key,
            name,
            data: Bytes::from(data),
            account_id,
            deliverable,
        })
    }
}

/// The call events clients can bind to (the catalogue's nine); others are accepted, not delivered.
pub fn is_call_event(name: &str) -> bool {
    CALL_EVENTS.contains(&name)
}

/// `call.{enc(CCV.Account-ID)}.{Event-Name}.{enc(Call-ID)}`: the payload decides, not the
/// incoming key, so every publisher yields the key clients bind to.
fn call_routing_key(payload: &Map<String, Value>, name: &str) -> Result<String, EventError> {
    let account = payload
        .get("Custom-Channel-Vars")
        .and_then(|ccv| ccv.get("Account-ID"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or(EventError::MissingCallField(
            "Custom-Channel-Vars.Account-ID",
        ))?;
    let call_id = payload
        .get("Call-ID")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or(EventError::MissingCallField("Call-ID"))?;
    let (account, call_id) = (encode_id(account), encode_id(call_id));
    let mut key = String::with_capacity(8 + account.len() + name.len() + call_id.len());
    for part in ["call.", &account, ".", name, ".", &call_id] {
        key.push_str(part);
    }
    Ok(key)
}

/// The key must split into words `fits` accepts, none of them empty: an empty word would be
/// a missing id, and bindings never produce one.
fn check_shape(
    routing_key: &str,
    exchange: Exchange,
    expected: &'static str,
    fits: impl Fn(&[&str]) -> bool,
) -> Result<(), EventError> {
    let words: Vec<&str> = routing_key.split('.').collect();
    if words.iter().all(|w| !w.is_empty()) && fits(&words) {
        Ok(())
    } else {
        Err(EventError::RoutingKeyShape {
            exchange,
            routing_key: routing_key.to_string(),
            expected,
        })
    }
}

/// SPEC 5 `data`, written straight from the payload: plumbing keys dropped from the top level,
/// keys normalised and nulls dropped all the way down. Serialising through views, rather than
/// building a normalised copy first, saves a map rebuild and an allocation per key.
fn serialise_data(payload: &Map<String, Value>) -> Vec<u8> {
    let mut data = Vec::with_capacity(512);
    serde_json::to_writer(
        &mut data,
        &Object {
            map: payload,
            top: true,
        },
    )
    .expect("a JSON value with string keys always serialises");
    data
}

struct Object<'a> {
    map: &'a Map<String, Value>,
    top: bool,
}

impl Object<'_> {
    fn kept(&self, key: &str, value: &Value) -> bool {
        !(value.is_null() || self.top && DROPPED_KEYS.contains(&key))
    }
}

/// Past this many keys, duplicates are found by sorting rather than by pairs.
const PAIRWISE_MAX: usize = 32;

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Two keys can meet after normalisation (`Call-ID`, `call_id`): the first in the
        // payload's order wins, and the payload's order is kept.
        let mut out = serializer.serialize_map(None)?;
        if self.map.len() <= PAIRWISE_MAX {
            for (i, (key, value)) in self.map.iter().enumerate() {
                if !self.kept(key, value) {
                    continue;
                }
                let taken = self
                    .map
                    .iter()
                    .take(i)
                    .any(|(k, v)| same_key(k, key) && self.kept(k, v));
                if !taken {
                    out.serialize_entry(&Key(key), &Node(value))?;
                }
            }
        } else {
            let mut entries: Vec<(usize, &str, &Value)> = self
                .map
                .iter()
                .filter(|(k, v)| self.kept(k, v))
                .enumerate()
                .map(|(i, (k, v))| (i, k.as_str(), v))
                .collect();
            entries.sort_by(|a, b| normalised(a.1).cmp(normalised(b.1)).then(a.0.cmp(&b.0)));
            entries.dedup_by(|later, earlier| same_key(later.1, earlier.1));
            entries.sort_unstable_by_key(|e| e.0);
            for (_, key, value) in entries {
                out.serialize_entry(&Key(key), &Node(value))?;
            }
        }
        out.end()
    }
}

/// Lists keep their scalars (nulls included) as they are; objects inside them, at any depth,
/// are normalised.
struct Node<'a>(&'a Value);

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => Object { map, top: false }.serialize(serializer),
            Value::Array(items) => serializer.collect_seq(items.iter().map(Node)),
            scalar => scalar.serialize(serializer),
        }
    }
}

/// ASCII lower case and `-` → `_`, as KAZOO's `kz_json:normalize_key`.
fn normalise_byte(b: u8) -> u8 {
    match b {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    }
}

fn normalised(key: &str) -> impl Iterator<Item = u8> + '_ {
    key.bytes().map(normalise_byte)
}

fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && normalised(a).eq(normalised(b))
}

struct Key<'a>(&'a str);

impl Serialize for Key<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let key = self.0;
        let mut buf = [0u8; 64];
        if key.len() > buf.len() {
            return serializer.serialize_str(&normalised(key).map(char::from).collect::<String>());
        }
        let buf = &mut buf[..key.len()];
        for (to, from) in buf.iter_mut().zip(normalised(key)) {
            *to = from;
        }
        // Only ASCII bytes changed, to ASCII: still UTF-8.
        serializer.serialize_str(std::str::from_utf8(buf).expect("ASCII-only changes keep UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(exchange: &str, routing_key: &str, payload: Value) -> BusMessage {
        let Value::Object(payload) = payload else {
            panic!("payload must be an object")
        };
        BusMessage {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            payload,
        }
    }

    fn event(exchange: &str, routing_key: &str, payload: Value) -> Event {
        Event::from_bus(message(exchange, routing_key, payload)).expect("accepted")
    }

    fn refusal(exchange: &str, routing_key: &str, payload: Value) -> EventError {
        Event::from_bus(message(exchange, routing_key, payload)).expect_err("refused")
    }

    fn data(event: &Event) -> Value {
        serde_json::from_slice(&event.data).expect("data is JSON")
    }

    const A: &str = "0123456789abcdef0123456789abcdef";

    fn call_payload(name: &str) -> Value {
        json!({
            "Event-Name": name,
            "Call-ID": "abc@10.0.0.1",
            "Custom-Channel-Vars": {"Account-ID": A, "Owner-ID": "u1"},
            "Node": "freeswitch@fs1",
        })
    }

    #[test]
    fn callevt_key_comes_from_the_payload() {
        let e = event(
            "callevt",
            "ignored.entirely",
            call_payload("CHANNEL_CREATE"),
        );
        assert_eq!(
            e.routing_key,
            format!("call.{A}.CHANNEL_CREATE.abc%4010%2E0%2E0%2E1")
        );
        assert_eq!(e.name, "CHANNEL_CREATE");
        assert!(e.deliverable);
        assert_eq!(e.account_id, None);
        assert_eq!(
            data(&e),
            json!({"event_name": "CHANNEL_CREATE", "call_id": "abc@10.0.0.1",
                   "custom_channel_vars": {"account_id": A, "owner_id": "u1"}})
        );
    }

    #[test]
    fn callevt_encodes_account_and_call_id() {
        let mut p = call_payload("CHANNEL_ANSWER");
        p["Custom-Channel-Vars"]["Account-ID"] = json!("odd.account id");
        p["Call-ID"] = json!("a b/é");
        let e = event("callevt", "", p);
        assert_eq!(
            e.routing_key,
            "call.odd%2Eaccount+id.CHANNEL_ANSWER.a+b%2F%C3%A9"
        );
    }

    #[test]
    fn all_nine_call_events_are_deliverable() {
        for name in CALL_EVENTS {
            let e = event("callevt", "", call_payload(name));
            assert!(e.deliverable, "{name}");
            assert_eq!(
                e.routing_key,
                format!("call.{A}.{name}.abc%4010%2E0%2E0%2E1")
            );
        }
    }

    #[test]
    fn other_call_events_are_accepted_not_delivered() {
        for name in ["CHANNEL_EXECUTE", "channel_create", "DTMF", ""] {
            let e = event("callevt", "", call_payload(name));
            assert!(!e.deliverable, "{name}");
            assert_eq!(e.name, name);
        }
    }

    #[test]
    fn callevt_refusals_name_the_missing_key() {
        let ccv = "Custom-Channel-Vars.Account-ID";
        let mut p = call_payload("CHANNEL_CREATE");
        p.as_object_mut().unwrap().remove("Custom-Channel-Vars");
        assert_eq!(refusal("callevt", "", p), EventError::MissingCallField(ccv));

        for bad in [json!(null), json!(42), json!(""), json!({"Account-ID": A})] {
            let mut p = call_payload("CHANNEL_CREATE");
            p["Custom-Channel-Vars"]["Account-ID"] = bad;
            assert_eq!(refusal("callevt", "", p), EventError::MissingCallField(ccv));
        }
        let mut p = call_payload("CHANNEL_CREATE");
        p["Custom-Channel-Vars"] = json!("not an object");
        assert_eq!(refusal("callevt", "", p), EventError::MissingCallField(ccv));

        let mut p = call_payload("CHANNEL_CREATE");
        p.as_object_mut().unwrap().remove("Call-ID");
        let err = refusal("callevt", "", p);
        assert_eq!(err, EventError::MissingCallField("Call-ID"));
        assert!(err.to_string().contains("no Call-ID"), "{err}");

        for bad in [json!(7), json!(""), json!(["x"])] {
            let mut p = call_payload("CHANNEL_CREATE");
            p["Call-ID"] = bad;
            assert_eq!(
                refusal("callevt", "", p),
                EventError::MissingCallField("Call-ID")
            );
        }
        let err = EventError::MissingCallField(ccv).to_string();
        assert!(err.contains("Custom-Channel-Vars.Account-ID"), "{err}");
    }

    #[test]
    fn every_exchange_needs_an_event_name() {
        for (exchange, key) in [
            ("callevt", ""),
            ("configuration", "doc_created.db.user.id"),
            ("faxes", "fax.status.a.f"),
            ("conference", "conference.command.c"),
        ] {
            for bad in [None, Some(json!(null)), Some(json!(3)), Some(json!({}))] {
                let mut p = call_payload("x");
                match bad {
                    None => {
                        p.as_object_mut().unwrap().remove("Event-Name");
                    }
                    Some(v) => p["Event-Name"] = v,
                }
                let err = refusal(exchange, key, p);
                assert_eq!(err, EventError::NoEventName, "{exchange}");
                assert_eq!(err.to_string(), "payload has no Event-Name (a string)");
            }
        }
    }

    #[test]
    fn unknown_exchange_is_refused_first() {
        let err = refusal("callevts", "call.x.y", json!({}));
        assert_eq!(err, EventError::UnknownExchange("callevts".into()));
        assert!(
            err.to_string()
                .starts_with(r#"unknown exchange "callevts""#),
            "{err}"
        );
        assert_eq!(
            refusal("", "", json!({"Event-Name": "x"})),
            EventError::UnknownExchange(String::new())
        );
    }

    #[test]
    fn configuration_key_is_kept() {
        let key = format!("doc_created.account%2F01%2F23%2F456789abcdef0123456789abcdef.user.{A}");
        let e = event(
            "configuration",
            &key,
            json!({"Event-Name": "doc_created", "ID": A, "Account-ID": A, "Server-ID": "q"}),
        );
        assert_eq!(e.routing_key, key);
        assert_eq!(e.name, "doc_created");
        assert_eq!(e.account_id.as_deref(), Some(A));
        assert!(e.deliverable);
        assert_eq!(
            data(&e),
            json!({"event_name": "doc_created", "id": A, "account_id": A})
        );
    }

    #[test]
    fn configuration_shape_is_checked() {
        for key in ["", "a.b.c", "a.b.c.d.e", "a..c.d", "a.b.c.", ".b.c.d"] {
            let err = refusal("configuration", key, json!({"Event-Name": "doc_created"}));
            assert_eq!(
                err,
                EventError::RoutingKeyShape {
                    exchange: Exchange::Configuration,
                    routing_key: key.into(),
                    expected: CONFIGURATION_SHAPE,
                },
                "{key:?}"
            );
            let text = err.to_string();
            assert!(text.starts_with("configuration routing key"), "{text}");
            assert!(text.contains("{action}.{DB}.{type}.{id}"), "{text}");
        }
    }

    #[test]
    fn faxes_key_is_kept() {
        let key = format!("fax.status.{A}.fax%2D1");
        let e = event(
            "faxes",
            &key,
            json!({"Event-Name": "status", "Fax-ID": "fax-1"}),
        );
        assert_eq!(e.routing_key, key);
        assert!(e.deliverable);
        assert_eq!(data(&e), json!({"event_name": "status", "fax_id": "fax-1"}));
    }

    #[test]
    fn faxes_shape_is_checked() {
        for key in [
            "",
            "fax.status.a",
            "fax.status.a.b.c",
            "fax.object.a.b",
            "fox.status.a.b",
            "fax.status..b",
            "fax.status.a.",
        ] {
            let err = refusal("faxes", key, json!({"Event-Name": "status"}));
            assert!(
                matches!(&err, EventError::RoutingKeyShape { exchange: Exchange::Faxes, expected, .. }
                    if *expected == FAXES_SHAPE),
                "{key:?}: {err:?}"
            );
            assert!(err.to_string().contains("fax.status.{A}.{FAX_ID}"));
        }
    }

    #[test]
    fn conference_keys_are_kept() {
        for key in [
            format!("conference.event.add-member.{A}.conf1.call1"),
            format!("conference.event.add-member.{A}.conf1.call1.more"),
            "conference.command.conf1".to_string(),
        ] {
            let e = event(
                "conference",
                &key,
                json!({"Event-Name": "add-member", "Conference-ID": "conf1"}),
            );
            assert_eq!(e.routing_key, key);
            assert!(e.deliverable);
            assert_eq!(e.account_id, None);
        }
        let e = event(
            "conference",
            "conference.command.conf1",
            json!({"Event-Name": "play", "Account-ID": A}),
        );
        assert_eq!(e.account_id.as_deref(), Some(A));
        // A non-string Account-ID is no account at all.
        let e = event(
            "conference",
            "conference.command.conf1",
            json!({"Event-Name": "play", "Account-ID": 5}),
        );
        assert_eq!(e.account_id, None);
    }

    #[test]
    fn conference_shape_is_checked() {
        for key in [
            "",
            "conference",
            "conference.event.a.b.c",
            "conference.command",
            "conference.command.c.d",
            "conference.command.",
            "conference.other.a.b.c.d",
            "conf.event.a.b.c.d",
            "conference.event.a..c.d",
        ] {
            let err = refusal("conference", key, json!({"Event-Name": "x"}));
            assert!(
                matches!(
                    &err,
                    EventError::RoutingKeyShape {
                        exchange: Exchange::Conference,
                        ..
                    }
                ),
                "{key:?}: {err:?}"
            );
            let text = err.to_string();
            assert!(text.contains("conference.command.{CONF}"), "{text}");
            assert!(text.contains(&format!("{key:?}")), "{text}");
        }
    }

    #[test]
    fn dropped_keys_only_at_top_level() {
        let mut p = json!({"Event-Name": "x", "Keep-Me": 1,
                           "Inner": {"Node": "n", "Server-ID": "s", "Raw-Headers": "r"}});
        for key in DROPPED_KEYS {
            p[key] = json!("gone");
        }
        let e = event("conference", "conference.command.c", p);
        assert_eq!(
            data(&e),
            json!({"event_name": "x", "keep_me": 1,
                   "inner": {"node": "n", "server_id": "s", "raw_headers": "r"}})
        );
    }

    #[test]
    fn dropped_keys_match_exactly() {
        let p = json!({"Event-Name": "x", "node": "kept", "Node-Name": "kept", "NODE": "kept"});
        let e = event("conference", "conference.command.c", p);
        assert_eq!(
            data(&e),
            json!({"event_name": "x", "node": "kept", "node_name": "kept"})
        );
    }

    #[test]
    fn keys_normalised_nulls_dropped_at_every_depth() {
        let p = json!({
            "Event-Name": "x",
            "Null-Top": null,
            "A-B": {"C-D": {"E-F": 1, "Gone": null, "Deep-List": [{"X-Y": null, "Z-Z": 2}]}},
            "List-Of-Objects": [{"Key-One": 1, "Key-Null": null}, {"Key-Two": {"In-Ner": true}}],
            "List-Of-Scalars": ["Keep-As-Is", 1, null, true, "UPPER"],
            "Mixed-List": [{"Up-Case": "Value-Kept"}, "Scalar-Kept", null, [{"Nested-List": 1}]],
            "Empty-Object": {},
            "Empty-List": [],
            "Already_lower": "v",
            "ÜNICODE-Key": "v",
        });
        let e = event("conference", "conference.command.c", p);
        assert_eq!(
            data(&e),
            json!({
                "event_name": "x",
                "a_b": {"c_d": {"e_f": 1, "deep_list": [{"z_z": 2}]}},
                "list_of_objects": [{"key_one": 1}, {"key_two": {"in_ner": true}}],
                "list_of_scalars": ["Keep-As-Is", 1, null, true, "UPPER"],
                "mixed_list": [{"up_case": "Value-Kept"}, "Scalar-Kept", null, [{"nested_list": 1}]],
                "empty_object": {},
                "empty_list": [],
                "already_lower": "v",
                "Ünicode_key": "v",
            })
        );
    }

    #[test]
    fn colliding_keys_keep_one() {
        let p = json!({"Event-Name": "x", "Call-ID": "first", "call_id": "second"});
        let e = event("conference", "conference.command.c", p);
        let d = data(&e);
        assert_eq!(d, json!({"event_name": "x", "call_id": "first"}));

        // A dropped (null) first key leaves room for the next.
        let p = json!({"Event-Name": "x", "Call-ID": null, "call_id": "second"});
        let d = data(&event("conference", "conference.command.c", p));
        assert_eq!(d, json!({"event_name": "x", "call_id": "second"}));
        // Top-level plumbing keys do not shadow their normalised twins.
        let p = json!({"Event-Name": "x", "Node": "gone", "node": "kept"});
        let d = data(&event("conference", "conference.command.c", p));
        assert_eq!(d, json!({"event_name": "x", "node": "kept"}));
    }

    #[test]
    fn colliding_keys_in_large_objects() {
        let mut p = Map::new();
        p.insert("Event-Name".into(), json!("x"));
        for i in 0..PAIRWISE_MAX * 2 {
            p.insert(format!("Key-{i:03}"), json!(i));
        }
        p.insert("Null-Key".into(), Value::Null);
        p.insert("key_007".into(), json!("later twin"));
        p.insert("Node".into(), json!("gone"));
        let mut want = Map::new();
        want.insert("event_name".into(), json!("x"));
        for i in 0..PAIRWISE_MAX * 2 {
            want.insert(format!("key_{i:03}"), json!(i));
        }
        let e = event(
            "conference",
            "conference.command.c",
            Value::Object(p.clone()),
        );
        assert_eq!(data(&e), Value::Object(want.clone()));
        // The same rules one level down.
        let mut outer = Map::new();
        outer.insert("Event-Name".into(), json!("x"));
        p.remove("Event-Name");
        outer.insert("Inner".into(), Value::Object(p));
        want.remove("event_name");
        want.insert("node".into(), json!("gone"));
        let e = event("conference", "conference.command.c", Value::Object(outer));
        assert_eq!(data(&e), json!({"event_name": "x", "inner": want}));
    }

    #[test]
    fn key_order_follows_the_payload_when_maps_keep_it() {
        let mut probe = Map::new();
        probe.insert("b".into(), Value::Null);
        probe.insert("a".into(), Value::Null);
        let keeps_order = probe.keys().next().map(String::as_str) == Some("b");
        let mut p = Map::new();
        for key in ["Zeta", "Event-Name", "Alpha", "Mid-Key"] {
            p.insert(key.into(), json!(key));
        }
        for n in [4, PAIRWISE_MAX + 5] {
            for i in p.len()..n {
                p.insert(format!("K{i}"), json!(1));
            }
            let e = event(
                "conference",
                "conference.command.c",
                Value::Object(p.clone()),
            );
            let text = std::str::from_utf8(&e.data).unwrap();
            let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
            if keeps_order {
                assert!(at("zeta") < at("event_name") && at("event_name") < at("alpha"));
                assert!(at("alpha") < at("mid_key"));
            } else {
                assert!(at("alpha") < at("event_name") && at("mid_key") < at("zeta"));
            }
        }
    }

    #[test]
    fn event_name_itself_is_in_data() {
        let e = event("faxes", "fax.status.a.b", json!({"Event-Name": "status"}));
        assert_eq!(&e.data[..], br#"{"event_name":"status"}"#);
    }

    #[test]
    fn bus_message_deserialises() {
        let m: BusMessage = serde_json::from_str(
            r#"{"exchange":"faxes","routing_key":"fax.status.a.b","payload":{"Event-Name":"s"}}"#,
        )
        .unwrap();
        let e = Event::from_bus(m).unwrap();
        assert_eq!(e.routing_key, "fax.status.a.b");
    }
}
