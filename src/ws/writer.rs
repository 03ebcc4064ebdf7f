//! Server frames out: whole wire frames, already encoded (once per route for events), written
//! with vectored writes, so a batch of frames costs one system call while the socket takes it.

use std::io::IoSlice;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Frames per system call; well under every system's IOV_MAX.
const SLICES_PER_WRITE: usize = 64;

/// Writes every frame, in order, whole.
pub(super) async fn write_frames(stream: &mut TcpStream, frames: &[&Bytes]) -> std::io::Result<()> {
    let mut next = 0;
    // Bytes of `frames[next]` already written.
    let mut offset = 0;
    while next < frames.len() {
        let slices: Vec<IoSlice<'_>> = frames[next..]
            .iter()
            .take(SLICES_PER_WRITE)
            .enumerate()
            .map(|(i, frame)| IoSlice::new(if i == 0 { &frame[offset..] } else { frame }))
            .collect();
        let mut written = stream.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += offset;
        while next < frames.len() && written >= frames[next].len() {
            written -= frames[next].len();
            next += 1;
        }
        offset = written;
    }
    Ok(())
}
