//! The bus messages the load generator publishes: for each client binding, an event that binding
//! must deliver, stamped so that the receiver can tell which publish it was and when it left.

use serde_json::{Value, json};
use switchyard_actors::account::AccountId;
use switchyard_actors::bindings::MODB_TYPES;
use switchyard_actors::encoding::encode_id;
use switchyard_actors::month::YearMonth;

/// Payload keys of the stamp, as the publisher writes them (KAZOO style) …
const SEQ_KEY: &str = "Loadgen-Seq";
const BINDING_KEY: &str = "Loadgen-Binding";
const SENT_KEY: &str = "Loadgen-Sent-Us";
const PADDING_KEY: &str = "Loadgen-Padding";

/// … and as clients receive them in `data` after the node normalises the payload (SPEC 5). Every
/// field is optional so that events of other publishers parse too (and count as unstamped).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ReceivedStamp {
    #[serde(default)]
    loadgen_seq: Option<u64>,
    #[serde(default)]
    loadgen_binding: Option<usize>,
    #[serde(default)]
    loadgen_sent_us: Option<u64>,
}

impl ReceivedStamp {
    /// The stamp, when the event is one of this run's.
    pub(crate) fn complete(&self) -> Option<Stamp> {
        Some(Stamp {
            seq: self.loadgen_seq?,
            binding: self.loadgen_binding?,
            sent_us: self.loadgen_sent_us?,
        })
    }
}

/// What makes one published event unique and timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Sequence number over the whole run.
    pub(crate) seq: u64,
    /// Index of the binding the event is published for.
    pub(crate) binding: usize,
    /// Wall-clock microseconds since the Unix epoch at publish: every process of the run reads the
    /// same clock, so receipt minus this is the latency even across worker processes.
    pub(crate) sent_us: u64,
}

