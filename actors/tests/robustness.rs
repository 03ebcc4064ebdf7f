//! Whatever a client or a publisher sends, the fabric answers with a value or a typed error:
//! never a panic. Deterministic pseudo-random inputs built from the words that matter.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use serde_json::{Value, json};

use switchyard_actors::account::{AccountId, AccountScope};
use switchyard_actors::bindings::translate;
use switchyard_actors::event::{BusMessage, Event};
use switchyard_actors::month::YearMonth;
use switchyard_actors::protocol::request::{decode, parse_frame};

/// Seeded: the same sequence every run.
struct Rng(StdRng);

impl Rng {
    fn seeded(seed: u64) -> Self {
        Rng(StdRng::seed_from_u64(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.random()
    }

    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "call",
    "object",
    "fax",
    "conference",
    "event",
    "command",
    "status",
    "CHANNEL_CREATE",
    "PARK_PARKED",
    "doc_created",
    "doc_edited",
    "user",
    "fax",
    "mailbox_message",
    "lock",
    "add-member",
    "*",
    "#",
    "",
    "é",
    "a@b",
    "50%",
    "x y",
    "c1",
];

fn random_binding(rng: &mut Rng) -> String {
    let words: Vec<&str> = (0..rng.below(7)).map(|_| rng.pick(WORDS)).collect();
    words.join(".")
}

#[test]
fn any_binding_translates_or_is_refused_with_a_message() {
    let mut rng = Rng::seeded(7);
    let account = AccountScope::One(AccountId::parse("0123456789abcdef0123456789abcdef").unwrap());
    let month = YearMonth {
        year: 2026,
        month: 11,
    };
    for _ in 0..20_000 {
        let binding = random_binding(&mut rng);
        for scope in [&account, &AccountScope::All] {
            match translate(&binding, scope, month) {
                Ok(translation) => {
                    let keys = &translation.subscription_keys;
                    assert!(!keys.is_empty() && keys.len() <= 2, "{binding}: {keys:?}");
                    for key in keys {
                        assert!(
                            key.split('.').all(|word| !word.is_empty()),
                            "{binding}: {key}"
                        );
                    }
                }
                Err(error) => assert!(!error.to_string().is_empty()),
            }
        }
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(rng.pick(WORDS)),
        4 => json!(random_binding(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "action",
                "data",
                "account_id",
                "binding",
                "bindings",
                "name",
                "metadata",
                "request_id",
                "auth_token",
                "Event-Name",
                "Call-ID",
                "Custom-Channel-Vars",
                "Account-ID",
                "Node",
                "x-Y",
            ];
            let mut object = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                object.insert(rng.pick(&keys).to_string(), random_value(rng, depth + 1));
            }
            Value::Object(object)
        }
    }
}

#[test]
fn any_frame_decodes_or_is_refused_with_a_message() {
    let mut rng = Rng::seeded(11);
    for _ in 0..20_000 {
        let mut frame = random_value(&mut rng, 0);
        if rng.below(2) == 0
            && let Value::Object(object) = &mut frame
        {
            let action = rng.pick(&["subscribe", "unsubscribe", "ping", "dance"]);
            object.insert("action".into(), json!(action));
        }
        let text = frame.to_string();
        match parse_frame(&text) {
            Ok(object) => {
                if let Err(error) = decode(&object) {
                    assert!(!error.to_string().is_empty());
                }
            }
            Err(error) => assert_eq!(error.to_string(), "invalid json"),
        }
    }
}

#[test]
fn any_bus_message_becomes_an_event_or_is_refused_with_a_message() {
    let mut rng = Rng::seeded(13);
    let exchanges = [
        "callevt",
        "configuration",
        "faxes",
        "conference",
        "sysconf",
        "",
    ];
    for _ in 0..20_000 {
        let payload = match random_value(&mut rng, 0) {
            Value::Object(payload) => payload,
            _ => serde_json::Map::new(),
        };
        let message = BusMessage {
            exchange: rng.pick(&exchanges).to_string(),
            routing_key: random_binding(&mut rng),
            payload,
        };
        match Event::from_bus(message) {
            Ok(event) => {
                let data: Value = serde_json::from_slice(&event.data).expect("data is JSON");
                assert!(data.is_object());
            }
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
}
