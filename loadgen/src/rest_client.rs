//! A small HTTP/1.1 client for the node's REST API (publishing, `/metrics`, `/healthz`) over one
//! kept-alive connection, reopened when the node closes it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use url::Position;

use super::tls::Trust;

/// How long one request may take before the node is reported as not answering.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RestError {
    #[error("cannot reach the node's REST API at {addr}: {reason}; is `switchyard serve` running?")]
    Unreachable { addr: SocketAddr, reason: String },
    #[error("{method} {path}: {reason}")]
    Failed {
        method: Method,
        path: String,
        reason: String,
    },
    #[error("{method} {path} answered HTTP {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
}

/// How one try of a request ended, when it did not get an answer.
enum Attempt {
    /// No connection could be opened.
    Refused(RestError),
    /// The connection closed before the request was sent.
    Unsent(String),
    Failed(String),
}

impl Attempt {
    fn from_hyper(error: hyper::Error) -> Attempt {
        if error.is_canceled() || error.is_closed() {
            Attempt::Unsent(error.to_string())
        } else {
            Attempt::Failed(error.to_string())
        }
    }

    fn into_error(self, failed: impl Fn(String) -> RestError) -> RestError {
        match self {
            Attempt::Refused(error) => error,
            Attempt::Unsent(reason) | Attempt::Failed(reason) => failed(reason),
        }
    }
}

/// Where the REST API is: `http://host:port[/prefix]` or `https://…`.
#[derive(Debug, Clone)]
pub(crate) struct RestTarget {
    pub(crate) addr: SocketAddr,
    authority: String,
    prefix: String,
    /// Set for https://: the name the certificate must carry, and what it is checked against.
    tls: Option<(ServerName<'static>, Trust)>,
}

impl RestTarget {
    pub(crate) fn parse(raw: &str, trust: &Trust) -> Result<RestTarget, String> {
        let (url, addr) =
            super::node_url::parse(raw, &["http", "https"], "an http:// or https:// URL")?;
        let tls = if url.scheme() == "https" {
            let host = url.host_str().unwrap_or_default();
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("{raw:?}: {e}"))?;
            Some((name, trust.clone()))
        } else {
            None
        };
        Ok(RestTarget {
            addr,
            // What the Host header carries: host and port as given (none when it is the default).
            authority: url[Position::BeforeHost..Position::AfterPort].to_string(),
            prefix: url.path().trim_end_matches('/').to_string(),
            tls,
        })
    }
}

/// hyper's HTTP/1 client over `io`, its connection driven by a task of its own.
async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, hyper::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

pub(crate) struct RestClient {
    target: RestTarget,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl RestClient {
    pub(crate) fn new(target: RestTarget) -> RestClient {
        RestClient {
            target,
            sender: None,
        }
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, RestError> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let addr = self.target.addr;
            let unreachable = |reason: String| RestError::Unreachable { addr, reason };
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let _ = stream.set_nodelay(true);
            let sender = match &self.target.tls {
                None => handshake(stream).await,
                Some((name, trust)) => {
                    let tls = trust
                        .connector()
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| unreachable(format!("TLS: {e}")))?;
                    handshake(tls).await
                }
            }
            .map_err(|e| unreachable(e.to_string()))?;
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just set"))
    }

    /// Opens the connection now, if it is not open, rather than with the next request.
    pub(crate) async fn open(&mut self) -> Result<(), RestError> {
        self.connection().await.map(drop)
    }

