//! Fuzz targets (issue 11): every parser that reads bytes from outside (a client's frames, its
//! requests and bindings, a publisher's events, other nodes' messages) takes any input without
//! panicking, and keeps its invariants. Each target first replays its corpus
//! (`fuzz/corpus/<target>/`, one input per file: add any input that once broke a parser), then
//! proptest's generated cases: `SWITCHYARD_FUZZ_CASES` of them (default 1000), so that CI runs
//! a bounded number and a longer run is one variable away.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};

use switchyard_actors::account::{AccountId, AccountScope};
use switchyard_actors::bindings;
use switchyard_actors::event::{BusMessage, Event};
use switchyard_actors::month::YearMonth;
use switchyard_actors::protocol::request;

use crate::bus::messages::{Inbound, parse_delivery};
use crate::ws::{FrameError, Incoming, Reader};

/// The inputs kept for `target`, in name order.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    files
        .iter()
        .map(|file| std::fs::read(file).expect("a corpus file"))
        .collect()
}

fn runner() -> TestRunner {
    let cases = std::env::var("SWITCHYARD_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    TestRunner::new(Config {
        cases,
        // A failure prints its shrunk input; it goes into the corpus, not a file of proptest's.
        failure_persistence: None,
        ..Config::default()
    })
}

/// A corpus input of the events and bus targets: the exchange, the routing key, then the body,
/// each of the first two on a line of its own.
fn delivery(input: &[u8]) -> (String, String, &[u8]) {
    let mut parts = input.splitn(3, |&b| b == b'\n');
    let mut line = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (exchange, key) = (line(), line());
    let head = exchange.len() + key.len() + 2;
    (exchange, key, input.get(head..).unwrap_or_default())
}

/// Counts the generated cases that got past a parser's checks: a generator that no longer
/// reaches a parser's depths fails its target instead of passing on shallow inputs.
#[derive(Default)]
struct Deep(AtomicUsize);

impl Deep {
    fn count(&self, deep: bool) -> Result<(), TestCaseError> {
        if deep {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn assert_some(&self, what: &str) {
        let deep = self.0.load(Ordering::Relaxed);
        assert!(deep > 0, "no {what} among the generated cases");
    }
}

// ---- generators ----

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        word().prop_map(Value::from),
        ".*".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Words that the parsers look for, and some they do not.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "call", "object", "fax", "conference", "event", "command", "status", "doc_edited",
            "doc_created", "doc_deleted", "user", "device", "vmbox", "*", "#", "", "CHANNEL_CREATE",
            "CHANNEL_ANSWER", "CHANNEL_DESTROY", "PARK_PARKED", "add-member", "lock",
            "0123456789abcdef0123456789abcdef", "account%2F01%2F23%2F456789abcdef0123456789abcdef",
            "account%2F01%2F23%2F456789abcdef0123456789abcdef-202611", "get_req", "close_req",
            "heartbeat", "goodbye", "websockets", "ping", "subscribe", "unsubscribe",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z0-9_%*#.-]{0,12}",
        1 => ".{0,8}",
    ]
}

/// Keys of JSON objects: KAZOO's headers, the protocol's fields, anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "Event-Name", "Event-Category", "Account-ID", "Call-ID", "Custom-Channel-Vars",
            "Conference-ID", "Fax-ID", "ID", "Node", "Server-ID", "Msg-ID", "Socket-ID",
            "Auth-Account-ID", "App-Name", "App-Version", "Data", "Raw-Headers", "action",
            "auth_token", "request_id", "data", "binding", "bindings", "account_id", "name",
            "metadata", "Owner-ID",
        ])
        .prop_map(str::to_string),
        1 => ".{0,10}",
    ]
}

fn dotted(max_words: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..max_words).prop_map(|words| words.join("."))
}

