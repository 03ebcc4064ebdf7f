//! The black-box harness shared by every integration test: a real node on ephemeral ports
//! ([`TestNode`]), real websocket clients ([`Client`]), real HTTP (reqwest) and a few builders for
//! KAZOO bus messages. Nothing is mocked.
//!
//! Timing: every wait has a generous deadline (a busy 2-core machine must not make a test flaky)
//! and no test asserts how long something took. "Nothing was delivered" is checked with a
//! barrier, not a sleep: `POST /v2/events` has queued every frame it will ever queue before it
//! answers, and a socket's replies and events share one ordered queue, so once the reply to a
//! ping sent after the publish arrives, anything the event produced would already have come.

#![allow(dead_code)]

pub mod broker;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use switchyard::config::Settings;
use switchyard::node::Node;
use switchyard_actors::account::AccountId;

pub use reqwest::Method;

/// Superduper: may act on every account, publish, and subscribe to `*`.
pub const MASTER: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
/// The parent of [`CHILD`].
pub const PARENT: &str = "0123456789abcdef0123456789abcdef";
/// A child of [`PARENT`].
pub const CHILD: &str = "c41dc41dc41dc41dc41dc41dc41dc41d";
/// Unrelated to every other account.
pub const OTHER: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
/// Not in the account directory at all: may act on itself only.
pub const STRANGER: &str = "d00dd00dd00dd00dd00dd00dd00dd00d";

/// The node name every [`TestNode`] runs under (each socket's `destination`).
pub const NODE_NAME: &str = "switchyard@test";

/// Unix seconds + this = gregorian seconds (SPEC 6).
pub const GREGORIAN_OFFSET: u64 = 62_167_219_200;

/// How long a client waits for a frame before the test fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a test polls for asynchronous cleanup before it fails.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

const SECRET: &str = "9f1c2b7e4d5a60718293a4b5c6d7e8f90123456789abcdef0fedcba987654321";

pub fn accounts_json() -> Value {
    json!({"accounts": [
        {"id": MASTER, "parent": null, "name": "Master", "superduper": true},
        {"id": PARENT, "parent": null, "name": "Reseller P", "superduper": false},
        {"id": CHILD, "parent": PARENT, "name": "Customer C", "superduper": false},
        {"id": OTHER, "parent": null, "name": "Unrelated B", "superduper": false},
    ]})
}

/// Writes the secret and the account directory into `dir`; returns their paths.
pub fn write_auth_files(dir: &Path) -> (PathBuf, PathBuf) {
    let secret = dir.join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("write secret");
    let accounts = dir.join("accounts.json");
    std::fs::write(&accounts, accounts_json().to_string()).expect("write accounts");
    (secret, accounts)
}

/// A node of its own for one test, on `127.0.0.1:0` ports, with its files in a tempdir.
pub struct TestNode {
    node: Option<Node>,
    dir: TempDir,
    secret_file: PathBuf,
    accounts_file: PathBuf,
    pub ws_addr: SocketAddr,
    pub http_addr: SocketAddr,
    http: reqwest::Client,
}

impl TestNode {
    pub async fn start() -> TestNode {
        Self::start_with(|_| {}).await
    }

