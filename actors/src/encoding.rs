//! The routing-key encoding of an id (SPEC notation `enc(x)`).

use std::borrow::Cow;

fn is_kept(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'~' | b'_')
}

/// Keep `A-Z a-z 0-9 - ~ _`, space → `+`, every other byte of the UTF-8 → `%XX` (upper-case hex).
pub fn encode_id(raw: &str) -> Cow<'_, str> {
    let Some(first) = raw.bytes().position(|b| !is_kept(b)) else {
        return Cow::Borrowed(raw);
    };
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(raw.len() + 16);
    out.push_str(&raw[..first]);
    for b in raw.bytes().skip(first) {
        if is_kept(b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_is_borrowed() {
        let id = "AZaz09-~_abcDEF";
        assert!(matches!(encode_id(id), Cow::Borrowed(s) if s == id));
        assert!(matches!(encode_id(""), Cow::Borrowed("")));
    }

    #[test]
    fn space_is_plus() {
        assert_eq!(encode_id("a b  c"), "a+b++c");
    }

    #[test]
    fn reserved_ascii() {
        assert_eq!(encode_id("a.b"), "a%2Eb");
        assert_eq!(encode_id("*"), "%2A");
        assert_eq!(encode_id("#"), "%23");
        assert_eq!(encode_id("%"), "%25");
        assert_eq!(encode_id("+"), "%2B");
        assert_eq!(encode_id("@"), "%40");
        assert_eq!(encode_id("/"), "%2F");
        assert_eq!(encode_id(":"), "%3A");
        assert_eq!(encode_id("="), "%3D");
        assert_eq!(encode_id("\n"), "%0A");
        assert_eq!(encode_id("\u{7f}"), "%7F");
    }

    #[test]
    fn typical_call_ids() {
        assert_eq!(
            encode_id("abc123@10.0.0.1"),
            "abc123%4010%2E0%2E0%2E1",
            "SIP call id"
        );
        assert_eq!(encode_id("+15551234567"), "%2B15551234567");
        assert_eq!(encode_id("user name@host"), "user+name%40host");
    }

    #[test]
    fn non_ascii_is_each_utf8_byte() {
        assert_eq!(encode_id("é"), "%C3%A9");
        assert_eq!(encode_id("a€b"), "a%E2%82%ACb");
        assert_eq!(encode_id("😀"), "%F0%9F%98%80");
    }

    #[test]
    fn every_byte_class() {
        for b in 0u8..=127 {
            let s = char::from(b).to_string();
            let enc = encode_id(&s);
            if b.is_ascii_alphanumeric() || b"-~_".contains(&b) {
                assert_eq!(enc, s);
            } else if b == b' ' {
                assert_eq!(enc, "+");
            } else {
                assert_eq!(enc, format!("%{b:02X}"));
            }
        }
    }

    #[test]
    fn output_is_one_routing_key_word() {
        let enc = encode_id("a.b*c#d e@f");
        assert!(!enc.contains('.'));
        assert!(!enc.contains('*'));
        assert!(!enc.contains('#'));
        assert_eq!(enc, "a%2Eb%2Ac%23d+e%40f");
    }
}
