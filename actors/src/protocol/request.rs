//! Client frames: parsing (step 0) and validation (step 3) of SPEC 3. Authentication and
//! authorization are the session's; this module only reads what a frame says.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::ProtocolError;
use crate::account::{AccountId, AccountScope};

pub type JsonObject = serde_json::Map<String, Value>;

/// A text frame must hold one JSON object; anything else is answered `invalid json` at once.
pub fn parse_frame(text: &str) -> Result<JsonObject, ProtocolError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ProtocolError::InvalidJson),
    }
}

/// The longest `request_id` echoed, as JSON text: KAZOO's are 32 hex, a UUID is 36.
pub const MAX_REQUEST_ID_BYTES: usize = 256;

/// The `request_id` of a frame's `text` (which [`parse_frame`] found to be an object), exactly
/// as sent, a number past 2^64 too; `None` when the client sent none. One too long to echo is
/// an error of the validate step (its reply gets a fresh id).
pub fn request_id(text: &str) -> Result<Option<&RawValue>, ProtocolError> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow, default)]
        request_id: Option<&'a RawValue>,
    }
    let id = serde_json::from_str::<Head<'_>>(text)
        .ok()
        .and_then(|head| head.request_id)
        .filter(|id| id.get() != "null");
    match id {
        Some(id) if id.get().len() > MAX_REQUEST_ID_BYTES => {
            Err(ProtocolError::InvalidValue("request_id"))
        }
        id => Ok(id),
    }
}

/// The frame's `auth_token`, if any. One that is not a string is `invalid authentication token
/// format`; any string, JWT or not, is for the authority to judge.
pub fn auth_token(frame: &JsonObject) -> Result<Option<&str>, ProtocolError> {
    match frame.get("auth_token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) => Ok(Some(token)),
        Some(_) => Err(ProtocolError::Token(
            crate::authority::TokenError::Malformed,
        )),
    }
}

/// The account and client bindings a subscribe or unsubscribe is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scope: AccountScope,
    /// `binding` first, then `bindings`, each once.
    pub bindings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Subscribe(Target),
    /// `None`: drop every binding of the socket.
    Unsubscribe(Option<Target>),
    Ping,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub command: Command,
    /// Labels for the socket, applied when the frame succeeds.
    pub name: Option<String>,
    pub metadata: Option<JsonObject>,
}

/// Step 3 (validate), up to but not including the binding catalogue.
pub fn decode(frame: &JsonObject) -> Result<Request, ProtocolError> {
    let command = match frame.get("action") {
        None | Some(Value::Null) => return Err(ProtocolError::MissingKeys(vec!["action"])),
        Some(Value::String(action)) => match action.as_str() {
            "subscribe" => Command::Subscribe(target(frame.get("data"))?),
            "unsubscribe" => match frame.get("data") {
                None | Some(Value::Null) => Command::Unsubscribe(None),
                data => Command::Unsubscribe(Some(target(data)?)),
            },
            "ping" => Command::Ping,
            other => return Err(ProtocolError::UnsupportedAction(other.to_string())),
        },
        Some(_) => return Err(ProtocolError::InvalidValue("action")),
    };
    let name = match frame.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return Err(ProtocolError::InvalidValue("name")),
    };
    let metadata = match frame.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(metadata)) => Some(metadata.clone()),
        Some(_) => return Err(ProtocolError::InvalidValue("metadata")),
    };
    Ok(Request {
        command,
        name,
        metadata,
    })
}

