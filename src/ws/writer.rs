//! Server frames out: whole wire frames, already encoded (once per route for events), written
//! with vectored writes, so a batch of frames costs one system call while the socket takes it.

use std::future::poll_fn;
use std::io::IoSlice;
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Frames per system call; well under every system's IOV_MAX.
const SLICES_PER_WRITE: usize = 64;

/// Writes every frame, in order, whole.
pub(super) async fn write_frames(
    stream: &mut (impl AsyncWrite + Unpin),
    frames: &[impl AsRef<[u8]>],
) -> std::io::Result<()> {
    let mut next = 0;
    // Bytes of `frames[next]` already written.
    let mut offset = 0;
    while next < frames.len() {
        // The slices live within one poll, never across an await: in the future they would
        // weigh 1 KiB on every socket's task for its whole life.
        let written = poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
            let mut count = 0;
            for (slice, frame) in slices.iter_mut().zip(&frames[next..]) {
                let bytes = frame.as_ref();
                *slice = IoSlice::new(if count == 0 { &bytes[offset..] } else { bytes });
                count += 1;
            }
            Pin::new(&mut *stream).poll_write_vectored(cx, &slices[..count])
        })
        .await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut written = written + offset;
        while next < frames.len() && written >= frames[next].as_ref().len() {
            written -= frames[next].as_ref().len();
            next += 1;
        }
        offset = written;
    }
    // TLS holds records until flushed; TCP has nothing to flush.
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// More frames than one write takes, and more bytes than the socket buffers hold, so the
    /// writes end part-way through frames: the reader still gets every byte in order.
    #[tokio::test]
    async fn partial_writes_resume_where_they_stopped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut receiver, _) = listener.accept().await.unwrap();
        let frames: Vec<Vec<u8>> = (0..300u32)
            .map(|i| {
                let len = 1 + (i as usize * 7919) % 20_000;
                (0..len).map(|j| (i as usize + j) as u8).collect()
            })
            .collect();
        let expected: Vec<u8> = frames.concat();
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            receiver.read_to_end(&mut got).await.unwrap();
            got
        });
        write_frames(&mut sender, &frames).await.unwrap();
        write_frames(&mut sender, &[b"end"]).await.unwrap();
        drop(sender);
        let got = reading.await.unwrap();
        assert_eq!(got.len(), expected.len() + 3);
        assert!(got[..expected.len()] == expected[..], "bytes in order");
        assert_eq!(&got[expected.len()..], b"end");
    }
}
