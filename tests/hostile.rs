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

// ---- the websocket port ----

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
const GOOD_KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upgrades_get_an_http_answer_not_silence_nor_101() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let long_key = format!("Sec-WebSocket-Key: {}==\r\n", "A".repeat(10_000));
    let cases = [
        (
            format!("{UPGRADE}Sec-WebSocket-Version: 8\r\n{GOOD_KEY}\r\n"),
            "HTTP/1.1 426",
        ),
        (
            format!("{UPGRADE}Sec-WebSocket-Version: 13\r\n\r\n"),
            "HTTP/1.1 400",
        ),
        (
            format!("{UPGRADE}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \r\n\r\n"),
            "HTTP/1.1 400",
        ),
        (
            format!("{UPGRADE}Sec-WebSocket-Version: 13\r\n{long_key}\r\n"),
            "HTTP/1.1 400",
        ),
        (
            format!("POST / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n{GOOD_KEY}\r\n"),
            "HTTP/1.1 400",
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            "HTTP/1.1 426",
        ),
        ("\u{16}\u{3}\u{1} hello\r\n\r\n".to_string(), "HTTP/1.1 400"),
    ];
    for (request, expected) in cases {
        let answer = raw_exchange(node.ws_addr, request.as_bytes(), RECV_TIMEOUT).await;
        let shown: String = request.chars().take(120).collect();
        assert!(answer.starts_with(expected), "{shown:?}: {answer:?}");
        assert!(answer.contains("Sec-WebSocket-Version: 13"), "{answer:?}");
    }
    bystander.assert_served(&node).await;
}

