//! The bounds a client reaches only by waiting or by sending a lot: bodies and heads too large,
//! bodies and heads that never finish, too many publishes or handshakes at once, and a client
//! that never answers the server's close. Each is reached on a real node, and the node is
//! checked to go on serving others.

mod common;

use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::*;

/// How long the node gives a request head, a body or a websocket handshake (the constants
/// `REQUEST_HEAD_TIMEOUT`, `BODY_TIMEOUT`, `HANDSHAKE_TIMEOUT`).
const NODE_PATIENCE: Duration = Duration::from_secs(10);

/// Reads what the server sends on `stream` until it closes the connection or `within` passes;
/// and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    let closed = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (answer, closed)
}

/// An HTTP answer, as text.
fn text(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer).into_owned()
}

/// A publish whose head promises `length` bytes of body, of which it sends `sent`.
async fn publish_head(node: &TestNode, length: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(node.http_addr).await.unwrap();
    let head = format!(
        "POST /v2/events HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        node.token(MASTER)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_body_past_16_mib_is_refused_with_413() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let body = format!("[{}]", " ".repeat(16 * 1024 * 1024));
    let resp = node
        .request(
            Method::POST,
            "/v2/events",
            Some(&node.token(MASTER)),
            &[],
            Some(body),
        )
        .await;
    let message = resp.assert_error(413);
    assert!(message.contains("larger than 16777216 bytes"), "{message}");
    bystander.assert_served(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_body_that_stops_arriving_is_refused_with_408() {
    let node = TestNode::start().await;
    let started = Instant::now();
    let mut stalled = publish_head(&node, 100, 10).await;
    let (answer, _) = read_until_closed(&mut stalled, NODE_PATIENCE * 2).await;
    let answer = text(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("the body did not arrive within 10s"),
        "{answer}"
    );
    assert!(started.elapsed() >= NODE_PATIENCE - Duration::from_millis(500));
    let mut bystander = Bystander::start(&node).await;
    bystander.assert_served(&node).await;
}

/// Four bodies are read at once; a fifth publish waits `query_timeout` for a turn, then is told
/// to retry. Once the stalled four go, publishing works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_four_publish_bodies_at_once_the_next_is_told_to_retry() {
    let node =
        TestNode::start_with(|settings| settings.query_timeout = Duration::from_secs(1)).await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(publish_head(&node, 1000, 10).await);
    }
    let event = call_event(PARENT, "CHANNEL_CREATE", "c1");
    node.eventually("the fifth publish is turned away", || async {
        let resp = node.publish(&event).await;
        resp.status == 503 && resp.text.contains("too many publishes under way; retry")
    })
    .await;
    drop(stalled);
    node.eventually("publishing works again", || async {
        node.publish(&event).await.status == 200
    })
    .await;
}

/// Both listeners take a request head of at most 16 KiB, and answer 431 past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_past_16_kib_get_431_on_both_ports() {
    let node = TestNode::start().await;
    let padding = format!("X-Padding: {}\r\n", "p".repeat(17 * 1024));
    let upgrade = WS_UPGRADE_REQUEST.replacen("Host: x\r\n", &format!("Host: x\r\n{padding}"), 1);
    let answer = raw_exchange(node.ws_addr, upgrade.as_bytes(), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let get = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{padding}\r\n");
    let answer = raw_exchange(node.http_addr, get.as_bytes(), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let mut bystander = Bystander::start(&node).await;
    bystander.assert_served(&node).await;
}

/// A slowloris on either port is cut after the node's patience, holding nothing afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_that_never_finish_are_cut_after_10_s_on_both_ports() {
    let node = TestNode::start().await;
    let started = Instant::now();
    let mut upgrade = TcpStream::connect(node.ws_addr).await.unwrap();
    upgrade
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = TcpStream::connect(node.http_addr).await.unwrap();
    rest.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let (answer, closed) = read_until_closed(&mut upgrade, NODE_PATIENCE * 2).await;
    assert!(closed && answer.is_empty(), "{}", text(&answer));
    let (_, closed) = read_until_closed(&mut rest, NODE_PATIENCE * 2).await;
    assert!(closed);
    assert!(started.elapsed() >= NODE_PATIENCE - Duration::from_millis(500));
    let text = node.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "switchyard_connections_refused_total{reason=\"bad_handshake\"}"
        ),
        Some(1.0),
        "{text}"
    );
    node.assert_clean().await;
}

/// Past `max_handshakes` handshakes under way, the oldest gives way (503) to the newcomer, so
/// slow handshakes never lock a real client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_handshakes_the_oldest_gives_way_to_the_newcomer() {
    let node = TestNode::start_with(|settings| settings.max_handshakes = 2).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        slow.push(stream);
    }
    // Connected first, they are accepted (and admitted) first: the listener takes connections
    // in the order the kernel completed them.
    let mut client = node.connect_as(PARENT).await;
    client.sync().await;
    let (answer, closed) = read_until_closed(&mut slow[0], Duration::from_secs(5)).await;
    let answer = text(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(closed);
    let text = node.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "switchyard_connections_refused_total{reason=\"handshake_evicted\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

/// SIGTERM's wait for the sockets is bounded by `shutdown_grace`, even for a client that never
/// answers the close (the close handshake alone would wait 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_no_longer_than_the_grace_for_a_client_that_never_answers() {
    let mut node =
        TestNode::start_with(|settings| settings.shutdown_grace = Duration::from_secs(1)).await;
    let mut silent = TcpStream::connect(node.ws_addr).await.unwrap();
    silent
        .write_all(WS_UPGRADE_REQUEST.as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 12];
    silent.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    node.eventually("the socket is open", || async {
        metric(&node.metrics_text().await, "switchyard_connections") == Some(1.0)
    })
    .await;

    let node = node.take_node();
    let started = Instant::now();
    node.shutdown();
    node.stopped().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "stopping took {took:?}");
}

/// The server echoes the code of a client's close (RFC 6455 §5.5.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_close_code_is_echoed() {
    let node = TestNode::start().await;
    let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
    stream
        .write_all(WS_UPGRADE_REQUEST.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        answer.push(stream.read_u8().await.unwrap());
    }
    // A masked close frame with code 1000 (mask 0: the payload goes as is).
    stream
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .await
        .unwrap();
    let (echo, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(echo, [0x88, 0x02, 0x03, 0xe8]);
    assert!(closed);
}