/// Bindings of the catalogue's shapes, their words drawn from good and bad ones.
fn binding() -> impl Strategy<Value = String> {
    let id = prop_oneof![Just("*".to_string()), "[a-z0-9%@]{1,12}", word()];
    let call_event = prop_oneof![
        prop::sample::select(switchyard_actors::bindings::CALL_EVENTS.to_vec())
            .prop_map(str::to_string),
        word(),
    ];
    let doc = prop::sample::select(vec![
        "doc_edited",
        "doc_created",
        "doc_deleted",
        "*",
        "doc_x",
    ]);
    let kind = prop::sample::select(vec!["user", "device", "vmbox", "fax", "callflow", "*", ""]);
    prop_oneof![
        (call_event, id.clone()).prop_map(|(e, id)| format!("call.{e}.{id}")),
        (doc, kind).prop_map(|(d, k)| format!("object.{d}.{k}")),
        (
            prop::sample::select(vec!["status", "object", "x"]),
            id.clone()
        )
            .prop_map(|(w, id)| format!("fax.{w}.{id}")),
        prop::collection::vec(id.clone(), 1..5)
            .prop_map(|ids| format!("conference.event.{}", ids.join("."))),
        id.prop_map(|id| format!("conference.command.{id}")),
    ]
}

/// KAZOO events of each exchange, routing key and payload mostly of the shape it needs.
fn kazoo_event() -> impl Strategy<Value = (String, String, Map<String, Value>)> {
    let account = prop_oneof![
        Just("0123456789abcdef0123456789abcdef".to_string()),
        "[0-9a-f]{32}",
        word()
    ];
    let id = prop_oneof!["[a-zA-Z0-9@.%-]{1,16}", word()];
    let routed = (account, id.clone(), id, word()).prop_map(|(account, id, other, name)| {
        let db = format!("account%2F{}", account.get(..2).unwrap_or("x"));
        let shapes = [
            ("callevt", format!("call.{name}.{id}")),
            ("configuration", format!("{name}.{db}.user.{id}")),
            ("faxes", format!("fax.status.{account}.{id}")),
            (
                "conference",
                format!("conference.event.{name}.{account}.{id}.{other}"),
            ),
            ("conference", format!("conference.command.{id}")),
        ];
        let mut payload = Map::new();
        payload.insert("Event-Name".into(), name.into());
        payload.insert("Call-ID".into(), id.into());
        payload.insert(
            "Custom-Channel-Vars".into(),
            serde_json::json!({"Account-ID": account}),
        );
        (shapes, payload)
    });
    (routed, 0usize..5, object()).prop_map(|((shapes, mut payload), shape, extra)| {
        let (exchange, key) = shapes[shape].clone();
        for (k, v) in extra {
            // Mostly keep what makes the event routable; sometimes let the noise win.
            if !payload.contains_key(&k) || v.is_null() {
                payload.insert(k, v);
            }
        }
        (exchange.to_string(), key, payload)
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), json_value(), 0..10).prop_map(|m| m.into_iter().collect())
}

fn exchange() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "callevt",
            "configuration",
            "faxes",
            "conference",
            "sysconf",
            "targeted",
            "switchyard.nodes",
            "amq.topic",
            "",
        ])
        .prop_map(str::to_string),
        ".{0,12}",
    ]
}

// ---- the websocket frame reader ----

/// What a reader makes of `input` fed in pieces cut at `cuts`: its messages, then its error if
/// it found one.
fn read_in_pieces(input: &[u8], cuts: &[usize]) -> (Vec<Incoming>, Option<FrameError>) {
    let mut reader = Reader::new(4096, Vec::new());
    let mut messages = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut from = 0;
    for to in points {
        reader.push(&input[from..to]);
        from = to;
        loop {
            match reader.next() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(error) => return (messages, Some(error)),
            }
        }
    }
    (messages, None)
}

