//! The binding catalogue (SPEC 4): validates a client binding and translates it into the internal
//! AMQP-topic bindings it stands for.

use crate::account::AccountScope;
use crate::encoding::encode_id;
use crate::exchange::Exchange;
use crate::month::YearMonth;

/// The families of client bindings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    Call,
    Object,
    Fax,
    ConferenceCommand,
    ConferenceEvent,
}

/// A valid client binding, translated.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Translation {
    pub family: Family,
    /// The exchange whose events the binding matches.
    pub exchange: Exchange,
    /// The internal bindings (`subscription_key`s), each once, in a stable order.
    pub subscription_keys: Vec<String>,
}

/// Why a client binding was refused. `Display` is the exact protocol error string.
/// `keys` fields hold the binding's words after the first, joined by `, `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("event {event} not supported")]
    CallEventNotSupported { event: String },
    #[error("invalid format for call subscription : {keys}")]
    CallFormat { keys: String },
    #[error("event {action}.{doc_type} not supported")]
    ObjectEventNotSupported { action: String, doc_type: String },
    #[error("invalid format for object subscription : {keys}")]
    ObjectFormat { keys: String },
    #[error("invalid format for fax subscription : {keys}")]
    FaxFormat { keys: String },
    #[error("ConferenceId required")]
    ConferenceIdRequired,
    #[error("Unsupported conference event {event}")]
    ConferenceEventNotSupported { event: String },
    #[error("invalid format for conference subscription : {keys}")]
    ConferenceFormat { keys: String },
    #[error("no available subscriptions to requested binding")]
    NoAvailableSubscriptions,
}

/// The call events of the catalogue, in its order.
pub const CALL_EVENTS: [&str; 9] = [
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_DESTROY",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "PARK_PARKED",
    "PARK_RETRIEVED",
    "PARK_ABANDONED",
];

/// The document actions of object and fax-object bindings, in the catalogue's order.
pub const OBJECT_ACTIONS: [&str; 3] = ["doc_created", "doc_edited", "doc_deleted"];

/// The document types of the catalogue, in its order.
pub const OBJECT_TYPES: [&str; 10] = [
    "account",
    "callflow",
    "device",
    "faxbox",
    "media",
    "user",
    "vmbox",
    "fax",
    "mailbox_message",
    "call_recording",
];

/// Document types stored in the month's database rather than the account's.
pub const MODB_TYPES: [&str; 2] = ["fax", "mailbox_message"];

/// The events of `conference.event.{CONF}.*.{EV}`.
pub const CONFERENCE_EVENTS: [&str; 12] = [
    "conference-create",
    "conference-destroy",
    "lock",
    "unlock",
    "add-member",
    "del-member",
    "stop-talking",
    "start-talking",
    "mute-member",
    "unmute-member",
    "deaf-member",
    "undeaf-member",
];

/// What `{A}`, `{ADB}` and `{MODB}` become for one binding.
struct Names {
    account: String,
    adb: String,
    modb: String,
}

impl Names {
    fn new(scope: &AccountScope, month: YearMonth) -> Self {
        match scope {
            AccountScope::One(a) => Self {
                account: a.as_str().to_owned(),
                adb: a.database(),
                modb: a.modb(month),
            },
            // The whole database word goes: `*` inside a word is no wildcard.
            AccountScope::All => Self {
                account: "*".to_owned(),
                adb: "*".to_owned(),
                modb: "*".to_owned(),
            },
        }
    }
}

/// An id word of a client binding as it appears in a routing key; `*` stays a wildcard.
fn id_word(id: &str) -> std::borrow::Cow<'_, str> {
    if id == "*" { id.into() } else { encode_id(id) }
}

fn is_action(word: &str) -> bool {
    word == "*" || OBJECT_ACTIONS.contains(&word)
}

