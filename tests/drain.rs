//! Draining a node (issue 11): `POST /v2/drain` (or SIGUSR1, see lifecycle.rs) makes it refuse
//! new sockets and close the open ones with 1001 a few at a time; a stopping node answers 503
//! for new REST work while its sockets close.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;

const SOCKETS: usize = 10;

async fn drain(node: &TestNode, query: &str, token: Option<&str>) -> Resp {
    node.request(Method::POST, &format!("/v2/drain{query}"), token, &[], None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_closes_every_socket_with_1001_over_its_duration_and_refuses_new_ones() {
    let node = TestNode::start().await;
    let mut closes = Vec::new();
    for i in 0..SOCKETS {
        let mut client = node.connect_as([PARENT, CHILD, OTHER][i % 3]).await;
        client.sync().await;
        closes.push(tokio::spawn(async move {
            let code = client.expect_close().await;
            (code, Instant::now())
        }));
    }

    let began = Instant::now();
    let answer = drain(&node, "?duration=1s", Some(&node.token(MASTER))).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_common_envelope(&answer.body);
    assert_eq!(answer.body["data"]["draining"], true);
    assert_eq!(answer.body["data"]["sockets"], SOCKETS);
    assert_eq!(answer.body["data"]["duration"], "1s");

    // New sockets are turned away with a reason, and load balancers see the node not ready.
    let refused = raw_exchange(
        node.ws_addr,
        WS_UPGRADE_REQUEST.as_bytes(),
        Duration::from_secs(2),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    assert!(refused.contains("draining"), "{refused:?}");
    let ready = node.get("/readyz", None).await;
    assert!(ready.assert_error(503).contains("draining"));
    assert_eq!(node.get("/healthz", None).await.status, 200);
    // The rest of REST still answers.
    assert_eq!(
        node.get(
            &format!("/v2/accounts/{PARENT}/websockets"),
            Some(&node.token(PARENT))
        )
        .await
        .status,
        200
    );

    let mut last = began;
    for close in closes {
        let (code, at) = close.await.unwrap();
        assert_eq!(code, 1001);
        last = last.max(at);
    }
    // Ten sockets over one second: one per tick, the last nine ticks after the first. A busy
    // machine can only make it later.
    assert!(
        last - began >= Duration::from_millis(900),
        "all closed within {:?}",
        last - began
    );
    node.eventually("every session gone", || async {
        metric(&node.metrics_text().await, "switchyard_connections") == Some(0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_superduper_account_drains_and_the_duration_must_be_one() {
    let node = TestNode::start().await;
    drain(&node, "", None).await.assert_error(401);
    drain(&node, "", Some("not-a-token"))
        .await
        .assert_error(401);
    drain(&node, "", Some(&node.token(PARENT)))
        .await
        .assert_error(403);
    let message = drain(&node, "?duration=soon", Some(&node.token(MASTER)))
        .await
        .assert_error(400);
    assert!(message.starts_with("duration: "), "{message}");
    node.get("/v2/drain", Some(&node.token(MASTER)))
        .await
        .assert_error(405);
    // Nothing of that drained the node.
    assert_eq!(node.get("/readyz", None).await.status, 200);
    let mut client = node.connect_as(PARENT).await;
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_drain_starts_over_with_the_sockets_still_open() {
    let node = TestNode::start().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = node.connect_as(PARENT).await;
        client.sync().await;
        clients.push(client);
    }
    let master = node.token(MASTER);
    let slow = drain(&node, "?duration=1h", Some(&master)).await;
    assert_eq!(slow.body["data"]["sockets"], 3);
    // The first went at once; the others wait for an hour, unless a drain says otherwise.
    assert_eq!(clients.remove(0).expect_close().await, 1001);
    node.eventually("the first socket gone", || async {
        metric(&node.metrics_text().await, "switchyard_connections") == Some(2.0)
    })
    .await;
    let fast = drain(&node, "?duration=0s", Some(&master)).await;
    assert_eq!(fast.status, 202, "{}", fast.text);
    assert_eq!(fast.body["data"]["sockets"], 2);
    for client in &mut clients {
        assert_eq!(client.expect_close().await, 1001);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_answers_503_for_new_work_while_its_sockets_close() {
    let mut node = TestNode::start().await;
    // A client that never answers the close keeps the node in its grace period (up to the
    // five seconds a close handshake may take).
    let mut silent = tokio::net::TcpStream::connect(node.ws_addr).await.unwrap();
    silent
        .write_all(WS_UPGRADE_REQUEST.as_bytes())
        .await
        .unwrap();
    node.eventually("the silent socket open", || async {
        metric(&node.metrics_text().await, "switchyard_connections") == Some(1.0)
    })
    .await;
    let running = node.take_node();
    running.shutdown();

    let token = node.token(PARENT);
    let list = node
        .get(&format!("/v2/accounts/{PARENT}/websockets"), Some(&token))
        .await;
    assert!(list.assert_error(503).contains("shutting down"));
    let publish = node.publish_raw("[]", Some(&node.token(MASTER))).await;
    publish.assert_error(503);
    drain(&node, "", Some(&node.token(MASTER)))
        .await
        .assert_error(503);
    assert!(
        node.get("/readyz", None)
            .await
            .assert_error(503)
            .contains("shutting down")
    );
    assert_eq!(node.get("/healthz", None).await.status, 200);

    tokio::time::timeout(Duration::from_secs(60), running.stopped())
        .await
        .expect("the node stopped");
    drop(silent);
}