/// Client frames, mostly well formed enough to get past the first checks.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        any::<bool>(),
        prop_oneof![8 => Just(0u8), 1 => 0u8..8],
        prop_oneof![3 => Just(1u8), 1 => Just(0u8), 1 => prop::sample::select(vec![2u8, 8, 9, 10]), 1 => 0u8..16],
        prop_oneof![8 => Just(true), 1 => Just(false)],
        prop_oneof![2 => ".{0,40}".prop_map(String::into_bytes), 1 => prop::collection::vec(any::<u8>(), 0..200)],
        any::<[u8; 4]>(),
        0u8..3,
    )
        .prop_map(|(fin, rsv, opcode, masked, payload, mask, width)| {
            let mut out = vec![u8::from(fin) << 7 | rsv << 4 | opcode];
            let mark = u8::from(masked) << 7;
            let n = payload.len();
            match width {
                0 if n < 126 => out.push(mark | n as u8),
                0 | 1 => {
                    out.push(mark | 126);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                _ => {
                    out.push(mark | 127);
                    out.extend_from_slice(&(n as u64).to_be_bytes());
                }
            }
            if masked {
                out.extend_from_slice(&mask);
            }
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
            out
        });
    prop_oneof![
        4 => prop::collection::vec(frame, 0..6).prop_map(|frames| frames.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// However the bytes are cut into reads, the reader finds the same messages and the same error.
/// True when it found a message.
fn frames_hold(input: &[u8], cuts: &[usize]) -> Result<bool, TestCaseError> {
    let whole = read_in_pieces(input, &[]);
    let pieces = read_in_pieces(input, cuts);
    prop_assert_eq!(&whole, &pieces, "cut at {:?}", cuts);
    let one_by_one: Vec<usize> = (0..input.len()).collect();
    prop_assert_eq!(&whole, &read_in_pieces(input, &one_by_one));
    Ok(!whole.0.is_empty())
}

#[test]
fn frame_reader() {
    for input in corpus("frames") {
        frames_hold(&input, &[1, 3, 7]).unwrap();
    }
    let cuts = prop::collection::vec(any::<usize>(), 0..8);
    let deep = Deep::default();
    runner()
        .run(&(frames(), cuts), |(input, cuts)| {
            deep.count(frames_hold(&input, &cuts)?)
        })
        .unwrap();
    deep.assert_some("inputs with a whole message");
}

// ---- a client's requests and bindings ----

/// True when the frame decoded to a request.
fn request_holds(text: &str) -> Result<bool, TestCaseError> {
    let Ok(frame) = request::parse_frame(text) else {
        return Ok(false);
    };
    let _ = request::request_id(text);
    let _ = request::auth_token(&frame);
    Ok(request::decode(&frame).is_ok())
}

/// Frames of the protocol's shape: an action, maybe an id and a token, bindings in `data`.
fn client_frame() -> impl Strategy<Value = String> {
    let action = prop_oneof![
        3 => prop::sample::select(vec!["ping", "subscribe", "unsubscribe"]).prop_map(str::to_string),
        1 => word(),
    ];
    let bindings = prop_oneof![
        binding().prop_map(|b| serde_json::json!({"binding": b})),
        prop::collection::vec(binding(), 0..4).prop_map(|b| serde_json::json!({"bindings": b})),
    ];
    let data =
        (bindings, prop::option::of(word()), object()).prop_map(|(mut data, account, extra)| {
            if let Some(account) = account {
                data["account_id"] = account.into();
            }
            for (k, v) in extra {
                data[k] = v;
            }
            data
        });
    (
        action,
        prop::option::of(json_value()),
        prop::option::of(word()),
        prop::option::of(data),
    )
        .prop_map(|(action, request_id, token, data)| {
            let mut frame = serde_json::json!({ "action": action });
            if let Some(id) = request_id {
                frame["request_id"] = id;
            }
            if let Some(token) = token {
                frame["auth_token"] = token.into();
            }
            if let Some(data) = data {
                frame["data"] = data;
            }
            frame.to_string()
        })
}

#[test]
fn client_requests() {
    for input in corpus("requests") {
        request_holds(&String::from_utf8_lossy(&input)).unwrap();
    }
    let text = prop_oneof![
        4 => client_frame(),
        2 => object().prop_map(|o| Value::Object(o).to_string()),
        1 => ".{0,60}",
    ];
    let deep = Deep::default();
    runner()
        .run(&text, |text| deep.count(request_holds(&text)?))
        .unwrap();
    deep.assert_some("requests decoded");
}

/// True when some scope took the binding.
fn binding_holds(binding: &str) -> Result<bool, TestCaseError> {
    let account = AccountId::parse("0123456789abcdef0123456789abcdef").expect("an account");
    let month = YearMonth {
        year: 2026,
        month: 11,
    };
    let mut taken = false;
    for scope in [AccountScope::One(account), AccountScope::All] {
        if let Ok(translation) = bindings::translate(binding, &scope, month) {
            taken = true;
            prop_assert!(!translation.subscription_keys.is_empty(), "{binding:?}");
            for key in &translation.subscription_keys {
                prop_assert!(!key.is_empty(), "{binding:?}");
            }
        }
    }
    Ok(taken)
}

#[test]
fn client_bindings() {
    for input in corpus("bindings") {
        for line in String::from_utf8_lossy(&input).lines() {
            binding_holds(line).unwrap();
        }
    }
    let binding = prop_oneof![4 => binding(), 2 => dotted(4), 1 => ".{0,40}"];
    let deep = Deep::default();
    runner()
        .run(&binding, |binding| deep.count(binding_holds(&binding)?))
        .unwrap();
    deep.assert_some("bindings taken");
}

// ---- a publisher's events, other nodes' messages ----

/// True when the message made an event.
fn event_holds(
    exchange: &str,
    routing_key: &str,
    payload: Map<String, Value>,
) -> Result<bool, TestCaseError> {
    let message = BusMessage {
        exchange: exchange.to_string(),
        routing_key: routing_key.to_string(),
        payload,
    };
    let Ok(event) = Event::from_bus(message) else {
        return Ok(false);
    };
    prop_assert!(serde_json::from_slice::<Value>(&event.data).is_ok());
    prop_assert!(!event.routing_key.is_empty());
    Ok(true)
}

#[test]
fn kazoo_events() {
    for input in corpus("events") {
        let (exchange, key, body) = delivery(&input);
        let payload = serde_json::from_slice(body).expect("an events corpus body is an object");
        event_holds(&exchange, &key, payload).unwrap();
    }
    let deep = Deep::default();
    runner()
        .run(
            &prop_oneof![
                3 => kazoo_event(),
                1 => (exchange(), dotted(7), object()),
            ],
            |(exchange, key, payload)| deep.count(event_holds(&exchange, &key, payload)?),
        )
        .unwrap();
    deep.assert_some("events made");
}

/// True when the delivery was something this node uses.
fn delivery_holds(exchange: &str, key: &str, body: &[u8]) -> Result<bool, TestCaseError> {
    let inbound = parse_delivery(exchange, key, body);
    let event_exchange = switchyard_actors::exchange::Exchange::parse(exchange).is_some();
    match inbound {
        Inbound::Event(_) => prop_assert!(event_exchange),
        Inbound::Request(_) | Inbound::Reply(_) | Inbound::Heartbeat(_) => {
            prop_assert!(!event_exchange)
        }
        Inbound::Dropped(dropped) => {
            prop_assert!(!dropped.why.is_empty());
            return Ok(false);
        }
    }
    Ok(true)
}

#[test]
fn bus_messages() {
    for input in corpus("bus") {
        let (exchange, key, body) = delivery(&input);
        delivery_holds(&exchange, &key, body).unwrap();
    }
    let body = prop_oneof![
        3 => object().prop_map(|o| Value::Object(o).to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ];
    let events = kazoo_event().prop_map(|(exchange, key, payload)| {
        (
            exchange,
            key,
            Value::Object(payload).to_string().into_bytes(),
        )
    });
    let deep = Deep::default();
    runner()
        .run(
            &prop_oneof![(exchange(), dotted(5), body), events],
            |(exchange, key, body)| deep.count(delivery_holds(&exchange, &key, &body)?),
        )
        .unwrap();
    deep.assert_some("deliveries used");
}