/// Validate `binding` and translate it for `scope`, MODB names taking `month`.
pub fn translate(
    binding: &str,
    scope: &AccountScope,
    month: YearMonth,
) -> Result<Translation, BindingError> {
    let mut words = binding.split('.');
    let family = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let keys = || rest.join(", ");
    let names = Names::new(scope, month);
    let (family, exchange, subscription_keys) = match family {
        "call" => (Family::Call, Exchange::CallEvt, call(&rest, &names, keys)?),
        "object" => (
            Family::Object,
            Exchange::Configuration,
            object(&rest, &names, keys)?,
        ),
        "fax" => {
            let (exchange, keys) = fax(&rest, &names, keys)?;
            (Family::Fax, exchange, keys)
        }
        "conference" => {
            let (family, keys) = conference(&rest, &names, keys)?;
            (family, Exchange::Conference, keys)
        }
        _ => return Err(BindingError::NoAvailableSubscriptions),
    };
    Ok(Translation {
        family,
        exchange,
        subscription_keys: dedup(subscription_keys),
    })
}

fn call(
    rest: &[&str],
    names: &Names,
    keys: impl Fn() -> String,
) -> Result<Vec<String>, BindingError> {
    let &[event, call_id] = rest else {
        return Err(BindingError::CallFormat { keys: keys() });
    };
    if event != "*" && !CALL_EVENTS.contains(&event) {
        return Err(BindingError::CallEventNotSupported {
            event: event.to_owned(),
        });
    }
    if call_id.is_empty() {
        return Err(BindingError::CallFormat { keys: keys() });
    }
    Ok(vec![format!(
        "call.{}.{event}.{}",
        names.account,
        id_word(call_id)
    )])
}

fn object(
    rest: &[&str],
    names: &Names,
    keys: impl Fn() -> String,
) -> Result<Vec<String>, BindingError> {
    let &[action, doc_type] = rest else {
        return Err(BindingError::ObjectFormat { keys: keys() });
    };
    if !is_action(action) || (doc_type != "*" && !OBJECT_TYPES.contains(&doc_type)) {
        return Err(BindingError::ObjectEventNotSupported {
            action: action.to_owned(),
            doc_type: doc_type.to_owned(),
        });
    }
    let adb = || format!("{action}.{}.{doc_type}.*", names.adb);
    let modb = || format!("{action}.{}.{doc_type}.*", names.modb);
    Ok(if doc_type == "*" {
        vec![adb(), modb()]
    } else if MODB_TYPES.contains(&doc_type) {
        vec![modb()]
    } else {
        vec![adb()]
    })
}

/// Fax status travels on `faxes`, fax documents on `configuration`.
fn fax(
    rest: &[&str],
    names: &Names,
    keys: impl Fn() -> String,
) -> Result<(Exchange, Vec<String>), BindingError> {
    match *rest {
        ["status", fax_id] if !fax_id.is_empty() => Ok((
            Exchange::Faxes,
            vec![format!("fax.status.{}.{}", names.account, id_word(fax_id))],
        )),
        ["object", action] if is_action(action) => Ok((
            Exchange::Configuration,
            vec![format!("{action}.{}.fax.*", names.modb)],
        )),
        _ => Err(BindingError::FaxFormat { keys: keys() }),
    }
}

fn conference(
    rest: &[&str],
    names: &Names,
    keys: impl Fn() -> String,
) -> Result<(Family, Vec<String>), BindingError> {
    // `#` is refused with `*`: used as is, it would be a wildcard in the topic pattern.
    let check_conf = |conf: &str| match conf {
        "" | "*" | "#" => Err(BindingError::ConferenceIdRequired),
        _ => Ok(()),
    };
    match *rest {
        ["command", conf] => {
            check_conf(conf)?;
            Ok((
                Family::ConferenceCommand,
                vec![format!("conference.command.{conf}")],
            ))
        }
        ["event", conf, call_id] => {
            check_conf(conf)?;
            if call_id.is_empty() {
                return Err(BindingError::ConferenceFormat { keys: keys() });
            }
            Ok((
                Family::ConferenceEvent,
                vec![format!(
                    "conference.event.*.{}.{conf}.{}",
                    names.account,
                    id_word(call_id)
                )],
            ))
        }
        ["event", conf, call_id, event] => {
            check_conf(conf)?;
            if call_id != "*" {
                return Err(BindingError::ConferenceFormat { keys: keys() });
            }
            if !CONFERENCE_EVENTS.contains(&event) {
                return Err(BindingError::ConferenceEventNotSupported {
                    event: event.to_owned(),
                });
            }
            Ok((
                Family::ConferenceEvent,
                vec![format!(
                    "conference.event.{event}.{}.{conf}.*",
                    names.account
                )],
            ))
        }
        _ => Err(BindingError::ConferenceFormat { keys: keys() }),
    }
}