    /// Starts a node after `tune` has changed the settings (limits, frame size, …).
    pub async fn start_with(tune: impl FnOnce(&mut Settings)) -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let (secret_file, accounts_file) = write_auth_files(dir.path());
        let mut settings = Settings {
            ws_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            node_name: NODE_NAME.to_string(),
            secret_file: secret_file.clone(),
            accounts_file: Some(accounts_file.clone()),
            ..Settings::default()
        };
        tune(&mut settings);
        let node = Node::start(settings).await.expect("node starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        TestNode {
            ws_addr: node.ws_addr(),
            http_addr: node.http_addr(),
            node: Some(node),
            dir,
            secret_file,
            accounts_file,
            http,
        }
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("node still running")
    }

    /// Hands the node over (for shutdown tests).
    pub fn take_node(&mut self) -> Node {
        self.node.take().expect("node still running")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn secret_file(&self) -> &Path {
        &self.secret_file
    }

    pub fn accounts_file(&self) -> &Path {
        &self.accounts_file
    }

    pub fn secret(&self) -> Vec<u8> {
        SECRET.as_bytes().to_vec()
    }

    /// A token for `account`, valid for an hour.
    pub fn token(&self, account: &str) -> String {
        token(account)
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.ws_addr).await
    }

    /// A client whose socket has authenticated as `account` (with a ping).
    pub async fn connect_as(&self, account: &str) -> Client {
        let mut client = self.connect().await;
        let token = self.token(account);
        client.authenticate(&token).await;
        client
    }

    // ---- REST ----

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Resp {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("HTTP body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, &[], None).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::DELETE, path, token, &[], None).await
    }

    /// `POST /v2/events` of `body` as is, with `token`.
    pub async fn publish_raw(&self, body: &str, token: Option<&str>) -> Resp {
        self.request(
            Method::POST,
            "/v2/events",
            token,
            &[],
            Some(body.to_string()),
        )
        .await
    }

    /// `POST /v2/events` as the superduper account.
    pub async fn publish(&self, body: &Value) -> Resp {
        self.publish_raw(&body.to_string(), Some(&self.token(MASTER)))
            .await
    }

    /// Publishes as the superduper account; asserts success and returns `accepted`.
    pub async fn publish_ok(&self, body: &Value) -> u64 {
        let resp = self.publish(body).await;
        assert_eq!(resp.status, 200, "publish refused: {}", resp.text);
        assert_eq!(resp.body["status"], "success", "{}", resp.text);
        resp.body["data"]["accepted"]
            .as_u64()
            .unwrap_or_else(|| panic!("no data.accepted in {}", resp.text))
    }

    /// `GET /v2/accounts/{account}/websockets` as `account`; asserts 200, returns `data`.
    pub async fn list(&self, account: &str) -> Vec<Value> {
        let resp = self
            .get(
                &format!("/v2/accounts/{account}/websockets"),
                Some(&self.token(account)),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        resp.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("list data is not an array: {}", resp.text))
            .clone()
    }

    /// The `websocket_session_id`s of `account`'s list, in order.
    pub async fn list_ids(&self, account: &str) -> Vec<String> {
        self.list(account).await.iter().map(socket_id_of).collect()
    }

    pub async fn metrics_text(&self) -> String {
        let resp = self.get("/metrics", None).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        resp.text
    }

    /// Polls until `condition` holds, failing the test after [`SETTLE_TIMEOUT`].
    pub async fn eventually<F, Fut>(&self, what: &str, mut condition: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            if condition().await {
                return;
            }
            assert!(Instant::now() < deadline, "never happened: {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the node holds no session, binding or index entry, then checks it through
    /// every window: the fabric's gauges, the router, `/metrics` and each account's REST list.
    pub async fn assert_clean(&self) {
        let fabric = self.node().fabric().clone();
        self.eventually("every session, binding, route and queued byte gone", || {
            let fabric = fabric.clone();
            async move {
                fabric.metrics.connections.get() == 0
                    && fabric.metrics.authenticated_connections.get() == 0
                    && fabric.metrics.bindings.get() == 0
                    && fabric.metrics.routes.get() == 0
                    && fabric.router.is_empty()
                    && fabric.backlog.bytes() == 0
            }
        })
        .await;
        let text = self.metrics_text().await;
        assert_eq!(metric(&text, "switchyard_connections"), Some(0.0), "{text}");
        assert_eq!(metric(&text, "switchyard_bindings"), Some(0.0), "{text}");
        assert_eq!(
            metric(&text, "switchyard_queued_bytes"),
            Some(0.0),
            "{text}"
        );
        for account in [MASTER, PARENT, CHILD, OTHER, STRANGER] {
            assert_eq!(self.list(account).await, Vec::<Value>::new(), "{account}");
        }
    }
}

/// A token for `account` signed with the harness secret, valid for an hour.
pub fn token(account: &str) -> String {
    token_ttl(account, Duration::from_secs(3600))
}

pub fn token_ttl(account: &str, ttl: Duration) -> String {
    let account = AccountId::parse(account).expect("account id");
    switchyard::auth::token::mint(SECRET.as_bytes(), &account, ttl).expect("mint")
}

/// An HS256 token with arbitrary claims (expired ones, other secrets, …).
pub fn token_with_claims(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("encode token")
}

/// A token for `account` that expired a while ago, correctly signed.
pub fn expired_token(account: &str) -> String {
    let now = unix_now();
    token_with_claims(
        SECRET.as_bytes(),
        &json!({"account_id": account, "iat": now - 7200, "exp": now - 3600}),
    )
}

/// A token for `account` signed with a secret the node does not know.
pub fn foreign_token(account: &str) -> String {
    token_with_claims(
        b"not-the-node-secret",
        &json!({"account_id": account, "exp": unix_now() + 3600}),
    )
}

/// A REST answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// `Null` when the body is not JSON.
    pub body: Value,
}

impl Resp {
    /// Asserts the SPEC 6 error envelope with this HTTP status; returns the message.
    pub fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert_error_envelope(&self.body, status);
        self.body["message"].as_str().unwrap().to_string()
    }
}

