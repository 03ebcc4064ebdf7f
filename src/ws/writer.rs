//! Server frames out: whole wire frames, already encoded (once per route for events), written
//! with vectored writes, so a batch of frames costs one system call while the socket takes it.

use std::io::IoSlice;

use tokio::net::TcpStream;

/// Frames per system call; well under every system's IOV_MAX.
const SLICES_PER_WRITE: usize = 64;

/// How far the writing of a list of frames has got.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// The first frame not wholly written.
    next: usize,
    /// Bytes of `frames[next]` already written.
    offset: usize,
}

/// Writes what the socket takes now, without waiting: true once every frame is written.
pub(super) fn write_now(
    stream: &TcpStream,
    frames: &[impl AsRef<[u8]>],
    progress: &mut Progress,
) -> std::io::Result<bool> {
    while progress.next < frames.len() {
        let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
        let mut count = 0;
        for (slice, frame) in slices.iter_mut().zip(&frames[progress.next..]) {
            let bytes = frame.as_ref();
            *slice = IoSlice::new(if count == 0 {
                &bytes[progress.offset..]
            } else {
                bytes
            });
            count += 1;
        }
        let written = match stream.try_write_vectored(&slices[..count]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
            Err(error) => return Err(error),
        };
        progress.advance(frames, written);
    }
    Ok(true)
}

/// Writes every frame from `progress` on, in order, whole, waiting for the socket as needed.
pub(super) async fn write_rest(
    stream: &TcpStream,
    frames: &[impl AsRef<[u8]>],
    progress: &mut Progress,
) -> std::io::Result<()> {
    while !write_now(stream, frames, progress)? {
        stream.writable().await?;
    }
    Ok(())
}

impl Progress {
    fn advance(&mut self, frames: &[impl AsRef<[u8]>], written: usize) {
        let mut written = written + self.offset;
        while self.next < frames.len() && written >= frames[self.next].as_ref().len() {
            written -= frames[self.next].as_ref().len();
            self.next += 1;
        }
        self.offset = written;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpSocket};

    /// More frames than one write takes, and more bytes than the socket buffers hold: the
    /// reader still gets every byte in order.
    #[tokio::test]
    async fn partial_writes_resume_where_they_stopped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A small send buffer, so that writes end part-way through frames.
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(16 * 1024).unwrap();
        let sender = socket
            .connect(listener.local_addr().unwrap())
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
        let mut progress = Progress::default();
        assert!(
            !write_now(&sender, &frames, &mut progress).unwrap(),
            "more than the socket takes at once"
        );
        write_rest(&sender, &frames, &mut progress).await.unwrap();
        write_rest(&sender, &[b"end"], &mut Progress::default())
            .await
            .unwrap();
        drop(sender);
        let got = reading.await.unwrap();
        assert_eq!(got.len(), expected.len() + 3);
        assert!(got[..expected.len()] == expected[..], "bytes in order");
        assert_eq!(&got[expected.len()..], b"end");
    }
}
