//! Hostile clients cannot hurt anyone else: each attack runs against a real node with a
//! well-behaved subscriber beside it ([`Bystander`]), whose deliveries and latency are checked
//! while the attack holds.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a raw connection to the REST port and sends a publish head announcing `length` bytes,
/// then `sent` bytes of body, and stalls.
async fn stalled_publish(
    node: &TestNode,
    token: Option<&str>,
    length: usize,
    sent: usize,
) -> TcpStream {
    let mut stream = TcpStream::connect(node.http_addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("X-Auth-Token: {t}\r\n"));
    let head = format!(
        "POST /v2/events HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream
}

/// The status line of what the server has answered on `stream` within `patience`.
async fn status_line(stream: &mut TcpStream, patience: Duration) -> String {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(patience, stream.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_body_is_not_read_before_its_caller_may_publish() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let body = 16 * 1024 * 1024;
    let not_superduper = node.token(PARENT);
    for (token, refused) in [
        (None, "HTTP/1.1 401"),
        (Some("garbage"), "HTTP/1.1 401"),
        (Some(not_superduper.as_str()), "HTTP/1.1 403"),
    ] {
        let mut attacks = Vec::new();
        for _ in 0..20 {
            attacks.push(stalled_publish(&node, token, body, 64 * 1024).await);
        }
        // Answered at once, with the body still far from complete.
        for attack in &mut attacks {
            let status = status_line(attack, RECV_TIMEOUT).await;
            assert!(status.starts_with(refused), "{token:?}: {status:?}");
        }
        bystander.assert_served(&node).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_connections_past_the_bound_are_turned_away_and_the_rest_keeps_answering() {
    let node = TestNode::start_with(|s| s.max_rest_connections = 4).await;
    let mut bystander = Bystander::start(&node).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(node.http_addr).await.unwrap());
    }
    // One place is left: the bystander's publish and healthz take it in turn.
    bystander.assert_served(&node).await;
    idle.push(TcpStream::connect(node.http_addr).await.unwrap());
    let mut turned_away = TcpStream::connect(node.http_addr).await.unwrap();
    let status = status_line(&mut turned_away, RECV_TIMEOUT).await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status:?}");
    drop(idle);
    node.eventually("REST answers again", || async {
        node.get("/healthz", None).await.status == 200
    })
    .await;
    bystander.assert_served(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_target_form_gets_an_answer_never_a_panic() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let patience = Duration::from_secs(5);
    let cases: [(&[u8], &str); 6] = [
        (b"GET /v2/websockets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"),
        (
            b"GET http://x/v2/websockets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
        (
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405",
        ),
        (
            b"CONNECT 127.0.0.1:8000 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405",
        ),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404"),
        (b"GET example.com:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 400"),
    ];
    for (request, expected) in cases {
        let answer = raw_exchange(node.http_addr, request, patience).await;
        let shown = String::from_utf8_lossy(request);
        assert!(answer.starts_with(expected), "{shown:?}: {answer:?}");
        if expected != "HTTP/1.1 200" && expected != "HTTP/1.1 400" {
            assert!(
                answer.contains("\"status\":\"error\""),
                "{shown:?}: {answer}"
            );
        }
    }
    bystander.assert_served(&node).await;
}
