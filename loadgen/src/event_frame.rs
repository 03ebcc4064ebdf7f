//! What a client counts of one frame, found without parsing the whole of it. The node writes
//! event frames as `{"action":"event","subscribed_key":"…",…,"data":{…,"loadgen_seq":N,
//! "loadgen_binding":N,"loadgen_sent_us":N,…}}` (SPEC 5): a check of the head and a search for
//! the stamp find everything a delivery needs. A frame of any other layout, or with
//! escapes where the scan would have to decode, takes the full parse, so that only the cost
//! depends on the layout, never the count.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::events::{ReceivedStamp, Stamp};

/// A frame, as far as counting goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A reply or any other frame that is not an event: not counted.
    Other,
    Event {
        subscribed_key: Cow<'a, str>,
        /// `None` for an event this run did not publish (or whose stamp is not whole numbers).
        stamp: Option<Stamp>,
    },
    /// Not JSON, or an event without its subscribed_key: the node sent something wrong.
    Unreadable,
}

/// Reads `text`: the scan when the frame has the node's layout, the full parse otherwise.
pub(crate) fn read(text: &str) -> Frame<'_> {
    scan(text).unwrap_or_else(|| parse(text))
}

const EVENT_HEAD: &str = r#"{"action":"event","subscribed_key":""#;
const ACTION_HEAD: &str = r#"{"action":""#;

/// The frame read from its head and its stamp keys alone; `None` when the layout is not the
/// node's, or when reading it right needs the parser.
fn scan(text: &str) -> Option<Frame<'_>> {
    // A frame cut short is the parser's to call unreadable.
    if !text.ends_with('}') {
        return None;
    }
    let Some(after_head) = text.strip_prefix(EVENT_HEAD) else {
        // `{"action":"reply",…`: the action decides without the rest.
        let action = text.strip_prefix(ACTION_HEAD)?.split('"').next()?;
        return (action != "event" && !action.contains('\\')).then_some(Frame::Other);
    };
    let end = memchr::memchr2(b'"', b'\\', after_head.as_bytes())?;
    if after_head.as_bytes()[end] != b'"' {
        return None; // an escaped subscribed_key
    }
    let (subscribed_key, rest) = after_head.split_at(end);
    Some(Frame::Event {
        subscribed_key: Cow::Borrowed(subscribed_key),
        stamp: scan_stamp(rest)?,
    })
}

/// The publisher writes the stamp's keys one after the other, and the node keeps their order:
/// `"loadgen_seq":N,"loadgen_binding":N,"loadgen_sent_us":N`.
const SEQ_KEY: &str = r#""loadgen_seq":"#;
const BINDING_KEY: &str = r#","loadgen_binding":"#;
const SENT_KEY: &str = r#","loadgen_sent_us":"#;

/// Searched forward (memchr's vectorised search; backward it has none): the stamp comes before
/// any padding.
static SEQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(SEQ_KEY));

/// `Some(None)` when the frame has no stamp; `None` (ask the parser) when it has one the scan
/// does not read: another order, other spacing, other types.
fn scan_stamp(text: &str) -> Option<Option<Stamp>> {
    let Some(at) = SEQ.find(text.as_bytes()) else {
        return Some(None);
    };
    // In compact JSON a key follows `{` or `,`; anything else is inside a string.
    if !matches!(text.as_bytes().get(at.wrapping_sub(1)), Some(b'{' | b',')) {
        return None;
    }
    let (seq, rest) = number(&text[at + SEQ_KEY.len()..])?;
    let (binding, rest) = number(rest.strip_prefix(BINDING_KEY)?)?;
    let (sent_us, rest) = number(rest.strip_prefix(SENT_KEY)?)?;
    if !rest.starts_with([',', '}']) {
        return None;
    }
    Some(Some(Stamp {
        seq,
        binding: usize::try_from(binding).ok()?,
        sent_us,
    }))
}

/// A whole number at the start of `text`, and what follows it.
fn number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let value = text[..digits].parse().ok()?;
    Some((value, &text[digits..]))
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(default, borrow)]
    subscribed_key: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// The full parse, for frames the scan leaves.
