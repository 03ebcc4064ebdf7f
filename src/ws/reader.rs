//! Client frames in (RFC 6455 §5): headers checked as soon as they arrive, payloads unmasked,
//! fragments joined, into the messages a connection acts on.
//!
//! Bytes are held only while a frame is incomplete: an idle socket holds no read buffer.

use thiserror::Error;

use super::transport::Transport;

/// How much one read takes from the socket at most.
const READ_CHUNK: usize = 4096;

/// What a client sent that the connection acts on. Binary and pong frames are taken and
/// dropped here.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    Text(String),
    /// Answer with a pong of this payload.
    Ping(Vec<u8>),
    /// The client closes, with this code if it gave one; answer and stop.
    Close(Option<u16>),
}

/// A broken frame, and the close it earns (RFC 6455 §7.4.1).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    #[error("frame too large")]
    TooLarge,
    #[error("invalid utf-8 in a text frame")]
    InvalidUtf8,
    #[error("protocol error")]
    Protocol,
}

impl FrameError {
    pub(super) fn close_code(self) -> u16 {
        match self {
            FrameError::TooLarge => 1009,
            FrameError::InvalidUtf8 => 1007,
            FrameError::Protocol => 1002,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Result<Self, FrameError> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return Err(FrameError::Protocol),
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A frame header, read and found good.
struct Header {
    fin: bool,
    opcode: Opcode,
    /// Header bytes, mask key included.
    len: usize,
    payload_len: usize,
    mask: [u8; 4],
}

/// A fragmented message being joined.
struct Partial {
    text: bool,
    payload: Vec<u8>,
}

pub(crate) struct Reader {
    max_message_bytes: usize,
    /// Read and not yet parsed, from `start` on.
    buf: Vec<u8>,
    start: usize,
    partial: Option<Partial>,
}

impl Reader {
    /// `already_read`: what the client sent right behind its upgrade request.
    pub(crate) fn new(max_message_bytes: usize, already_read: Vec<u8>) -> Self {
        Self {
            max_message_bytes,
            buf: already_read,
            start: 0,
            partial: None,
        }
    }

    /// Reads what the socket holds now, without waiting: the number of bytes, 0 at its end.
    pub(super) fn read_from(&mut self, stream: &mut Transport) -> std::io::Result<usize> {
        self.buf.reserve(READ_CHUNK);
        let read = stream.try_read_buf(&mut self.buf);
        if !matches!(read, Ok(n) if n > 0) {
            // Readiness can be stale: a read that found nothing must not leave a buffer behind.
            self.keep_only_unparsed();
        }
        read
    }

    /// Bytes as if read from the socket: how the fuzz targets feed it.
    #[cfg(test)]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next message in what was read; `None` until more bytes arrive.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, FrameError> {
        loop {
            let Some(header) = self.header()? else {
                self.keep_only_unparsed();
                return Ok(None);
            };
            if self.buf.len() - self.start < header.len + header.payload_len {
                self.keep_only_unparsed();
                return Ok(None);
            }
            let payload_at = self.start + header.len;
            self.start = payload_at + header.payload_len;
            let payload = &mut self.buf[payload_at..self.start];
            unmask(payload, header.mask);
            if let Some(message) = self.take(header.fin, header.opcode, payload_at)? {
                return Ok(Some(message));
            }
        }
    }

    /// The header at `start`, checked; `None` while incomplete. A bad header is refused before
    /// its payload arrives, and a too-large one before it is buffered.
    fn header(&self) -> Result<Option<Header>, FrameError> {
        let bytes = &self.buf[self.start..];
        let [first, second, ..] = *bytes else {
            return Ok(None);
        };
        if first & 0x70 != 0 || second & 0x80 == 0 {
            // Reserved bits without an extension, or a client frame without a mask.
            return Err(FrameError::Protocol);
        }
        let fin = first & 0x80 != 0;
        let opcode = Opcode::from_bits(first & 0x0F)?;
        let (length_bytes, short_len) = match second & 0x7F {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(usize::from(n))),
        };
        let len = 2 + length_bytes + 4;
        if bytes.len() < len {
            return Ok(None);
        }
        let payload_len = match short_len {
            Some(n) => n,
            None => extended_length(&bytes[2..2 + length_bytes])?,
        };
        if opcode.is_control() && (!fin || payload_len > 125) {
            return Err(FrameError::Protocol);
        }
        let joined = self.partial.as_ref().map_or(0, |p| p.payload.len());
        if payload_len.saturating_add(joined) > self.max_message_bytes {
            return Err(FrameError::TooLarge);
        }
        let mask = [
            bytes[len - 4],
            bytes[len - 3],
            bytes[len - 2],
            bytes[len - 1],
        ];
        Ok(Some(Header {
            fin,
            opcode,
            len,
            payload_len,
            mask,
        }))
    }

    /// Acts on a whole frame whose payload is at `payload_at..start`: a message when it
    /// completes one.
    fn take(
        &mut self,
        fin: bool,
        opcode: Opcode,
        payload_at: usize,
    ) -> Result<Option<Incoming>, FrameError> {
        let payload = &self.buf[payload_at..self.start];
        match opcode {
            Opcode::Ping => Ok(Some(Incoming::Ping(payload.to_vec()))),
            Opcode::Pong => Ok(None),
            Opcode::Close => close_of(payload).map(|code| Some(Incoming::Close(code))),
            Opcode::Text | Opcode::Binary if self.partial.is_some() => Err(FrameError::Protocol),
            Opcode::Text | Opcode::Binary => {
                let text = opcode == Opcode::Text;
                if fin {
                    return message(text, payload.to_vec());
                }
                self.partial = Some(Partial {
                    text,
                    payload: payload.to_vec(),
                });
                Ok(None)
            }
            Opcode::Continuation => {
                let partial = self.partial.as_mut().ok_or(FrameError::Protocol)?;
                partial.payload.extend_from_slice(payload);
                if !fin {
                    return Ok(None);
                }
                let Partial { text, payload } = self.partial.take().ok_or(FrameError::Protocol)?;
                message(text, payload)
            }
        }
    }

    /// Drops what was parsed; frees the buffer when nothing is left in it.
    fn keep_only_unparsed(&mut self) {
        if self.start == self.buf.len() {
            self.buf = Vec::new();
        } else {
            self.buf.drain(..self.start);
        }
        self.start = 0;
    }
}

/// A 16- or 64-bit payload length (network order). The 64-bit one's top bit must be 0.
fn extended_length(bytes: &[u8]) -> Result<usize, FrameError> {
    let len = bytes
        .iter()
        .fold(0u64, |len, &byte| (len << 8) | u64::from(byte));
    if len >> 63 != 0 {
        return Err(FrameError::Protocol);
    }
    Ok(usize::try_from(len).unwrap_or(usize::MAX))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// A complete data message: text must be UTF-8; binary is not for us.
fn message(text: bool, payload: Vec<u8>) -> Result<Option<Incoming>, FrameError> {
    if !text {
        return Ok(None);
    }
    String::from_utf8(payload)
        .map(|text| Some(Incoming::Text(text)))
        .map_err(|_| FrameError::InvalidUtf8)
}

/// The code of a client's close frame: none, or a code a peer may send followed by UTF-8.
fn close_of(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::Protocol),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !allowed {
                return Err(FrameError::Protocol);
            }
            std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame.
    fn frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first_byte];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i & 3]));
        out
    }

    fn reader(bytes: Vec<u8>) -> Reader {
        Reader::new(1024, bytes)
    }

    fn all(bytes: Vec<u8>) -> Result<Vec<Incoming>, FrameError> {
        let mut reader = reader(bytes);
        let mut out = Vec::new();
        while let Some(message) = reader.next()? {
            out.push(message);
        }
        Ok(out)
    }

    fn text(s: &str) -> Incoming {
        Incoming::Text(s.to_string())
    }

    #[test]
    fn whole_frames_of_every_length_class() {
        let long = "x".repeat(300);
        let bytes = [frame(0x81, b"{}"), frame(0x81, long.as_bytes())].concat();
        assert_eq!(all(bytes).unwrap(), [text("{}"), text(&long)]);
        let huge = "y".repeat(70_000);
        let mut reader = Reader::new(100_000, frame(0x81, huge.as_bytes()));
        assert_eq!(reader.next().unwrap(), Some(text(&huge)));
    }

    #[test]
    fn bytes_arriving_one_at_a_time_make_the_same_message() {
        let bytes = frame(0x81, "héllo".as_bytes());
        let mut reader = reader(Vec::new());
        for (i, byte) in bytes.iter().enumerate() {
            assert_eq!(reader.next().unwrap(), None, "nothing before byte {i}");
            reader.buf.push(*byte);
        }
        assert_eq!(reader.next().unwrap(), Some(text("héllo")));
        assert_eq!(reader.next().unwrap(), None);
        assert_eq!(reader.buf.capacity(), 0, "nothing held once parsed");
    }

    #[test]
    fn fragments_are_joined_with_control_frames_between() {
        let bytes = [
            frame(0x01, b"{\"a\""),
            frame(0x89, b"hi"),
            frame(0x00, b":"),
            frame(0x80, b"1}"),
        ]
        .concat();
        assert_eq!(
            all(bytes).unwrap(),
            [Incoming::Ping(b"hi".to_vec()), text("{\"a\":1}")]
        );
    }

    #[test]
    fn binary_and_pong_are_dropped() {
        let bytes = [
            frame(0x82, b"\x00\xff"),
            frame(0x8A, b""),
            frame(0x81, b"x"),
        ]
        .concat();
        assert_eq!(all(bytes).unwrap(), [text("x")]);
    }

    #[test]
    fn close_frames_give_their_code() {
        assert_eq!(all(frame(0x88, b"")).unwrap(), [Incoming::Close(None)]);
        let normal = [&1000u16.to_be_bytes()[..], b"bye"].concat();
        assert_eq!(
            all(frame(0x88, &normal)).unwrap(),
            [Incoming::Close(Some(1000))]
        );
        let app = 4321u16.to_be_bytes();
        assert_eq!(
            all(frame(0x88, &app)).unwrap(),
            [Incoming::Close(Some(4321))]
        );
    }

    #[test]
    fn broken_frames_are_named() {
        let cases: [(Vec<u8>, FrameError, &str); 14] = [
            (
                frame(0x81, b"\xff\xfe"),
                FrameError::InvalidUtf8,
                "bad utf-8",
            ),
            (
                [frame(0x01, b"\xe2\x82"), frame(0x80, b"\xac\xff")].concat(),
                FrameError::InvalidUtf8,
                "bad utf-8 across fragments",
            ),
            (frame(0x83, b"x"), FrameError::Protocol, "reserved opcode"),
            (frame(0x8B, b"x"), FrameError::Protocol, "reserved control"),
            (frame(0xC1, b"x"), FrameError::Protocol, "RSV1"),
            (frame(0xA1, b"x"), FrameError::Protocol, "RSV2"),
            (
                vec![0x81, 0x02, b'{', b'}'],
                FrameError::Protocol,
                "unmasked",
            ),
            (
                frame(0x80, b"x"),
                FrameError::Protocol,
                "continuation of nothing",
            ),
            (
                [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
                FrameError::Protocol,
                "a new message inside a fragmented one",
            ),
            (frame(0x09, b"x"), FrameError::Protocol, "fragmented ping"),
            (frame(0x89, &[0; 126]), FrameError::Protocol, "long ping"),
            (frame(0x88, b"\x03"), FrameError::Protocol, "one-byte close"),
            (
                frame(0x88, &1005u16.to_be_bytes()),
                FrameError::Protocol,
                "1005 sent",
            ),
            (
                frame(0x88, &[0x03, 0xE8, 0xff]),
                FrameError::InvalidUtf8,
                "close reason not utf-8",
            ),
        ];
        for (bytes, expected, what) in cases {
            assert_eq!(all(bytes), Err(expected), "{what}");
        }
    }

    #[test]
    fn too_large_is_refused_from_its_header_alone() {
        let mut header = frame(0x81, &[b'x'; 1025]);
        header.truncate(8);
        assert_eq!(reader(header).next(), Err(FrameError::TooLarge));
        let mut max = vec![0x81, 0x80 | 127];
        max.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        max.extend_from_slice(&MASK);
        assert_eq!(reader(max).next(), Err(FrameError::TooLarge));
        let mut top_bit = vec![0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        top_bit.extend_from_slice(&MASK);
        assert_eq!(reader(top_bit).next(), Err(FrameError::Protocol));
        let joined = [frame(0x01, &[b'x'; 600]), frame(0x80, &[b'x'; 600])].concat();
        assert_eq!(
            all(joined),
            Err(FrameError::TooLarge),
            "fragments count together"
        );
    }
}