    /// One request; the status and body, whatever the status. A request that a kept-alive
    /// connection could not even send (the node closed it as idle at that moment: hyper says
    /// "canceled") goes once more on a fresh connection: nothing of it reached the node.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), RestError> {
        let failed = |reason: String| RestError::Failed {
            method: method.clone(),
            path: path.to_string(),
            reason,
        };
        let request = || {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(format!("{}{path}", self.target.prefix))
                .header(hyper::header::HOST, &self.target.authority);
            if let Some(token) = token {
                request = request.header("X-Auth-Token", token);
            }
            request
                .body(Full::new(body.clone()))
                .map_err(|e| failed(e.to_string()))
        };
        let (first, second) = (request()?, request()?);
        let reused = self.sender.is_some();
        match self.exchange(first).await {
            Err(Attempt::Unsent(_)) if reused => {}
            outcome => return outcome.map_err(|attempt| attempt.into_error(failed)),
        }
        self.exchange(second)
            .await
            .map_err(|attempt| attempt.into_error(failed))
    }

    /// One request on the current connection (opened if needed), within [`REQUEST_TIMEOUT`].
    async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), Attempt> {
        let exchange = async {
            let sender = self.connection().await.map_err(Attempt::Refused)?;
            sender.ready().await.map_err(Attempt::from_hyper)?;
            let response = sender
                .send_request(request)
                .await
                .map_err(Attempt::from_hyper)?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Attempt::Failed(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Attempt::Failed(format!(
                    "no answer within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            });
        if outcome.is_err() {
            // The connection may be mid-response: never reuse it.
            self.sender = None;
        }
        outcome
    }

    /// The body of a successful (2xx) answer; any other status is an error naming it.
    pub(crate) async fn expect_success(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Bytes,
    ) -> Result<Bytes, RestError> {
        let (status, body) = self.send(method.clone(), path, token, body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(RestError::Status {
                method,
                path: path.to_string(),
                status,
                message: error_message(&body),
            })
        }
    }

    /// `POST /v2/events`; the `accepted` count of the answer.
    pub(crate) async fn publish(&mut self, token: &str, body: Bytes) -> Result<u64, RestError> {
        let answer = self
            .expect_success(Method::POST, "/v2/events", Some(token), body)
            .await?;
        serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["data"]["accepted"].as_u64())
            .ok_or_else(|| RestError::Failed {
                method: Method::POST,
                path: "/v2/events".to_string(),
                reason: "the answer has no data.accepted count".to_string(),
            })
    }
}

/// The envelope's `message` (SPEC 6), or the start of the body when it is not an envelope.
pub(crate) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers one request per connection and then closes it without saying so
    /// (as a node closes a kept-alive connection it found idle): every request still gets its
    /// answer, on a fresh connection when the old one is gone.
    #[tokio::test]
    async fn a_connection_closed_by_the_server_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if stream.read_exact(&mut byte).await.is_err() {
                        break;
                    }
                    head.push(byte[0]);
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
        });
        let mut client = RestClient::new(
            RestTarget::parse(&format!("http://{addr}"), &Trust::new(None).unwrap()).unwrap(),
        );
        for i in 0..20 {
            let (status, body) = client
                .send(Method::GET, "/metrics", None, Bytes::new())
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
        }
    }

    #[test]
    fn targets() {
        let trust = Trust::new(None).unwrap();
        let target = RestTarget::parse("http://127.0.0.1:8000", &trust).unwrap();
        assert_eq!(target.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(target.prefix, "");
        assert!(target.tls.is_none());
        let target = RestTarget::parse("http://127.0.0.1:9/api/", &trust).unwrap();
        assert_eq!(target.prefix, "/api");
        assert_eq!(target.authority, "127.0.0.1:9");
        assert_eq!(
            RestTarget::parse("http://localhost", &trust)
                .unwrap()
                .addr
                .port(),
            80
        );
        let target = RestTarget::parse("https://localhost:8443", &trust).unwrap();
        assert!(target.tls.is_some());
        for bad in [
            "127.0.0.1:8000",
            "ws://127.0.0.1:8000",
            "http://",
            "http://[zz]:1",
        ] {
            assert!(RestTarget::parse(bad, &trust).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_messages_come_from_the_envelope() {
        assert_eq!(
            error_message(br#"{"message":"invalid credentials","status":"error"}"#),
            "invalid credentials"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }
}