fn parse(text: &str) -> Frame<'_> {
    let Ok(frame) = serde_json::from_str::<Incoming>(text) else {
        return Frame::Unreadable;
    };
    if frame.action != "event" {
        return Frame::Other;
    }
    let Some(subscribed_key) = frame.subscribed_key else {
        return Frame::Unreadable;
    };
    let stamp = frame
        .data
        .and_then(|data| serde_json::from_str::<ReceivedStamp>(data.get()).ok())
        .and_then(|stamp| stamp.complete());
    Frame::Event {
        subscribed_key,
        stamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STAMP: Stamp = Stamp {
        seq: 7,
        binding: 1,
        sent_us: 1_700_000_000_000_000,
    };

    /// An event frame as the node writes it (`reply::event_head` + `event_tail`).
    fn node_frame(subscribed_key: &str, data: &str) -> String {
        format!(
            r#"{{"action":"event","subscribed_key":{},"subscription_key":"call.a.*.*","name":"CHANNEL_CREATE","routing_key":"call.a.CHANNEL_CREATE.x","data":{data}}}"#,
            json!(subscribed_key)
        )
    }

    const STAMPED: &str = r#"{"event_name":"CHANNEL_CREATE","call_id":"loadgen-7","loadgen_seq":7,"loadgen_binding":1,"loadgen_sent_us":1700000000000000,"loadgen_padding":"xx"}"#;

    fn event(subscribed_key: &str, stamp: Option<Stamp>) -> Frame<'_> {
        Frame::Event {
            subscribed_key: Cow::Borrowed(subscribed_key),
            stamp,
        }
    }

    #[test]
    fn the_nodes_layout_is_read_by_the_scan_alone() {
        let text = node_frame("call.*.*", STAMPED);
        assert_eq!(scan(&text), Some(event("call.*.*", Some(STAMP))));
        assert_eq!(read(&text), parse(&text));
    }

    #[test]
    fn replies_are_not_counted() {
        for text in [
            r#"{"action":"reply","request_id":"r","status":"success","data":{}}"#,
            r#"{"action":"pong"}"#,
            r#"{"status":"success","action":"reply"}"#,
        ] {
            assert_eq!(read(text), Frame::Other, "{text}");
        }
    }

    #[test]
    fn other_layouts_take_the_parser_and_count_the_same() {
        let reordered = r#"{"data":{"loadgen_sent_us":1700000000000000,"loadgen_binding":1,"loadgen_seq":7},"subscribed_key":"call.*.*","action":"event"}"#;
        let spaced = r#"{ "action": "event", "subscribed_key": "call.*.*", "data": { "loadgen_seq": 7, "loadgen_binding": 1, "loadgen_sent_us": 1700000000000000 } }"#;
        let stamp_reordered = node_frame(
            "call.*.*",
            r#"{"loadgen_binding":1,"x":[],"loadgen_sent_us":1700000000000000,"loadgen_seq":7}"#,
        );
        for text in [reordered, spaced, &stamp_reordered] {
            assert_eq!(scan(text), None, "{text}");
            assert_eq!(read(text), event("call.*.*", Some(STAMP)), "{text}");
        }
    }

    #[test]
    fn escapes_are_decoded_by_the_parser() {
        let text = node_frame("call.\"odd\".*", STAMPED);
        assert_eq!(scan(&text), None);
        assert_eq!(read(&text), event("call.\"odd\".*", Some(STAMP)));
        // A stamp key's text inside a string value is not the key.
        let inside = node_frame(
            "k",
            r#"{"note":"x\"loadgen_seq\":1","loadgen_seq":7,"loadgen_binding":1,"loadgen_sent_us":1700000000000000}"#,
        );
        assert_eq!(read(&inside), event("k", Some(STAMP)));
        let key_inside = node_frame("k", r#"{"a\"loadgen_seq":1}"#);
        assert_eq!(scan(&key_inside), None);
        assert_eq!(read(&key_inside), event("k", None));
    }

    #[test]
    fn events_without_a_whole_stamp_are_unstamped() {
        for data in [
            "{}",
            r#"{"loadgen_seq":7,"loadgen_binding":1}"#,
            r#"{"loadgen_seq":"7","loadgen_binding":1,"loadgen_sent_us":1}"#,
            r#"{"loadgen_seq":-7,"loadgen_binding":1,"loadgen_sent_us":1}"#,
            r#"{"loadgen_seq":7.5,"loadgen_binding":1,"loadgen_sent_us":1}"#,
            r#"{"loadgen_seq":99999999999999999999,"loadgen_binding":1,"loadgen_sent_us":1}"#,
            "null",
        ] {
            let text = node_frame("k", data);
            assert_eq!(read(&text), event("k", None), "{data}");
        }
        let no_data = r#"{"action":"event","subscribed_key":"k"}"#;
        assert_eq!(read(no_data), event("k", None));
    }

    #[test]
    fn broken_frames_are_unreadable_and_never_panic() {
        let whole = node_frame("call.*.*", STAMPED);
        for cut in 0..whole.len() {
            let part = &whole[..cut];
            // Cut right after an inner object, a frame still reads as an event.
            if !part.ends_with('}') {
                assert_eq!(read(part), Frame::Unreadable, "{part}");
            }
        }
        for text in [
            "",
            "not json",
            "[]",
            r#"{"action":"event"}"#,
            r#"{"action":"event","subscribed_key":7,"data":{}}"#,
            r#"{"action":"ev\u0065nt","data":{}}"#,
            r#"{"action":"event","subscribed_key":"k","#,
        ] {
            assert_eq!(read(text), Frame::Unreadable, "{text}");
        }
    }
}
