//! TLS on both listeners (issue 11): wss:// and https:// with the configured certificate, no
//! plain text on those ports, and a certificate reloaded (SIGHUP) for new connections while
//! the open ones go on.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::tls::mint;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::{TlsConnector, client::TlsStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

async fn tls_connect(
    addr: std::net::SocketAddr,
    trusted: &CertificateDer<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

async fn wss(addr: std::net::SocketAddr, trusted: &CertificateDer<'static>) -> Wss {
    let tls = tls_connect(addr, trusted).await.expect("a TLS handshake");
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/", tls)
        .await
        .expect("a websocket upgrade over TLS");
    ws
}

async fn ask(ws: &mut Wss, request_id: &str) -> Value {
    let frame = json!({"action": "ping", "request_id": request_id, "auth_token": token(PARENT)});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next_reply(ws).await
}

/// The next text frame, as JSON.
async fn next_reply(ws: &mut Wss) -> Value {
    loop {
        let next = tokio::time::timeout(RECV_TIMEOUT, ws.next())
            .await
            .expect("a reply in time");
        if let Some(Ok(Message::Text(text))) = next {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// `GET path` over https: the status line.
async fn https_get(
    addr: std::net::SocketAddr,
    trusted: &CertificateDer<'static>,
    path: &str,
) -> String {
    let mut tls = tls_connect(addr, trusted).await.expect("a TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer).await;
    answer.lines().next().unwrap_or_default().to_string()
}

async fn tls_node(dir: &Path) -> TestNode {
    let (cert, key) = (dir.join("node.crt"), dir.join("node.key"));
    TestNode::start_with(move |s| {
        s.tls_cert_file = Some(cert);
        s.tls_key_file = Some(key);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listeners_speak_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = mint(dir.path(), "node");
    let node = tls_node(dir.path()).await;

    let mut ws = wss(node.ws_addr, &ca).await;
    let reply = ask(&mut ws, "r1").await;
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(reply["request_id"], "r1");
    assert_eq!(
        https_get(node.http_addr, &ca, "/healthz").await,
        "HTTP/1.1 200 OK"
    );

    // Many requests in one go, and one larger than a TLS read: rustls holds decrypted bytes
    // that no readiness of the socket announces, and every one of them is still answered.
    let pad = "x".repeat(40_000);
    let big =
        json!({"action": "ping", "request_id": "big", "pad": pad, "auth_token": token(PARENT)});
    ws.send(Message::text(big.to_string())).await.unwrap();
    for i in 0..50 {
        let frame = json!({"action": "ping", "request_id": format!("p{i}")});
        ws.feed(Message::text(frame.to_string())).await.unwrap();
    }
    ws.flush().await.unwrap();
    let mut answered = Vec::new();
    while answered.len() < 51 {
        let reply = next_reply(&mut ws).await;
        answered.push(reply["request_id"].as_str().unwrap().to_string());
    }
    assert_eq!(answered[0], "big");
    assert_eq!(answered[50], "p49");

    // No plain text on either port: a plain upgrade or request gets no HTTP answer.
    let plain = raw_exchange(
        node.ws_addr,
        WS_UPGRADE_REQUEST.as_bytes(),
        std::time::Duration::from_secs(2),
    )
    .await;
    assert!(!plain.starts_with("HTTP/1.1 101"), "{plain:?}");
    let plain = raw_exchange(
        node.http_addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        std::time::Duration::from_secs(2),
    )
    .await;
    assert!(!plain.contains("200 OK"), "{plain:?}");

    // A client that does not trust the certificate's authority is refused in the handshake.
    let stranger = mint(dir.path(), "stranger");
    assert!(tls_connect(node.ws_addr, &stranger).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_is_for_new_connections_and_the_open_ones_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let first = mint(dir.path(), "node");
    let node = tls_node(dir.path()).await;
    let mut open = wss(node.ws_addr, &first).await;
    ask(&mut open, "before").await;

    // A broken pair is refused and the one in use stays.
    std::fs::write(dir.path().join("node.crt"), "not a certificate").unwrap();
    assert!(node.node().reload_tls().is_err());
    let mut again = wss(node.ws_addr, &first).await;
    ask(&mut again, "still").await;

    let second = mint(dir.path(), "node");
    assert!(node.node().reload_tls().unwrap());
    let mut renewed = wss(node.ws_addr, &second).await;
    assert_eq!(ask(&mut renewed, "new").await["status"], "success");
    assert!(
        tls_connect(node.ws_addr, &first).await.is_err(),
        "the old certificate is still served"
    );
    assert_eq!(
        https_get(node.http_addr, &second, "/healthz").await,
        "HTTP/1.1 200 OK"
    );
    // The sockets opened before the reload never noticed.
    assert_eq!(ask(&mut open, "after").await["status"], "success");
    assert_eq!(ask(&mut again, "after").await["status"], "success");
}