fn target(data: Option<&Value>) -> Result<Target, ProtocolError> {
    let empty = JsonObject::new();
    let data = match data {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(data)) => data,
        Some(_) => return Err(ProtocolError::InvalidValue("data")),
    };
    let account = data.get("account_id").filter(|v| !v.is_null());
    let binding = data.get("binding").filter(|v| !v.is_null());
    let list = data.get("bindings").filter(|v| !v.is_null());

    let mut missing = Vec::new();
    if account.is_none() {
        missing.push("account_id");
    }
    let no_bindings = match list {
        None => true,
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    };
    if binding.is_none() && no_bindings {
        missing.push("binding");
    }
    if !missing.is_empty() {
        return Err(ProtocolError::MissingKeys(missing));
    }

    let scope = match account {
        Some(Value::String(id)) if id == "*" => AccountScope::All,
        Some(Value::String(id)) => AccountScope::One(
            AccountId::parse(id).map_err(|_| ProtocolError::InvalidValue("account_id"))?,
        ),
        _ => return Err(ProtocolError::InvalidValue("account_id")),
    };

    let mut bindings: Vec<String> = Vec::new();
    let mut add = |binding: &str| {
        if !bindings.iter().any(|held| held == binding) {
            bindings.push(binding.to_string());
        }
    };
    match binding {
        None => {}
        Some(Value::String(binding)) => add(binding),
        Some(_) => return Err(ProtocolError::InvalidValue("binding")),
    }
    match list {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Value::String(binding) = item else {
                    return Err(ProtocolError::InvalidValue("bindings"));
                };
                add(binding);
            }
        }
        Some(_) => return Err(ProtocolError::InvalidValue("bindings")),
    }
    Ok(Target { scope, bindings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "0123456789abcdef0123456789abcdef";

    fn decode_json(value: Value) -> Result<Request, ProtocolError> {
        let Value::Object(frame) = value else {
            panic!("test frames are objects")
        };
        decode(&frame)
    }

    fn one(id: &str) -> AccountScope {
        AccountScope::One(AccountId::parse(id).unwrap())
    }

    #[test]
    fn frames_must_be_json_objects() {
        for text in ["", "nope", "[1,2]", "\"s\"", "42", "null", "{\"a\":"] {
            assert_eq!(parse_frame(text), Err(ProtocolError::InvalidJson), "{text}");
        }
        assert!(parse_frame("{}").unwrap().is_empty());
    }

    #[test]
    fn request_id_is_echoed_when_present_exactly_as_sent() {
        let id = |text: &str| request_id(text).unwrap().map(|raw| raw.get().to_string());
        assert_eq!(id(r#"{"request_id":"r1"}"#).as_deref(), Some(r#""r1""#));
        assert_eq!(
            id(r#"{"a":1,"request_id":18446744073709551617}"#).as_deref(),
            Some("18446744073709551617")
        );
        assert_eq!(id(r#"{"request_id":null}"#), None);
        assert_eq!(id(r#"{"action":"ping"}"#), None);
        let long = format!(r#"{{"request_id":"{}"}}"#, "r".repeat(MAX_REQUEST_ID_BYTES));
        assert_eq!(
            request_id(&long).err(),
            Some(ProtocolError::InvalidValue("request_id")),
            "too long to echo"
        );
    }

    #[test]
    fn auth_token_must_be_a_string() {
        let frame = parse_frame(r#"{"auth_token":5}"#).unwrap();
        assert_eq!(
            auth_token(&frame),
            Err(ProtocolError::Token(
                crate::authority::TokenError::Malformed
            ))
        );
        let frame = parse_frame(r#"{"auth_token":"x.y.z"}"#).unwrap();
        assert_eq!(auth_token(&frame), Ok(Some("x.y.z")));
        assert_eq!(auth_token(&JsonObject::new()), Ok(None));
    }

    #[test]
    fn subscribe_unites_binding_and_bindings_binding_first() {
        let request = decode_json(json!({"action":"subscribe","data":{
            "account_id": A, "binding": "b", "bindings": ["a", "b", "c", "a"]}}))
        .unwrap();
        assert_eq!(
            request.command,
            Command::Subscribe(Target {
                scope: one(A),
                bindings: vec!["b".into(), "a".into(), "c".into()]
            })
        );
    }

    #[test]
    fn wildcard_account_is_a_scope() {
        let request =
            decode_json(json!({"action":"subscribe","data":{"account_id":"*","binding":"x"}}))
                .unwrap();
        let Command::Subscribe(target) = request.command else {
            panic!()
        };
        assert_eq!(target.scope, AccountScope::All);
    }

    #[test]
    fn missing_keys_lists_only_the_missing_ones() {
        let cases = [
            (json!({"action":"subscribe"}), "account_id, binding"),
            (
                json!({"action":"subscribe","data":{}}),
                "account_id, binding",
            ),
            (
                json!({"action":"subscribe","data":{"binding":"x"}}),
                "account_id",
            ),
            (
                json!({"action":"subscribe","data":{"account_id":A}}),
                "binding",
            ),
            (
                json!({"action":"subscribe","data":{"account_id":A,"bindings":[]}}),
                "binding",
            ),
            (
                json!({"action":"unsubscribe","data":{"account_id":A}}),
                "binding",
            ),
            (json!({"request_id":"r"}), "action"),
        ];
        for (frame, keys) in cases {
            assert_eq!(
                decode_json(frame.clone()).unwrap_err().to_string(),
                format!("missing required keys : {keys}"),
                "{frame}"
            );
        }
    }

    #[test]
    fn wrong_types_are_invalid_values() {
        let cases = [
            (json!({"action":"subscribe","data":"x"}), "data"),
            (json!({"action":"subscribe","data":[]}), "data"),
            (
                json!({"action":"subscribe","data":{"account_id":5,"binding":"x"}}),
                "account_id",
            ),
            (
                json!({"action":"subscribe","data":{"account_id":"abc","binding":"x"}}),
                "account_id",
            ),
            (
                json!({"action":"subscribe","data":{"account_id":A,"binding":["x"]}}),
                "binding",
            ),
            (
                json!({"action":"subscribe","data":{"account_id":A,"bindings":"x"}}),
                "bindings",
            ),
            (
                json!({"action":"subscribe","data":{"account_id":A,"bindings":["x",1]}}),
                "bindings",
            ),
            (json!({"action":"ping","name":5}), "name"),
            (json!({"action":"ping","metadata":"m"}), "metadata"),
            (json!({"action":7}), "action"),
        ];
        for (frame, key) in cases {
            assert_eq!(
                decode_json(frame.clone()).unwrap_err(),
                ProtocolError::InvalidValue(key),
                "{frame}"
            );
        }
    }

    #[test]
    fn unknown_actions_are_refused() {
        assert_eq!(
            decode_json(json!({"action":"dance"}))
                .unwrap_err()
                .to_string(),
            "unsupported action dance"
        );
    }

    #[test]
    fn unsubscribe_without_data_drops_everything() {
        assert_eq!(
            decode_json(json!({"action":"unsubscribe"}))
                .unwrap()
                .command,
            Command::Unsubscribe(None)
        );
    }

    #[test]
    fn labels_are_read() {
        let request = decode_json(json!({"action":"ping","name":"n","metadata":{"k":1}})).unwrap();
        assert_eq!(request.command, Command::Ping);
        assert_eq!(request.name.as_deref(), Some("n"));
        assert_eq!(request.metadata.unwrap()["k"], json!(1));
    }
}
