//! The opening handshake (RFC 6455 section 4.2), ours rather than the websocket library's, so
//! that every refusal gets an HTTP answer: 400 for a request that is not a websocket upgrade,
//! 426 (with `Sec-WebSocket-Version: 13`) for a plain GET or another protocol version, and the
//! admission refusals (429, 503) answered at once, before a byte is read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::transport::Transport;
use crate::tcp::{refusal_answer, turn_away};

/// Every refusal names the one websocket version this server speaks.
pub(crate) const WS_VERSION_HEADER: &str = "Sec-WebSocket-Version: 13\r\n";

/// The largest request head taken: a browser's upgrade is under 2 KiB, cookies aside.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// Why an upgrade was refused; each is answered with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadUpgrade {
    #[error("the request head is not HTTP")]
    NotHttp,
    #[error("the request head is larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("a websocket upgrade must be an HTTP/1.1 GET")]
    NotGet,
    #[error("this port speaks websockets only: send Upgrade: websocket")]
    NoUpgrade,
    #[error("only websocket version 13 is spoken here")]
    WrongVersion,
    #[error("Sec-WebSocket-Key must be 16 bytes in base64")]
    BadKey,
}

impl BadUpgrade {
    fn status(self) -> &'static str {
        match self {
            BadUpgrade::NoUpgrade | BadUpgrade::WrongVersion => "426 Upgrade Required",
            BadUpgrade::HeadTooLarge => "431 Request Header Fields Too Large",
            _ => "400 Bad Request",
        }
    }
}

/// A client's upgrade request, read and found good.
pub(crate) struct Upgrade {
    key: String,
    /// What the client sent after its head: websocket frames already.
    rest: Vec<u8>,
}

/// Reads the client's upgrade request; a bad one is answered here, with its status. The caller
/// bounds the time this takes.
pub(crate) async fn read_upgrade(stream: &mut Transport) -> Result<Upgrade, BadUpgrade> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        // Into `buf`, not a buffer on the stack: that would be part of the socket's task for
        // its whole life.
        buf.reserve(1024);
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|_| BadUpgrade::NotHttp)?;
        if n == 0 {
            return Err(BadUpgrade::NotHttp);
        }
        match parse(&buf) {
            Ok(Some((head_len, key))) => {
                let rest = buf.split_off(head_len);
                return Ok(Upgrade { key, rest });
            }
            Ok(None) if buf.len() < MAX_HEAD_BYTES => continue,
            Ok(None) => return Err(answer_refusal(stream, BadUpgrade::HeadTooLarge).await),
            Err(bad) => return Err(answer_refusal(stream, bad).await),
        }
    }
}

/// Answers a good upgrade with 101: the socket, and what the client sent behind its request
/// (websocket frames already).
pub(crate) async fn accept(
    mut stream: Transport,
    upgrade: Upgrade,
) -> std::io::Result<(Transport, Vec<u8>)> {
    let accepted = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(upgrade.key.as_bytes())
    );
    stream.write_all(accepted.as_bytes()).await?;
    Ok((stream, upgrade.rest))
}

/// `Some((head length, Sec-WebSocket-Key))` once a whole head is in `buf` and is an upgrade.
fn parse(buf: &[u8]) -> Result<Option<(usize, String)>, BadUpgrade> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(BadUpgrade::HeadTooLarge),
        Err(_) => return Err(BadUpgrade::NotHttp),
    };
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let lists = |name: &str, token: &str| {
        header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|item| item.trim().eq_ignore_ascii_case(token))
        })
    };
    if request.method != Some("GET") || request.version != Some(1) {
        return Err(BadUpgrade::NotGet);
    }
    if !lists("upgrade", "websocket") || !lists("connection", "upgrade") {
        return Err(BadUpgrade::NoUpgrade);
    }
    if header("sec-websocket-version") != Some("13") {
        return Err(BadUpgrade::WrongVersion);
    }
    let key = header("sec-websocket-key").unwrap_or_default();
    if !is_sixteen_bytes_of_base64(key) {
        return Err(BadUpgrade::BadKey);
    }
    Ok(Some((head_len, key.to_string())))
}

/// 16 bytes in base64 are 22 characters of the alphabet and `==`.
fn is_sixteen_bytes_of_base64(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Answers a bad upgrade with its status and closes; the refusal, for the caller's count.
async fn answer_refusal(stream: &mut Transport, bad: BadUpgrade) -> BadUpgrade {
    refuse(stream, bad.status(), &bad.to_string()).await;
    bad
}

/// Answers `status` with `reason` as its body, and closes.
pub(crate) async fn refuse(stream: &mut Transport, status: &str, reason: &str) {
    match stream {
        Transport::Plain(tcp) => turn_away(tcp, status, WS_VERSION_HEADER, reason).await,
        Transport::Tls(_) => {
            stream.discard_unread();
            let answer = refusal_answer(status, WS_VERSION_HEADER, reason);
            let answered = async {
                stream.write_all(answer.as_bytes()).await?;
                stream.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn upgrade_head(extra: &str) -> String {
        format!(
            "GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             {extra}\r\n"
        )
    }

    #[test]
    fn a_browser_upgrade_is_taken() {
        let head = upgrade_head(&format!(
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
        ));
        assert_eq!(
            parse(head.as_bytes()),
            Ok(Some((head.len(), KEY.to_string())))
        );
        assert_eq!(parse(&head.as_bytes()[..20]), Ok(None), "not whole yet");
    }

    #[test]
    fn bad_upgrades_are_named() {
        let v13 = "Sec-WebSocket-Version: 13\r\n";
        let cases = [
            (
                "POST / HTTP/1.1\r\nHost: h\r\n\r\n".to_string(),
                BadUpgrade::NotGet,
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_string(),
                BadUpgrade::NoUpgrade,
            ),
            (
                upgrade_head(&format!(
                    "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\n"
                )),
                BadUpgrade::WrongVersion,
            ),
            (upgrade_head(v13), BadUpgrade::BadKey),
            (
                upgrade_head(&format!("{v13}Sec-WebSocket-Key: \r\n")),
                BadUpgrade::BadKey,
            ),
            (
                upgrade_head(&format!(
                    "{v13}Sec-WebSocket-Key: {}\r\n",
                    "A".repeat(10_000)
                )),
                BadUpgrade::BadKey,
            ),
            (
                upgrade_head(&format!(
                    "{v13}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"
                )),
                BadUpgrade::BadKey,
            ),
            (
                "\x16\x03\x01 not http\r\n\r\n".to_string(),
                BadUpgrade::NotHttp,
            ),
        ];
        for (head, bad) in cases {
            assert_eq!(parse(head.as_bytes()), Err(bad), "{head:?}");
        }
    }
}
