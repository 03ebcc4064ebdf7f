//! A small HTTP/1.1 client for the node's REST API (publishing, `/metrics`, `/healthz`) over one
//! kept-alive connection, reopened when the node closes it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::Position;

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

/// Where the REST API is: `http://host:port[/prefix]`.
#[derive(Debug, Clone)]
pub(crate) struct RestTarget {
    pub(crate) addr: SocketAddr,
    authority: String,
    prefix: String,
}

impl RestTarget {
    pub(crate) fn parse(raw: &str) -> Result<RestTarget, String> {
        let (url, addr) = super::node_url::parse(raw, "http", "an http:// URL")?;
        Ok(RestTarget {
            addr,
            // What the Host header carries: host and port as given (none when it is the default).
            authority: url[Position::BeforeHost..Position::AfterPort].to_string(),
            prefix: url.path().trim_end_matches('/').to_string(),
        })
    }
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
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just set"))
    }

    /// Opens the connection now, if it is not open, rather than with the next request.
    pub(crate) async fn open(&mut self) -> Result<(), RestError> {
        self.connection().await.map(drop)
    }

    /// One request; the status and body, whatever the status.
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
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.target.prefix))
            .header(hyper::header::HOST, &self.target.authority);
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let sender = self.connection().await?;
            sender.ready().await.map_err(|e| failed(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(failed(format!(
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

    #[test]
    fn targets() {
        let target = RestTarget::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(target.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(target.prefix, "");
        let target = RestTarget::parse("http://127.0.0.1:9/api/").unwrap();
        assert_eq!(target.prefix, "/api");
        assert_eq!(target.authority, "127.0.0.1:9");
        assert_eq!(
            RestTarget::parse("http://localhost").unwrap().addr.port(),
            80
        );
        for bad in [
            "https://127.0.0.1:8000",
            "127.0.0.1:8000",
            "http://",
            "http://[zz]:1",
        ] {
            assert!(RestTarget::parse(bad).is_err(), "{bad}");
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