/// A client binding with its wildcards resolved to concrete values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Template {
    Call {
        event: String,
        call_id: Option<String>,
    },
    Object {
        action: String,
        doc_type: String,
    },
    FaxStatus {
        fax_id: Option<String>,
    },
    FaxObject {
        action: String,
    },
    ConferenceCommand {
        conference: String,
    },
    ConferenceEvent {
        conference: String,
        call_id: Option<String>,
        event: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--binding {binding:?}: cannot publish events for it: {reason}")]
pub(crate) struct TemplateError {
    binding: String,
    reason: &'static str,
}

fn is_wild(word: &str) -> bool {
    word == "*" || word == "#"
}

/// The concrete word for a binding word, or `default` where the binding has a wildcard.
fn concrete(word: &str, default: &str) -> String {
    if is_wild(word) { default } else { word }.to_string()
}

fn specific(word: &str) -> Option<String> {
    (!is_wild(word)).then(|| word.to_string())
}

impl Template {
    /// The template for a client binding (SPEC 4). Only the shape is checked here: whether the
    /// node accepts the binding is its own answer to the subscription.
    pub(crate) fn for_binding(binding: &str) -> Result<Template, TemplateError> {
        let words: Vec<&str> = binding.split('.').collect();
        let refuse = |reason| TemplateError {
            binding: binding.to_string(),
            reason,
        };
        match words.as_slice() {
            ["call", event, call_id] => Ok(Template::Call {
                event: concrete(event, "CHANNEL_CREATE"),
                call_id: specific(call_id),
            }),
            ["object", action, doc_type] => Ok(Template::Object {
                action: concrete(action, "doc_edited"),
                doc_type: concrete(doc_type, "user"),
            }),
            ["fax", "status", fax_id] => Ok(Template::FaxStatus {
                fax_id: specific(fax_id),
            }),
            ["fax", "object", action] => Ok(Template::FaxObject {
                action: concrete(action, "doc_edited"),
            }),
            ["conference", "command", conference] if !is_wild(conference) => {
                Ok(Template::ConferenceCommand {
                    conference: conference.to_string(),
                })
            }
            ["conference", "event", conference, call_id] if !is_wild(conference) => {
                Ok(Template::ConferenceEvent {
                    conference: conference.to_string(),
                    call_id: specific(call_id),
                    event: "add-member".to_string(),
                })
            }
            ["conference", "event", conference, "*", event] if !is_wild(conference) => {
                Ok(Template::ConferenceEvent {
                    conference: conference.to_string(),
                    call_id: None,
                    event: concrete(event, "add-member"),
                })
            }
            ["conference", ..] => Err(refuse(
                "a conference binding needs a conference id, not a wildcard \
                 (conference.command.{CONF}, conference.event.{CONF}.{CALL_ID} or \
                 conference.event.{CONF}.*.{EVENT})",
            )),
            _ => Err(refuse(
                "expected call.{EVENT}.{CALL_ID}, object.{ACTION}.{TYPE}, fax.status.{FAX_ID}, \
                 fax.object.{ACTION} or a conference binding",
            )),
        }
    }

    /// The KAZOO exchange its events are published to.
    pub(crate) fn exchange(&self) -> &'static str {
        match self {
            Template::Call { .. } => "callevt",
            Template::Object { .. } | Template::FaxObject { .. } => "configuration",
            Template::FaxStatus { .. } => "faxes",
            Template::ConferenceCommand { .. } | Template::ConferenceEvent { .. } => "conference",
        }
    }

    /// The event for `account`, stamped, as KAZOO publishes it: exchange, incoming routing key
    /// (SPEC 5: for call events `call.{EVENT}.{enc(CALL_ID)}`, without the account, which the
    /// node reads from the payload) and payload.
    pub(crate) fn message(&self, account: &AccountId, stamp: Stamp, padding: &str) -> Message {
        let id = format!("loadgen-{}", stamp.seq);
        let modb = || account.modb(YearMonth::now());
        let (exchange, routing_key, mut payload) = match self {
            Template::Call { event, call_id } => {
                let call_id = call_id.as_deref().unwrap_or(&id);
                (
                    "callevt",
                    format!("call.{event}.{}", encode_id(call_id)),
                    json!({
                        "Event-Name": event,
                        "Call-ID": call_id,
                        "Call-Direction": "inbound",
                        "Custom-Channel-Vars": {"Account-ID": account.as_str()},
                    }),
                )
            }
            Template::Object { action, doc_type } => {
                let database = if MODB_TYPES.contains(&doc_type.as_str()) {
                    modb()
                } else {
                    account.database()
                };
                document_event(action, &database, doc_type, &id, account)
            }
            Template::FaxObject { action } => document_event(action, &modb(), "fax", &id, account),
            Template::FaxStatus { fax_id } => {
                let fax_id = fax_id.as_deref().unwrap_or(&id);
                (
                    "faxes",
                    format!("fax.status.{account}.{}", encode_id(fax_id)),
                    json!({
                        "Event-Name": "status",
                        "Fax-ID": fax_id,
                        "Account-ID": account.as_str(),
                        "Status": "Sending page 1",
                    }),
                )
            }
            Template::ConferenceCommand { conference } => (
                "conference",
                format!("conference.command.{conference}"),
                json!({
                    "Event-Name": "command",
                    "Application-Name": "play",
                    "Conference-ID": conference,
                    "Account-ID": account.as_str(),
                }),
            ),
            Template::ConferenceEvent {
                conference,
                call_id,
                event,
            } => {
                let call_id = call_id.as_deref().unwrap_or(&id);
                (
                    "conference",
                    format!(
                        "conference.event.{event}.{account}.{conference}.{}",
                        encode_id(call_id)
                    ),
                    json!({
                        "Event-Name": event,
                        "Conference-ID": conference,
                        "Call-ID": call_id,
                        "Account-ID": account.as_str(),
                    }),
                )
            }
        };
        let fields = payload.as_object_mut().expect("payloads are objects");
        fields.insert(SEQ_KEY.into(), stamp.seq.into());
        fields.insert(BINDING_KEY.into(), stamp.binding.into());
        fields.insert(SENT_KEY.into(), stamp.sent_us.into());
        if !padding.is_empty() {
            fields.insert(PADDING_KEY.into(), padding.into());
        }
        debug_assert_eq!(exchange, self.exchange());
        Message {
            exchange,
            routing_key,
            payload,
        }
    }
}

/// One published event: where KAZOO would publish it, and its payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) exchange: &'static str,
    /// KAZOO's incoming routing key (the AMQP routing key; the node derives what clients see).
    pub(crate) routing_key: String,
    pub(crate) payload: Value,
}

impl Message {
    /// `{"exchange":…,"routing_key":…,"payload":{…}}`: an element of a `POST /v2/events` body.
    pub(crate) fn into_bus_json(self) -> Value {
        json!({"exchange": self.exchange, "routing_key": self.routing_key, "payload": self.payload})
    }
}