/// Drops repeats, keeping each key's first position. The lists are tiny: a scan beats a set.
fn dedup(keys: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// `GET /v2/websockets`'s `data`: exactly the seed's catalogue.
pub fn catalogue() -> serde_json::Value {
    let call: Vec<String> = CALL_EVENTS
        .iter()
        .map(|ev| format!("call.{ev}.{{CALL_ID}}"))
        .collect();
    let object: Vec<String> = OBJECT_ACTIONS
        .iter()
        .flat_map(|action| {
            OBJECT_TYPES
                .iter()
                .map(move |t| format!("object.{action}.{t}"))
        })
        .collect();
    serde_json::json!({
        "call": call,
        "conference": [
            "conference.event.{CONFERENCE_ID}.{CALL_ID}",
            "conference.command.{CONFERENCE_ID}"
        ],
        "fax": [
            "fax.status.{FAX_ID}",
            "fax.object.{ACTION}"
        ],
        "object": object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountId;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const ADB: &str = "account%2F01%2F23%2F456789abcdef0123456789abcdef";
    const MONTH: YearMonth = YearMonth {
        year: 2024,
        month: 3,
    };

    fn one() -> AccountScope {
        AccountScope::One(AccountId::parse(A).unwrap())
    }

    fn modb() -> String {
        format!("{ADB}-202403")
    }

    fn ok(binding: &str) -> Translation {
        translate(binding, &one(), MONTH).unwrap_or_else(|e| panic!("{binding}: {e}"))
    }

    fn ok_all(binding: &str) -> Translation {
        translate(binding, &AccountScope::All, MONTH).unwrap_or_else(|e| panic!("{binding}: {e}"))
    }

    fn keys(binding: &str) -> Vec<String> {
        ok(binding).subscription_keys
    }

    fn err(binding: &str) -> String {
        let e = translate(binding, &one(), MONTH).expect_err(binding);
        // The scope never changes validation.
        assert_eq!(
            translate(binding, &AccountScope::All, MONTH).expect_err(binding),
            e
        );
        e.to_string()
    }

    // ---- family selection ----

    #[test]
    fn unknown_family() {
        for b in [
            "",
            ".",
            "calls.CHANNEL_CREATE.*",
            "CALL.CHANNEL_CREATE.*",
            "*",
            "#",
            "*.CHANNEL_CREATE.*",
            "presence.update.*",
            " call.CHANNEL_CREATE.*",
        ] {
            assert_eq!(
                err(b),
                "no available subscriptions to requested binding",
                "{b:?}"
            );
        }
    }

    // ---- call ----

    #[test]
    fn call_every_event() {
        for ev in CALL_EVENTS {
            let t = ok(&format!("call.{ev}.*"));
            assert_eq!(t.family, Family::Call);
            assert_eq!(t.subscription_keys, [format!("call.{A}.{ev}.*")]);
        }
    }

    #[test]
    fn call_wildcards_and_ids() {
        assert_eq!(keys("call.*.*"), [format!("call.{A}.*.*")]);
        assert_eq!(
            keys("call.CHANNEL_ANSWER.abc-123"),
            [format!("call.{A}.CHANNEL_ANSWER.abc-123")]
        );
        assert_eq!(
            keys("call.*.abc@example"),
            [format!("call.{A}.*.abc%40example")]
        );
        assert_eq!(
            keys("call.CHANNEL_CREATE.+1555 x"),
            [format!("call.{A}.CHANNEL_CREATE.%2B1555+x")]
        );
        assert_eq!(
            keys("call.CHANNEL_CREATE.é"),
            [format!("call.{A}.CHANNEL_CREATE.%C3%A9")]
        );
        // `#` and `%` as ids are literal characters, not wildcards or pre-encoded text.
        assert_eq!(
            keys("call.CHANNEL_CREATE.#"),
            [format!("call.{A}.CHANNEL_CREATE.%23")]
        );
        assert_eq!(
            keys("call.CHANNEL_CREATE.a%40b"),
            [format!("call.{A}.CHANNEL_CREATE.a%2540b")]
        );
        assert_eq!(
            keys("call.CHANNEL_CREATE.a*"),
            [format!("call.{A}.CHANNEL_CREATE.a%2A")]
        );
    }

    #[test]
    fn call_all_accounts() {
        let t = ok_all("call.CHANNEL_DESTROY.x@y");
        assert_eq!(t.family, Family::Call);
        assert_eq!(t.subscription_keys, ["call.*.CHANNEL_DESTROY.x%40y"]);
        assert_eq!(ok_all("call.*.*").subscription_keys, ["call.*.*.*"]);
    }

    #[test]
    fn call_errors() {
        assert_eq!(err("call"), "invalid format for call subscription : ");
        assert_eq!(
            err("call.CHANNEL_CREATE"),
            "invalid format for call subscription : CHANNEL_CREATE"
        );
        assert_eq!(
            err("call.CHANNEL_CREATE.a.b"),
            "invalid format for call subscription : CHANNEL_CREATE, a, b"
        );
        // A dotted call id is two words.
        assert_eq!(
            err("call.CHANNEL_CREATE.abc@10.0.0.1"),
            "invalid format for call subscription : CHANNEL_CREATE, abc@10, 0, 0, 1"
        );
        assert_eq!(
            err("call.CHANNEL_CREATE."),
            "invalid format for call subscription : CHANNEL_CREATE, "
        );
        assert_eq!(err("call.CHANNEL_FOO.*"), "event CHANNEL_FOO not supported");
        assert_eq!(
            err("call.channel_create.*"),
            "event channel_create not supported"
        );
        assert_eq!(err("call.#.*"), "event # not supported");
        assert_eq!(err("call..*"), "event  not supported");
        // The event is judged before the id.
        assert_eq!(err("call.NOPE."), "event NOPE not supported");
    }

    // ---- object ----

    #[test]
    fn object_account_db_types() {
        for t in [
            "account",
            "callflow",
            "device",
            "faxbox",
            "media",
            "user",
            "vmbox",
            "call_recording",
        ] {
            for action in OBJECT_ACTIONS {
                let tr = ok(&format!("object.{action}.{t}"));
                assert_eq!(tr.family, Family::Object);
                assert_eq!(tr.subscription_keys, [format!("{action}.{ADB}.{t}.*")]);
            }
        }
        assert_eq!(keys("object.*.user"), [format!("*.{ADB}.user.*")]);
    }

    #[test]
    fn object_modb_types() {
        let m = modb();
        assert_eq!(
            keys("object.doc_created.fax"),
            [format!("doc_created.{m}.fax.*")]
        );
        assert_eq!(
            keys("object.doc_deleted.mailbox_message"),
            [format!("doc_deleted.{m}.mailbox_message.*")]
        );
        assert_eq!(keys("object.*.fax"), [format!("*.{m}.fax.*")]);
    }

    #[test]
    fn object_modb_takes_the_month() {
        let scope = one();
        let dec = YearMonth {
            year: 2023,
            month: 12,
        };
        let t = translate("object.doc_edited.fax", &scope, dec).unwrap();
        assert_eq!(
            t.subscription_keys,
            [format!("doc_edited.{ADB}-202312.fax.*")]
        );
        let jan = YearMonth {
            year: 2024,
            month: 1,
        };
        let t = translate("object.doc_edited.fax", &scope, jan).unwrap();
        assert_eq!(
            t.subscription_keys,
            [format!("doc_edited.{ADB}-202401.fax.*")]
        );
    }

    #[test]
    fn object_any_type_is_both_databases() {
        let m = modb();
        assert_eq!(
            keys("object.doc_edited.*"),
            [
                format!("doc_edited.{ADB}.*.*"),
                format!("doc_edited.{m}.*.*")
            ]
        );
        assert_eq!(
            keys("object.*.*"),
            [format!("*.{ADB}.*.*"), format!("*.{m}.*.*")]
        );
    }

    #[test]
    fn object_all_accounts() {
        assert_eq!(
            ok_all("object.doc_created.user").subscription_keys,
            ["doc_created.*.user.*"]
        );
        assert_eq!(
            ok_all("object.doc_created.mailbox_message").subscription_keys,
            ["doc_created.*.mailbox_message.*"]
        );
        // ADB and MODB forms coincide: one key.
        let t = ok_all("object.*.*");
        assert_eq!(t.family, Family::Object);
        assert_eq!(t.subscription_keys, ["*.*.*.*"]);
        assert_eq!(
            ok_all("object.doc_deleted.*").subscription_keys,
            ["doc_deleted.*.*.*"]
        );
    }

    #[test]
    fn object_errors() {
        assert_eq!(err("object"), "invalid format for object subscription : ");
        assert_eq!(
            err("object.doc_created"),
            "invalid format for object subscription : doc_created"
        );
        assert_eq!(
            err("object.doc_created.user.x"),
            "invalid format for object subscription : doc_created, user, x"
        );
        assert_eq!(
            err("object.doc_updated.user"),
            "event doc_updated.user not supported"
        );
        assert_eq!(
            err("object.doc_created.widget"),
            "event doc_created.widget not supported"
        );
        assert_eq!(err("object.#.user"), "event #.user not supported");
        assert_eq!(
            err("object.doc_created.#"),
            "event doc_created.# not supported"
        );
        assert_eq!(err("object..user"), "event .user not supported");
        assert_eq!(
            err("object.doc_created."),
            "event doc_created. not supported"
        );
        assert_eq!(err("object.*.Users"), "event *.Users not supported");
    }

    // ---- fax ----

    #[test]
    fn fax_status() {
        let t = ok("fax.status.*");
        assert_eq!(t.family, Family::Fax);
        assert_eq!(t.subscription_keys, [format!("fax.status.{A}.*")]);
        assert_eq!(keys("fax.status.f4x1d"), [format!("fax.status.{A}.f4x1d")]);
        assert_eq!(
            keys("fax.status.job+1@x y"),
            [format!("fax.status.{A}.job%2B1%40x+y")]
        );
        assert_eq!(ok_all("fax.status.*").subscription_keys, ["fax.status.*.*"]);
        assert_eq!(
            ok_all("fax.status.abc").subscription_keys,
            ["fax.status.*.abc"]
        );
    }

    #[test]
    fn fax_object() {
        let m = modb();
        for action in ["doc_created", "doc_edited", "doc_deleted", "*"] {
            let t = ok(&format!("fax.object.{action}"));
            assert_eq!(t.family, Family::Fax);
            assert_eq!(t.subscription_keys, [format!("{action}.{m}.fax.*")]);
            assert_eq!(
                ok_all(&format!("fax.object.{action}")).subscription_keys,
                [format!("{action}.*.fax.*")]
            );
        }
    }

    #[test]
    fn fax_errors() {
        for (b, k) in [
            ("fax", ""),
            ("fax.status", "status"),
            ("fax.status.", "status, "),
            ("fax.status.a.b", "status, a, b"),
            ("fax.object", "object"),
            ("fax.object.doc_updated", "object, doc_updated"),
            ("fax.object.#", "object, #"),
            ("fax.object.", "object, "),
            ("fax.object.doc_created.x", "object, doc_created, x"),
            ("fax.*.x", "*, x"),
            ("fax.inbound.x", "inbound, x"),
        ] {
            assert_eq!(
                err(b),
                format!("invalid format for fax subscription : {k}"),
                "{b:?}"
            );
        }
    }

    // ---- conference ----

    #[test]
    fn conference_command() {
        let t = ok("conference.command.conf1");
        assert_eq!(t.family, Family::ConferenceCommand);
        assert_eq!(t.subscription_keys, ["conference.command.conf1"]);
        // No account in the key, so the scope changes nothing.
        assert_eq!(ok_all("conference.command.conf1"), t);
    }

    #[test]
    fn conference_event_per_call() {
        let t = ok("conference.event.conf1.*");
        assert_eq!(t.family, Family::ConferenceEvent);
        assert_eq!(
            t.subscription_keys,
            [format!("conference.event.*.{A}.conf1.*")]
        );
        assert_eq!(
            keys("conference.event.conf1.call@host"),
            [format!("conference.event.*.{A}.conf1.call%40host")]
        );
        assert_eq!(
            ok_all("conference.event.conf1.c1").subscription_keys,
            ["conference.event.*.*.conf1.c1"]
        );
    }

    #[test]
    fn conference_event_by_name() {
        for ev in CONFERENCE_EVENTS {
            let t = ok(&format!("conference.event.conf1.*.{ev}"));
            assert_eq!(t.family, Family::ConferenceEvent);
            assert_eq!(
                t.subscription_keys,
                [format!("conference.event.{ev}.{A}.conf1.*")]
            );
        }
        assert_eq!(
            ok_all("conference.event.c.*.lock").subscription_keys,
            ["conference.event.lock.*.c.*"]
        );
    }

    #[test]
    fn conference_id_is_not_encoded() {
        assert_eq!(
            keys("conference.command.my conf@x"),
            ["conference.command.my conf@x"]
        );
    }

    #[test]
    fn conference_id_required() {
        for b in [
            "conference.command.*",
            "conference.command.",
            "conference.command.#",
            "conference.event.*.*",
            "conference.event..c1",
            "conference.event.#.*",
            "conference.event.*.*.lock",
            "conference.event.*.*.bogus",
            "conference.event.*.c1.lock",
        ] {
            assert_eq!(err(b), "ConferenceId required", "{b:?}");
        }
    }

    #[test]
    fn conference_errors() {
        assert_eq!(
            err("conference.event.c.*.explode"),
            "Unsupported conference event explode"
        );
        assert_eq!(
            err("conference.event.c.*.LOCK"),
            "Unsupported conference event LOCK"
        );
        assert_eq!(
            err("conference.event.c.*."),
            "Unsupported conference event "
        );
        for (b, k) in [
            ("conference", ""),
            ("conference.command", "command"),
            ("conference.command.c.x", "command, c, x"),
            ("conference.event", "event"),
            ("conference.event.c", "event, c"),
            ("conference.event.c.", "event, c, "),
            ("conference.event.c.call1.lock", "event, c, call1, lock"),
            ("conference.event.c.*.lock.x", "event, c, *, lock, x"),
            ("conference.*.c", "*, c"),
            ("conference.events.c.*", "events, c, *"),
        ] {
            assert_eq!(
                err(b),
                format!("invalid format for conference subscription : {k}"),
                "{b:?}"
            );
        }
    }

    // ---- misc ----

    #[test]
    fn dedup_keeps_first_order() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(dedup(v(&["b", "a", "b", "c", "a"])), v(&["b", "a", "c"]));
        assert_eq!(dedup(vec![]), Vec::<String>::new());
    }

    #[test]
    fn every_catalogue_binding_translates() {
        let cat = catalogue();
        for (_, list) in cat.as_object().unwrap() {
            for b in list.as_array().unwrap() {
                let b = b
                    .as_str()
                    .unwrap()
                    .replace("{CALL_ID}", "c1")
                    .replace("{CONFERENCE_ID}", "conf1")
                    .replace("{FAX_ID}", "f1")
                    .replace("{ACTION}", "doc_created");
                let t = ok(&b);
                assert_eq!(t.subscription_keys.len(), 1, "{b}");
            }
        }
    }

    #[test]
    fn catalogue_is_the_seed() {
        let seed: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/seed_catalogue.json")).unwrap();
        let cat = catalogue();
        assert_eq!(cat, seed);
        // Value equality ignores key order; the wire must not.
        let keys: Vec<&String> = cat.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["call", "conference", "fax", "object"]);
        assert_eq!(
            serde_json::to_string(&cat).unwrap(),
            serde_json::to_string(&seed).unwrap()
        );
    }

    #[test]
    fn each_binding_belongs_to_its_exchange() {
        let cases = [
            ("call.*.*", Exchange::CallEvt),
            ("object.*.user", Exchange::Configuration),
            ("fax.status.*", Exchange::Faxes),
            ("fax.object.*", Exchange::Configuration),
            ("conference.command.c", Exchange::Conference),
            ("conference.event.c.*", Exchange::Conference),
        ];
        for (binding, exchange) in cases {
            assert_eq!(ok(binding).exchange, exchange, "{binding}");
        }
    }
}
