//! A socket as REST shows it (SPEC 6). Its session renders it whenever a frame changes it and
//! publishes it into the [`DescriptionSlot`] its supervisor holds; the supervisor answers list,
//! find and kick from those slots without asking any session. Rendered to JSON once per change,
//! so a list of thousands of sockets is a concatenation, not thousands of serialisations.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::protocol::request::JsonObject;

/// What a socket's description is made of.
#[derive(Serialize)]
pub struct SocketFacts<'a> {
    /// Every client binding held, oldest first, each once.
    pub bindings: &'a [&'a str],
    pub websocket_session_id: &'a str,
    /// Gregorian seconds at connect.
    pub timestamp: u64,
    /// The node's name.
    pub destination: &'a str,
    /// The client's IP.
    pub source: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a JsonObject>,
}

impl<'a> SocketFacts<'a> {
    /// A socket as it opens: no bindings, no labels.
    pub fn new(id: &'a str, connected_at: u64, destination: &'a str, peer: SocketAddr) -> Self {
        Self {
            bindings: &[],
            websocket_session_id: id,
            timestamp: connected_at,
            destination,
            source: peer.ip(),
            name: None,
            metadata: None,
        }
    }
}

/// One socket's description, rendered as its JSON object. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Description(Arc<RawValue>);

impl Description {
    pub fn render(facts: &SocketFacts<'_>) -> Self {
        // Strings, numbers and a JSON object: nothing here can fail to serialise.
        let raw = serde_json::value::to_raw_value(facts).expect("a description serialises");
        Self(Arc::from(raw))
    }

    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for Description {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Where a session publishes its description and its supervisor reads it.
#[derive(Debug)]
pub struct DescriptionSlot(Mutex<Description>);

impl DescriptionSlot {
    pub fn new(first: Description) -> Self {
        Self(Mutex::new(first))
    }

    pub fn publish(&self, description: Description) {
        *self.0.lock() = description;
    }

    pub fn current(&self) -> Description {
        self.0.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn renders_the_spec_shape_and_skips_absent_labels() {
        let peer = "10.0.0.1:5000".parse().unwrap();
        let facts = SocketFacts {
            bindings: &["call.*.*", "object.*.*"],
            ..SocketFacts::new("s1", 63_900_000_000, "node@host", peer)
        };
        let plain = Description::render(&facts);
        assert_eq!(
            plain.as_json(),
            r#"{"bindings":["call.*.*","object.*.*"],"websocket_session_id":"s1","timestamp":63900000000,"destination":"node@host","source":"10.0.0.1"}"#
        );
        let metadata = json!({"tab": 2}).as_object().unwrap().clone();
        let labelled = Description::render(&SocketFacts {
            name: Some("dash"),
            metadata: Some(&metadata),
            ..facts
        });
        let parsed: Value = serde_json::from_str(labelled.as_json()).unwrap();
        assert_eq!(parsed["name"], "dash");
        assert_eq!(parsed["metadata"], json!({"tab": 2}));

        let slot = DescriptionSlot::new(plain);
        slot.publish(labelled.clone());
        assert_eq!(slot.current().as_json(), labelled.as_json());
        assert_eq!(
            serde_json::to_string(&vec![slot.current()]).unwrap(),
            format!("[{}]", labelled.as_json())
        );
    }
}