fn document_event(
    action: &str,
    database: &str,
    doc_type: &str,
    id: &str,
    account: &AccountId,
) -> (&'static str, String, Value) {
    (
        "configuration",
        format!("{action}.{database}.{doc_type}.{}", encode_id(id)),
        json!({
            "Event-Name": action,
            "Database": database.replace("%2F", "/"),
            "Type": doc_type,
            "ID": id,
            "Account-ID": account.as_str(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_actors::event::{BusMessage, Event};

    const A: &str = "0123456789abcdef0123456789abcdef";

    fn account() -> AccountId {
        AccountId::parse(A).unwrap()
    }

    fn stamp() -> Stamp {
        Stamp {
            seq: 7,
            binding: 1,
            sent_us: 1_700_000_000_000_000,
        }
    }

    /// What the node makes of the message: its delivered routing key and the stamp clients read.
    fn delivered(binding: &str) -> (String, Stamp) {
        let message = Template::for_binding(binding)
            .unwrap()
            .message(&account(), stamp(), "")
            .into_bus_json();
        let message: BusMessage = serde_json::from_value(message).unwrap();
        let event = Event::from_bus(message).unwrap();
        assert!(event.deliverable, "{binding}");
        let stamp: ReceivedStamp = serde_json::from_slice(&event.data).unwrap();
        (event.routing_key, stamp.complete().unwrap())
    }

    #[test]
    fn every_family_yields_an_event_the_node_accepts_with_the_stamp() {
        let db = account().database();
        let modb = account().modb(YearMonth::now());
        let cases = [
            ("call.*.*", format!("call.{A}.CHANNEL_CREATE.loadgen-7")),
            (
                "call.CHANNEL_ANSWER.a@b",
                format!("call.{A}.CHANNEL_ANSWER.a%40b"),
            ),
            ("object.*.*", format!("doc_edited.{db}.user.loadgen-7")),
            (
                "object.doc_created.fax",
                format!("doc_created.{modb}.fax.loadgen-7"),
            ),
            ("fax.status.*", format!("fax.status.{A}.loadgen-7")),
            ("fax.object.*", format!("doc_edited.{modb}.fax.loadgen-7")),
            ("conference.command.c1", "conference.command.c1".to_string()),
            (
                "conference.event.c1.*",
                format!("conference.event.add-member.{A}.c1.loadgen-7"),
            ),
            (
                "conference.event.c1.*.lock",
                format!("conference.event.lock.{A}.c1.loadgen-7"),
            ),
        ];
        for (binding, routing_key) in cases {
            let (delivered_key, received) = delivered(binding);
            assert_eq!(delivered_key, routing_key, "{binding}");
            assert_eq!(received.seq, 7);
            assert_eq!(received.binding, 1);
            assert_eq!(received.sent_us, 1_700_000_000_000_000);
        }
    }

    /// The AMQP routing keys are KAZOO's incoming ones (SPEC 5), not the keys clients see: call
    /// events carry no account (the node reads it from the payload); the others are unchanged.
    #[test]
    fn amqp_routing_keys_are_kazoos_incoming_keys() {
        let db = account().database();
        let modb = account().modb(YearMonth::now());
        let cases = [
            (
                "call.*.*",
                "callevt",
                "call.CHANNEL_CREATE.loadgen-7".to_string(),
            ),
            (
                "call.CHANNEL_ANSWER.a@b",
                "callevt",
                "call.CHANNEL_ANSWER.a%40b".to_string(),
            ),
            (
                "object.*.*",
                "configuration",
                format!("doc_edited.{db}.user.loadgen-7"),
            ),
            (
                "fax.object.*",
                "configuration",
                format!("doc_edited.{modb}.fax.loadgen-7"),
            ),
            ("fax.status.*", "faxes", format!("fax.status.{A}.loadgen-7")),
            (
                "conference.command.c1",
                "conference",
                "conference.command.c1".to_string(),
            ),
            (
                "conference.event.c1.*.lock",
                "conference",
                format!("conference.event.lock.{A}.c1.loadgen-7"),
            ),
        ];
        for (binding, exchange, routing_key) in cases {
            let template = Template::for_binding(binding).unwrap();
            let message = template.message(&account(), stamp(), "");
            assert_eq!(message.exchange, exchange, "{binding}");
            assert_eq!(template.exchange(), exchange, "{binding}");
            assert_eq!(message.routing_key, routing_key, "{binding}");
            assert!(!message.payload.as_object().unwrap().contains_key("payload"));
            assert_eq!(message.payload["Loadgen-Seq"], 7);
        }
        let call = Template::for_binding("call.*.*").unwrap();
        let message = call.message(&account(), stamp(), "");
        assert!(
            !message.routing_key.contains(A),
            "no account in callevt's key"
        );
        assert_eq!(message.payload["Custom-Channel-Vars"]["Account-ID"], A);
    }

    #[test]
    fn padding_is_carried() {
        let message = Template::for_binding("call.*.*")
            .unwrap()
            .message(&account(), stamp(), "xxxx")
            .into_bus_json();
        assert_eq!(message["payload"][PADDING_KEY], "xxxx");
    }

    #[test]
    fn shapes_it_cannot_publish_for_are_refused_by_name() {
        for binding in [
            "",
            "call.*",
            "conference.command.*",
            "conference.event.*.x",
            "nope.a.b",
        ] {
            let error = Template::for_binding(binding).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("--binding {binding:?}")),
                "{error}"
            );
        }
    }
}
