//! A websocket's bytes: plain TCP, or TLS over it. The connection waits for the socket to be
//! readable and then reads what is there without waiting, so that an idle socket holds no read
//! buffer; TLS does the same through rustls, whose decrypted bytes are read until none are left.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<Tls>),
}

pub(crate) struct Tls {
    stream: TlsStream<TcpStream>,
    /// The last read returned bytes: rustls may hold more, decrypted, that no readiness of the
    /// TCP socket will announce.
    maybe_more: bool,
}

/// What one TLS read takes at most.
const TLS_READ_CHUNK: usize = 4096;

impl Transport {
    pub(crate) fn tls(stream: TlsStream<TcpStream>) -> Self {
        Transport::Tls(Box::new(Tls {
            stream,
            maybe_more: false,
        }))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(tls) => tls.stream.get_ref().0,
        }
    }

    /// Resolves when a read may find bytes.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Transport::Tls(tls) if tls.maybe_more => Ok(()),
            _ => self.tcp().readable().await,
        }
    }

    /// Reads what is there into `buf` without waiting: `WouldBlock` when nothing is, 0 at the
    /// end of the stream.
    pub(crate) fn try_read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.try_read_buf(buf),
            Transport::Tls(tls) => {
                let mut chunk = [0u8; TLS_READ_CHUNK];
                let mut read = ReadBuf::new(&mut chunk);
                // The TCP socket's readiness wakes the connection (`readable`), not this poll.
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(&mut tls.stream).poll_read(&mut cx, &mut read) {
                    Poll::Ready(Ok(())) => {
                        let n = read.filled().len();
                        buf.extend_from_slice(read.filled());
                        tls.maybe_more = n > 0;
                        Ok(n)
                    }
                    Poll::Ready(Err(error)) => Err(error),
                    Poll::Pending => {
                        tls.maybe_more = false;
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                }
            }
        }
    }

    /// Drops whatever the client sent and has not been read.
    pub(crate) fn discard_unread(&mut self) {
        let mut sink = Vec::new();
        while matches!(self.try_read_buf(&mut sink), Ok(n) if n > 0) {
            sink.clear();
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(&mut tls.stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(tls) => Pin::new(&mut tls.stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Transport::Tls(tls) => Pin::new(&mut tls.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(&mut tls.stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(&mut tls.stream).poll_shutdown(cx),
        }
    }
}
