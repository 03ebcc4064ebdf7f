//! What both listeners need of plain TCP: the process's open-file budget, and turning a
//! connection away with a short HTTP answer that reaches the client.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// File descriptors the node keeps for itself besides websockets and REST connections: its
/// listeners, the files it reads, the runtime's own.
pub(crate) const FD_RESERVE: usize = 32;

/// The open-file limit the node will run with: [`raise_open_file_limit`] raises the soft limit
/// to the hard one.
pub(crate) fn open_file_limit() -> usize {
    rlimit::Resource::NOFILE.get().map_or(1024, |(_, hard)| {
        usize::try_from(hard).unwrap_or(usize::MAX)
    })
}

/// Raises this process's soft open-file limit to its hard limit; the limit now in force.
pub(crate) fn raise_open_file_limit() -> usize {
    rlimit::increase_nofile_limit(u64::MAX)
        .map_or(1024, |limit| usize::try_from(limit).unwrap_or(usize::MAX))
}

/// Answers `status` (`"429 Too Many Requests"`) with `reason` as a plain-text body, with
/// `extra_headers` (each ending in `\r\n`), and closes without reading the request.
pub(crate) async fn turn_away(
    stream: &mut TcpStream,
    status: &str,
    extra_headers: &str,
    reason: &str,
) {
    let answer = refusal_answer(status, extra_headers, reason);
    // What the client already sent is drained first, so that the close is a FIN that lets the
    // answer arrive, not a reset that loses it.
    drain(stream);
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
    drain(stream);
}

/// The HTTP answer of [`turn_away`], for a caller with a stream of its own (TLS).
pub(crate) fn refusal_answer(status: &str, extra_headers: &str, reason: &str) -> String {
    let body = format!("{reason}\r\n");
    format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn drain(stream: &TcpStream) {
    let mut sink = [0u8; 4096];
    while let Ok(n) = stream.try_read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}
