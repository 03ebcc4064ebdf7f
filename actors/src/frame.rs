//! Server → client websocket frames in wire form (RFC 6455 §5.2). A server's frames are never
//! masked, so a frame's bytes, header included, are the same for every socket it goes to: the
//! router encodes an event once per route and every subscriber's writer sends those same bytes.

use bytes::{BufMut, Bytes, BytesMut};

/// The frame opcodes a server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Text = 0x1,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// A final (unfragmented) frame with `payload` made of `parts`, in one allocation.
pub fn encode(opcode: Opcode, parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    let mut wire = BytesMut::with_capacity(header_len(len) + len);
    wire.put_u8(0x80 | opcode as u8);
    if len < 126 {
        wire.put_u8(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        wire.put_u8(126);
        wire.put_u16(len);
    } else {
        wire.put_u8(127);
        wire.put_u64(len as u64);
    }
    for part in parts {
        wire.put_slice(part);
    }
    wire.freeze()
}

/// The header length of an unmasked frame of `payload_len` bytes.
fn header_len(payload_len: usize) -> usize {
    match payload_len {
        0..126 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// A text frame, header and payload. Its payload is always UTF-8: it can only be built from
/// `str`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFrame(Bytes);

impl TextFrame {
    /// One frame whose payload is `parts` joined.
    pub fn joined(parts: &[&str]) -> Self {
        let parts: Vec<&[u8]> = parts.iter().map(|part| part.as_bytes()).collect();
        Self(encode(Opcode::Text, &parts))
    }

    /// The text the client receives.
    pub fn text(&self) -> &str {
        let payload = &self.0[header_len_of(&self.0)..];
        // Built only from `str`s.
        std::str::from_utf8(payload).unwrap_or_default()
    }

    /// Wire bytes: what the socket's queue holds and the node counts.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for TextFrame {
    /// The frame as it goes on the wire.
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for TextFrame {
    fn from(text: String) -> Self {
        Self::joined(&[&text])
    }
}

/// The header length of an encoded frame, read from its length byte.
fn header_len_of(wire: &[u8]) -> usize {
    match wire.get(1).map(|b| b & 0x7F) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload length a client reads from the header.
    fn declared_len(wire: &[u8]) -> usize {
        match wire[1] {
            126 => usize::from(u16::from_be_bytes([wire[2], wire[3]])),
            127 => u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize,
            n => usize::from(n),
        }
    }

    #[test]
    fn every_length_class_has_its_header() {
        for (len, header) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65_535, 4),
            (65_536, 10),
            (70_000, 10),
        ] {
            let text = "x".repeat(len);
            let frame = TextFrame::from(text.clone());
            let wire = frame.as_ref();
            assert_eq!(wire[0], 0x81, "FIN and text, never masked");
            assert_eq!(wire[1] & 0x80, 0, "never masked");
            assert_eq!(wire.len(), header + len, "{len}");
            assert_eq!(declared_len(wire), len, "{len}");
            assert_eq!(frame.text(), text);
            assert_eq!(frame.len(), header + len);
        }
    }

    #[test]
    fn joined_parts_are_one_payload() {
        let frame = TextFrame::joined(&["{\"a\":", "1}"]);
        assert_eq!(frame.text(), "{\"a\":1}");
        assert_eq!(frame.as_ref()[..2], [0x81, 7]);
    }

    #[test]
    fn control_frames_carry_their_opcode() {
        assert_eq!(&encode(Opcode::Pong, &[b"hi"])[..], &[0x8A, 2, b'h', b'i']);
        assert_eq!(
            &encode(Opcode::Close, &[&1000u16.to_be_bytes()])[..],
            &[0x88, 2, 3, 0xE8]
        );
        assert_eq!(&encode(Opcode::Ping, &[])[..], &[0x89, 0]);
    }
}