/// `{"data":{"message":…},"error":"{code}","message":…,"status":"error",node,request_id,timestamp,version}`
pub fn assert_error_envelope(body: &Value, status: u16) {
    let text = body.to_string();
    assert_eq!(body["status"], "error", "{text}");
    assert_eq!(body["error"], status.to_string(), "{text}");
    let message = body["data"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no data.message: {text}"));
    assert!(!message.is_empty(), "{text}");
    assert_eq!(body["message"], message, "{text}");
    assert_common_envelope(body);
}

/// The fields every REST answer carries (SPEC 6), and never a token.
pub fn assert_common_envelope(body: &Value) {
    let text = body.to_string();
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {text}"));
    assert_eq!(object["node"], NODE_NAME, "{text}");
    let request_id = object["request_id"].as_str().unwrap_or_default();
    assert!(!request_id.is_empty(), "{text}");
    assert!(
        is_iso8601(object["timestamp"].as_str().unwrap_or_default()),
        "{text}"
    );
    assert!(
        !object["version"].as_str().unwrap_or_default().is_empty(),
        "{text}"
    );
    assert!(!object.contains_key("auth_token"), "{text}");
}

/// `YYYY-MM-DDTHH:MM:SS` followed by fractions and/or a zone (`Z`, `+HH:MM`).
pub fn is_iso8601(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (text.ends_with('Z') || text[19..].contains('+') || text[19..].contains('-'))
}

/// A Prometheus sample's value by metric name: the sum over every label set of that name, or
/// the one sample with exactly these labels when `name` carries them (`name{reason="x"}`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let bare = key.split('{').next()?;
            let wanted = if name.contains('{') {
                key == name
            } else {
                bare == name
            };
            wanted.then(|| value.trim().parse().ok())?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

pub fn socket_id_of(socket: &Value) -> String {
    socket["websocket_session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no websocket_session_id in {socket}"))
        .to_string()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// ---- names and encodings of SPEC's notation, computed independently of the node ----

/// `enc(x)`: keep `A-Z a-z 0-9 - ~ _`, space → `+`, every other UTF-8 byte → `%XX`.
pub fn enc(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'~' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `{ADB}`: `account%2F{a1a2}%2F{a3a4}%2F{a5..a32}`.
pub fn adb(account: &str) -> String {
    format!(
        "account%2F{}%2F{}%2F{}",
        &account[..2],
        &account[2..4],
        &account[4..]
    )
}

/// `{MODB}` of `yyyymm`.
pub fn modb(account: &str, yyyymm: &str) -> String {
    format!("{}-{yyyymm}", adb(account))
}

/// The current UTC month as `YYYYMM`.
pub fn current_month() -> String {
    switchyard_actors::month::YearMonth::now().to_string()
}

// ---- KAZOO bus messages ----

/// A `callevt` message; `Custom-Channel-Vars.Account-ID` = `account`.
pub fn call_event(account: &str, event_name: &str, call_id: &str) -> Value {
    json!({
        "exchange": "callevt",
        "routing_key": format!("call.{event_name}.{}", enc(call_id)),
        "payload": {
            "Event-Name": event_name,
            "Event-Category": "call_event",
            "Call-ID": call_id,
            "Custom-Channel-Vars": {"Account-ID": account},
        }
    })
}

/// A `configuration` message about document `id` of `doc_type` in database `db`.
pub fn object_event(action: &str, db: &str, doc_type: &str, id: &str) -> Value {
    json!({
        "exchange": "configuration",
        "routing_key": format!("{action}.{db}.{doc_type}.{}", enc(id)),
        "payload": {
            "Event-Name": action,
            "Event-Category": "configuration",
            "ID": id,
            "Type": doc_type,
            "Database": db,
        }
    })
}

/// A `faxes` status message.
pub fn fax_status_event(account: &str, fax_id: &str) -> Value {
    json!({
        "exchange": "faxes",
        "routing_key": format!("fax.status.{account}.{}", enc(fax_id)),
        "payload": {
            "Event-Name": "status",
            "Event-Category": "fax",
            "Fax-ID": fax_id,
            "Account-ID": account,
            "Status": "Processing",
        }
    })
}

/// A conference command; `Account-ID` only when `account` is given.
pub fn conference_command(conference: &str, account: Option<&str>) -> Value {
    let mut payload = json!({
        "Event-Name": "command",
        "Event-Category": "conference",
        "Conference-ID": conference,
        "Application-Name": "play",
    });
    if let Some(account) = account {
        payload["Account-ID"] = json!(account);
    }
    json!({
        "exchange": "conference",
        "routing_key": format!("conference.command.{conference}"),
        "payload": payload,
    })
}

/// A conference event `ev` of `call_id` in `conference` of `account`.
pub fn conference_event(ev: &str, account: &str, conference: &str, call_id: &str) -> Value {
    json!({
        "exchange": "conference",
        "routing_key": format!("conference.event.{ev}.{account}.{conference}.{}", enc(call_id)),
        "payload": {
            "Event-Name": "conference_event",
            "Event": ev,
            "Event-Category": "conference",
            "Conference-ID": conference,
            "Call-ID": call_id,
            "Account-ID": account,
        }
    })
}

// ---- websocket client ----

/// What a client read.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Json(Value),
    /// A close frame: its code (`None` when it had none) and reason.
    Close(Option<u16>, String),
    /// The stream ended without a close frame.
    Ended,
}

/// A real websocket client (tokio-tungstenite).
pub struct Client {
    ws: WebSocketStream<TcpStream>,
    local: SocketAddr,
}

static SYNC_IDS: AtomicU64 = AtomicU64::new(0);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Self::connect_path(addr, "/").await
    }

    /// Connects with an upgrade request for `path` (any path upgrades).
    pub async fn connect_path(addr: SocketAddr, path: &str) -> Client {
        let stream = tokio::time::timeout(RECV_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("TCP connect timed out")
            .expect("TCP connect");
        Self::upgrade(addr, path, stream).await
    }

    /// A client whose kernel receive buffer is small and fixed, so that a client that stops
    /// reading makes the server's writes back up after a few megabytes, not tens.
    pub async fn connect_with_small_receive_buffer(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(8 * 1024).expect("SO_RCVBUF");
        let stream = tokio::time::timeout(RECV_TIMEOUT, socket.connect(addr))
            .await
            .expect("TCP connect timed out")
            .expect("TCP connect");
        Self::upgrade(addr, "/", stream).await
    }

    async fn upgrade(addr: SocketAddr, path: &str, stream: TcpStream) -> Client {
        let local = stream.local_addr().expect("local address");
        let (ws, _) = tokio::time::timeout(
            RECV_TIMEOUT,
            tokio_tungstenite::client_async(format!("ws://{addr}{path}"), stream),
        )
        .await
        .expect("websocket handshake timed out")
        .expect("websocket handshake");
        Client { ws, local }
    }

    /// The client's own address: what the node sees as the peer.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send text frame");
    }

    pub async fn send_json(&mut self, frame: &Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::binary(bytes))
            .await
            .expect("send binary frame");
    }

    /// The next text frame or close, skipping control frames; fails after [`RECV_TIMEOUT`].
    pub async fn recv(&mut self) -> Incoming {
        match self.next_message().await {
            Some(Message::Text(text)) => {
                let value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("server sent non-JSON {text:?}: {e}"));
                Incoming::Json(value)
            }
            Some(Message::Close(Some(frame))) => {
                Incoming::Close(Some(u16::from(frame.code)), frame.reason.to_string())
            }
            Some(Message::Close(None)) => Incoming::Close(None, String::new()),
            Some(Message::Binary(bytes)) => panic!("server sent a binary frame: {bytes:?}"),
            Some(other) => unreachable!("pings are skipped: {other:?}"),
            None => Incoming::Ended,
        }
    }

    /// The next message that is not a ping or a pong; `None` when the stream ended. Fails
    /// after [`RECV_TIMEOUT`].
    async fn next_message(&mut self) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("no frame from the server in time");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next text frame, byte for byte; fails on anything else or after [`RECV_TIMEOUT`].
    pub async fn recv_text(&mut self) -> String {
        match self.next_message().await {
            Some(Message::Text(text)) => text.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next JSON frame; fails on a close or after [`RECV_TIMEOUT`].
    pub async fn recv_json(&mut self) -> Value {
        match self.recv().await {
            Incoming::Json(value) => value,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    /// The next frame, which must be an event.
    pub async fn recv_event(&mut self) -> Value {
        let frame = self.recv_json().await;
        assert_eq!(frame["action"], "event", "expected an event, got {frame}");
        frame
    }

    /// Reads `n` events.
    pub async fn recv_events(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.recv_event().await);
        }
        events
    }

    /// Sends `frame` and returns the next frame (its reply).
    pub async fn request(&mut self, frame: Value) -> Value {
        self.send_json(&frame).await;
        let reply = self.recv_json().await;
        assert_eq!(reply["action"], "reply", "expected a reply, got {reply}");
        reply
    }

    /// Asserts that no frame arrives within `ms` milliseconds. Prefer [`Client::sync`], which
    /// proves the same without depending on time.
    /// Reads until the server pings; fails after [`RECV_TIMEOUT`].
    pub async fn recv_ping(&mut self) {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("no ping from the server in time");
            match next {
                Some(Ok(Message::Ping(_))) => return,
                Some(Ok(_)) => continue,
                other => panic!("the socket ended before a ping: {other:?}"),
            }
        }
    }

    pub async fn expect_no_frame(&mut self, ms: u64) {
        let wait = tokio::time::timeout(Duration::from_millis(ms), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return other,
                }
            }
        })
        .await;
        if let Ok(frame) = wait {
            panic!("expected no frame, got {frame:?}");
        }
    }

    /// A barrier: sends a ping with a fresh request id and asserts that the very next frame is
    /// its reply (success or error alike), i.e. that nothing else was pending for this socket.
    pub async fn sync(&mut self) {
        let id = format!("sync-{}", SYNC_IDS.fetch_add(1, Ordering::Relaxed));
        self.send_json(&json!({"action": "ping", "request_id": id}))
            .await;
        let next = self.recv_json().await;
        assert_eq!(
            next["request_id"], id,
            "expected nothing before the reply to {id}, got {next}"
        );
    }

    /// Authenticates the socket with a ping carrying `token`; asserts the pong.
    pub async fn authenticate(&mut self, token: &str) {
        let reply = self
            .request(json!({"action": "ping", "auth_token": token, "request_id": "auth"}))
            .await;
        assert_eq!(
            reply,
            json!({"action": "reply", "request_id": "auth", "status": "success",
                   "data": {"response": "pong"}}),
        );
    }

    /// Subscribes `bindings` of `account` (a token only when given); returns the reply.
    pub async fn subscribe(
        &mut self,
        token: Option<&str>,
        account: &str,
        bindings: &[&str],
    ) -> Value {
        let mut frame = json!({
            "action": "subscribe",
            "request_id": "sub",
            "data": {"account_id": account, "bindings": bindings},
        });
        if let Some(token) = token {
            frame["auth_token"] = json!(token);
        }
        self.request(frame).await
    }

    /// Subscribes on an authenticated socket and asserts success; returns `subscribed`.
    pub async fn subscribe_ok(&mut self, account: &str, bindings: &[&str]) -> Vec<String> {
        let reply = self.subscribe(None, account, bindings).await;
        success_data(&reply, "sub")["subscribed"]
            .as_array()
            .unwrap_or_else(|| panic!("no subscribed list: {reply}"))
            .iter()
            .map(|b| b.as_str().unwrap().to_string())
            .collect()
    }

    /// Reads until a close frame; returns its code. Fails if the stream ends without one.
    /// Answers the close as a well-behaved client does, and reads the stream to its end.
    pub async fn expect_close(&mut self) -> u16 {
        let code = loop {
            match self.recv().await {
                Incoming::Json(_) => continue,
                Incoming::Close(Some(code), _) => break code,
                other => panic!("expected a close frame with a code, got {other:?}"),
            }
        };
        let _ = tokio::time::timeout(RECV_TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
        code
    }

    /// A clean close from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(RECV_TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Drops the TCP connection without a close frame: `SO_LINGER` 0 makes it a reset.
    pub fn drop_abruptly(self) {
        let _ = self.ws.get_ref().set_zero_linger();
        drop(self);
    }
}