/// A raw websocket client: the upgrade done by hand, then bytes as the test writes them.
async fn raw_websocket(node: &TestNode) -> TcpStream {
    let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
    let request = format!("{UPGRADE}Sec-WebSocket-Version: 13\r\n{GOOD_KEY}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A masked client frame (mask 0: the payload goes as is).
fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first_byte, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// The code of the close frame the server sends next (server frames are unmasked).
async fn close_code_from(stream: &mut TcpStream) -> u16 {
    let mut head = [0u8; 4];
    tokio::time::timeout(RECV_TIMEOUT, stream.read_exact(&mut head))
        .await
        .expect("a close frame in time")
        .expect("a close frame, not a dropped connection");
    assert_eq!(head[0], 0x88, "a close frame: {head:?}");
    u16::from_be_bytes([head[2], head[3]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_are_closed_with_the_code_rfc_6455_names() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let cases: [(Vec<u8>, u16, &str); 5] = [
        (
            client_frame(0x81, b"\xff\xfe not utf-8"),
            1007,
            "invalid UTF-8 text",
        ),
        (client_frame(0x83, b"x"), 1002, "reserved opcode 3"),
        (client_frame(0xC1, b"{}"), 1002, "reserved bit RSV1"),
        (
            vec![0x81, 0x02, b'{', b'}'],
            1002,
            "an unmasked client frame",
        ),
        (client_frame(0x80, b"x"), 1002, "a continuation of nothing"),
    ];
    for (bytes, expected, what) in cases {
        let mut stream = raw_websocket(&node).await;
        stream.write_all(&bytes).await.unwrap();
        assert_eq!(close_code_from(&mut stream).await, expected, "{what}");
    }
    bystander.assert_served(&node).await;
}

/// A client may send frames right behind its upgrade request, in the same packet: they are
/// answered without waiting for more bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_with_the_upgrade_request_are_answered() {
    let node = TestNode::start().await;
    let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
    let ping = br#"{"action":"ping","request_id":"early"}"#;
    let mut bytes = format!("{UPGRADE}Sec-WebSocket-Version: 13\r\n{GOOD_KEY}\r\n").into_bytes();
    bytes.extend(client_frame(0x81, ping));
    stream.write_all(&bytes).await.unwrap();
    let mut answer = Vec::new();
    let reply = tokio::time::timeout(RECV_TIMEOUT, async {
        loop {
            let mut chunk = [0u8; 512];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer);
            if text.contains(r#""request_id":"early""#) {
                return text.into_owned();
            }
        }
    })
    .await
    .expect("the ping answered");
    assert!(reply.starts_with("HTTP/1.1 101"), "{reply}");
    // Answered, and as SPEC 3 says: no token yet.
    assert!(reply.contains("authentication token required"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_are_answered_at_once_and_hold_nothing() {
    let node = TestNode::start_with(|s| s.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw_websocket(&node).await);
    }
    // Refused before the request is even read: no handshake timeout is spent on it.
    let started = std::time::Instant::now();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
        let status = status_line(&mut stream, RECV_TIMEOUT).await;
        assert!(status.starts_with("HTTP/1.1 429"), "{status:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_cannot_lock_its_own_address_out() {
    let node = TestNode::start_with(|s| s.max_connections_per_ip = 100).await;
    let mut bystander = Bystander::start(&node).await;
    // 300 connections that never finish their upgrade, from the bystander's own address.
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        stalled.push(stream);
    }
    // A legitimate client of the same address gets in at once, well within the 10 s handshake
    // timeout the stalled ones could otherwise hold their places for.
    let started = std::time::Instant::now();
    let mut legitimate = node.connect_as(PARENT).await;
    legitimate.sync().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    bystander.assert_served(&node).await;
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_websockets_are_refused_and_rest_keeps_answering() {
    let node = TestNode::start_with(|s| s.max_connections = 5).await;
    let mut bystander = Bystander::start(&node).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(raw_websocket(&node).await);
    }
    // The bystander and the socket assert_served opens take the last two places.
    let mut extra = node.connect_as(PARENT).await;
    extra.sync().await;
    let mut refused = TcpStream::connect(node.ws_addr).await.unwrap();
    let status = status_line(&mut refused, RECV_TIMEOUT).await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status:?}");
    assert_eq!(node.get("/healthz", None).await.status, 200);
    drop(extra);
    drop(held);
    node.eventually("places given back", || async {
        let mut stream = TcpStream::connect(node.ws_addr).await.unwrap();
        status_line(&mut stream, Duration::from_millis(300))
            .await
            .is_empty()
    })
    .await;
    bystander.assert_served(&node).await;
}

// ---- what one tenant's token can make the node hold ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_are_bounded_in_id_length_and_in_bytes_per_socket() {
    let node = TestNode::start_with(|s| s.rate_limit_burst = 1000).await;
    let mut bystander = Bystander::start(&node).await;
    let mut tenant = node.connect_as(PARENT).await;
    // 30 sockets × 60 bindings with 64 KB ids once took 1.8 GB: each is refused now.
    let huge = "x".repeat(20_000);
    for at in 0..5 {
        let reply = tenant
            .request(
                serde_json::json!({"action": "subscribe", "request_id": format!("h{at}"),
                "data": {"account_id": PARENT, "binding": format!("call.CHANNEL_CREATE.{huge}")}}),
            )
            .await;
        assert_error_reply(
            &reply,
            &format!("h{at}"),
            "binding id longer than 256 bytes",
        );
    }
    // Ids at the limit fill the socket's 30 KiB of bindings, then no more.
    let mut held = 0;
    let refused = loop {
        let id = format!("{held:0>256}");
        let reply = tenant
            .request(serde_json::json!({"action": "subscribe", "request_id": "b",
                "data": {"account_id": PARENT, "binding": format!("call.CHANNEL_CREATE.{id}")}}))
            .await;
        if reply["status"] != "success" {
            break reply;
        }
        held += 1;
        assert!(held < 200, "never refused");
    };
    assert_error_reply(&refused, "b", "bindings longer than 30720 bytes in all");
    assert_eq!(
        held,
        30 * 1024 / "call.CHANNEL_CREATE.".len().saturating_add(256)
    );
    // The reply that lists them all stays far below the largest frame the node takes.
    let listed = tenant
        .request(serde_json::json!({"action": "subscribe", "request_id": "l",
            "data": {"account_id": PARENT, "binding": "call.*.*"}}))
        .await;
    assert!(
        listed.to_string().len() < 65_536,
        "{}",
        listed.to_string().len()
    );
    bystander.assert_served(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_exactly_and_a_huge_one_is_refused() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    for id in [
        "18446744073709551617",
        "-99999999999999999999999",
        "1.50",
        "1.0E+2",
    ] {
        client
            .send_text(format!(r#"{{"action":"ping","request_id":{id}}}"#))
            .await;
        let reply = client.recv_text().await;
        let expected = format!(r#"{{"action":"reply","request_id":{id},"status":"success","#);
        assert!(reply.starts_with(&expected), "{id}: {reply}");
    }
    let long = "r".repeat(10_000);
    let reply = client
        .request(serde_json::json!({"action": "ping", "request_id": long}))
        .await;
    assert_eq!(reply["data"]["errors"][0], "invalid value for request_id");
    assert_fresh_request_id(&reply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_surrounding_whitespace_works_on_both_ports_alike() {
    let node = TestNode::start().await;
    let padded = format!("  {} \t", node.token(PARENT));
    let mut client = node.connect().await;
    client.authenticate(&padded).await;
    let path = format!("/v2/accounts/{PARENT}/websockets");
    let listed = node.get(&path, Some(padded.trim_end())).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
}

// ---- rights taken away ----

fn directory(accounts: serde_json::Value) -> String {
    serde_json::json!({ "accounts": accounts }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_taken_away_on_reload_are_taken_from_live_sockets() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let account = |id: &str, parent: Option<&str>, superduper: bool| serde_json::json!({"id": id, "parent": parent, "name": id, "superduper": superduper});
    // Before: PARENT is superduper and CHILD's parent; STRANGER is in the directory.
    let before = directory(serde_json::json!([
        account(MASTER, None, true),
        account(PARENT, None, true),
        account(CHILD, Some(PARENT), false),
        account(OTHER, None, false),
        account(STRANGER, None, false),
    ]));
    std::fs::write(node.accounts_file(), before).unwrap();
    node.node().reload_directory().unwrap();

    let mut parent = node.connect_as(PARENT).await;
    parent.subscribe_ok("*", &["call.*.*"]).await;
    parent.subscribe_ok(CHILD, &["fax.status.*"]).await;
    parent.subscribe_ok(PARENT, &["object.*.*"]).await;
    let mut stranger = node.connect_as(STRANGER).await;
    stranger.subscribe_ok(STRANGER, &["call.*.*"]).await;

    // After: PARENT is neither superduper nor CHILD's parent, and STRANGER is gone.
    let after = directory(serde_json::json!([
        account(MASTER, None, true),
        account(PARENT, None, false),
        account(CHILD, None, false),
        account(OTHER, None, false),
    ]));
    std::fs::write(node.accounts_file(), after).unwrap();
    node.node().reload_directory().unwrap();

    let notice = parent.recv_json().await;
    assert_eq!(notice["status"], "error", "{notice}");
    assert_eq!(
        notice["data"]["errors"],
        serde_json::json!(["rights revoked"])
    );
    assert_eq!(
        notice["data"]["unsubscribed"],
        serde_json::json!(["call.*.*", "fax.status.*"])
    );
    assert_eq!(
        notice["data"]["subscribed"],
        serde_json::json!(["object.*.*"])
    );
    match stranger.recv().await {
        Incoming::Close(code, _) => assert_eq!(code, Some(4001)),
        other => panic!("expected close 4001, got {other:?}"),
    }
    // What was taken is no longer delivered.
    node.publish_ok(&call_event(CHILD, "CHANNEL_CREATE", "after"))
        .await;
    node.publish_ok(&fax_status_event(CHILD, "f1")).await;
    parent.sync().await;
    let listed = node.list(PARENT).await;
    assert_eq!(listed[0]["bindings"], serde_json::json!(["object.*.*"]));
    let metrics = node.metrics_text().await;
    assert_eq!(
        metric(&metrics, "switchyard_bindings_revoked_total"),
        Some(2.0)
    );
    assert_eq!(
        metric(&metrics, "switchyard_account_removed_closes_total"),
        Some(1.0)
    );
    bystander.assert_served(&node).await;
}

// ---- heavy queries ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_whole_lists_is_bounded_and_each_gets_an_answer() {
    let node = TestNode::start().await;
    let mut bystander = Bystander::start(&node).await;
    let mut sockets = Vec::new();
    for _ in 0..200 {
        let mut client = node.connect_as(PARENT).await;
        client.subscribe_ok(PARENT, &["call.*.*"]).await;
        sockets.push(client);
    }
    let token = node.token(PARENT);
    let request = format!(
        "GET /v2/accounts/{PARENT}/websockets HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n\
         Connection: close\r\n\r\n"
    );
    // 300 at once: more than the REST connections the node keeps (128 by default). Half of
    // the callers leave at once; every one who stays gets a list or a 503, never silence.
    let crowd: Vec<_> = (0..300)
        .map(|at| {
            let (addr, request) = (node.http_addr, request.clone());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                if at % 2 == 1 {
                    return None;
                }
                Some(status_line(&mut stream, RECV_TIMEOUT).await)
            })
        })
        .collect();
    let mut answered = 0;
    for caller in crowd {
        if let Some(status) = caller.await.unwrap() {
            let ok = status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.1 503");
            assert!(ok, "{status:?}");
            answered += usize::from(status.starts_with("HTTP/1.1 200"));
        }
    }
    assert!(answered > 0);
    assert_eq!(
        node.list(PARENT).await.len(),
        200,
        "and the next list is whole"
    );
    bystander.assert_served(&node).await;
}