/// Asserts `reply` is a success reply to `request_id`; returns its `data`.
pub fn success_data(reply: &Value, request_id: &str) -> Value {
    assert_eq!(reply["action"], "reply", "{reply}");
    assert_eq!(reply["request_id"], request_id, "{reply}");
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(
        reply.as_object().map(|o| o.len()),
        Some(4),
        "exactly action, request_id, status, data: {reply}"
    );
    reply["data"].clone()
}

/// Asserts `reply` is exactly the error reply `text` to `request_id`.
pub fn assert_error_reply(reply: &Value, request_id: &str, text: &str) {
    assert_eq!(
        reply,
        &json!({"action": "reply", "request_id": request_id, "status": "error",
                "data": {"errors": [text]}}),
    );
}

/// Asserts a request id the node made up: 32 hex characters.
pub fn assert_fresh_request_id(reply: &Value) {
    let id = reply["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("request_id is not a string: {reply}"));
    assert_eq!(id.len(), 32, "{reply}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{reply}");
}

/// Asserts an event frame field by field (and that it has no other field).
pub fn assert_event(
    frame: &Value,
    subscribed_key: &str,
    subscription_key: &str,
    name: &str,
    routing_key: &str,
) {
    assert_eq!(frame["action"], "event", "{frame}");
    assert_eq!(frame["subscribed_key"], subscribed_key, "{frame}");
    assert_eq!(frame["subscription_key"], subscription_key, "{frame}");
    assert_eq!(frame["name"], name, "{frame}");
    assert_eq!(frame["routing_key"], routing_key, "{frame}");
    assert!(frame["data"].is_object(), "{frame}");
    assert_eq!(frame.as_object().unwrap().len(), 6, "{frame}");
}

// ---- beside an attack ----

/// A well-behaved subscriber of [`OTHER`] beside an attack: [`Bystander::assert_served`] proves
/// the node still delivers to it, promptly, and still takes new sockets and REST requests.
pub struct Bystander {
    client: Client,
    published: u64,
}

/// How long a bystander's event may take while an attack runs: generous, for a busy 2-core
/// machine, and far below what a node that was hurt would show (seconds, or never).
pub const BYSTANDER_LATENCY: Duration = Duration::from_secs(3);

impl Bystander {
    pub async fn start(node: &TestNode) -> Bystander {
        let mut client = node.connect_as(OTHER).await;
        client.subscribe_ok(OTHER, &["call.*.*"]).await;
        Bystander {
            client,
            published: 0,
        }
    }

    pub async fn assert_served(&mut self, node: &TestNode) {
        self.published += 1;
        let call_id = format!("bystander-{}", self.published);
        let sent = Instant::now();
        node.publish_ok(&call_event(OTHER, "CHANNEL_CREATE", &call_id))
            .await;
        let event = self.client.recv_event().await;
        let took = sent.elapsed();
        assert_eq!(event["data"]["call_id"], call_id.as_str());
        assert!(took < BYSTANDER_LATENCY, "the bystander waited {took:?}");
        let mut fresh = node.connect_as(PARENT).await;
        fresh.sync().await;
        assert_eq!(node.get("/healthz", None).await.status, 200);
    }
}

/// A browser's websocket upgrade request, whole, for tests that speak raw bytes.
pub const WS_UPGRADE_REQUEST: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Sends `request` as raw bytes on a fresh TCP connection and returns what the server answers
/// before closing or going quiet for `patience` (empty when it closed without a word).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], patience: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(patience, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}
