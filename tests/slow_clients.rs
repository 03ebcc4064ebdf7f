//! SPEC 7 on a real socket: bounded outbound queues with both policies, server pings and the
//! idle timeout.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_actors::outbox::SlowConsumerPolicy;

use common::*;

/// Enough event bytes to fill the server's socket send buffer (4 MiB at most here) and the
/// client's small receive buffer several times over.
const EVENTS: usize = 200;
const PADDING: usize = 60_000;

/// Publishes `EVENTS` large call events for PARENT, call ids `c0` … in order.
async fn flood(node: &TestNode) {
    let padding = "x".repeat(PADDING);
    for half in [0..EVENTS / 2, EVENTS / 2..EVENTS] {
        let events: Vec<Value> = half
            .map(|at| {
                let mut event = call_event(PARENT, "CHANNEL_CREATE", &format!("c{at}"));
                event["payload"]["Padding"] = json!(padding);
                event
            })
            .collect();
        assert_eq!(node.publish_ok(&json!(events)).await, (EVENTS / 2) as u64);
    }
}

async fn node_with(policy: SlowConsumerPolicy) -> TestNode {
    TestNode::start_with(|settings| {
        settings.outbound_queue_frames = 16;
        settings.outbound_queue_bytes = 1024 * 1024;
        settings.slow_consumer_policy = policy;
    })
    .await
}

/// A client of PARENT subscribed to every call event, that has not read anything since.
async fn stalled_subscriber(node: &TestNode) -> Client {
    let mut client = Client::connect_with_small_receive_buffer(node.ws_addr).await;
    client.authenticate(&node.token(PARENT)).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    client
}

fn call_id(event: &Value) -> &str {
    event["data"]["call_id"].as_str().expect("call_id")
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1008_under_disconnect() {
    let node = node_with(SlowConsumerPolicy::Disconnect).await;
    let mut client = stalled_subscriber(&node).await;
    flood(&node).await;

    let mut received = 0;
    let close = loop {
        match client.recv().await {
            Incoming::Json(event) => {
                assert_eq!(
                    call_id(&event),
                    format!("c{received}"),
                    "in order, none skipped"
                );
                received += 1;
            }
            other => break other,
        }
    };
    assert_eq!(close, Incoming::Close(Some(1008), "slow consumer".into()));
    assert!(received < EVENTS, "the queue bound was never reached");
    let metrics = node.metrics_text().await;
    assert_eq!(
        metric(&metrics, "switchyard_slow_consumer_disconnects_total"),
        Some(1.0)
    );
    node.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_again_is_cut_within_the_slow_consumer_bound() {
    let node = node_with(SlowConsumerPolicy::Disconnect).await;
    let mut bystander = Bystander::start(&node).await;
    let _never_reads = stalled_subscriber(&node).await;
    let started = std::time::Instant::now();
    flood(&node).await;
    // Its close frame cannot get through its full buffers: the node cuts it, 5 s after its
    // writes or its close stalled, and counts it as a slow consumer (the queue overflowed, or
    // a write stalled before it could).
    let deadline = Duration::from_secs(15);
    loop {
        let metrics = node.metrics_text().await;
        if metric(&metrics, "switchyard_connections") == Some(1.0) {
            let counted = ["disconnects", "cuts"]
                .iter()
                .filter_map(|what| {
                    metric(&metrics, &format!("switchyard_slow_consumer_{what}_total"))
                })
                .sum::<f64>();
            assert_eq!(counted, 1.0, "{metrics}");
            break;
        }
        assert!(started.elapsed() < deadline, "still not cut: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bystander.assert_served(&node).await;
}

#[tokio::test]
async fn drop_oldest_keeps_the_socket_and_the_newest_events() {
    let node = node_with(SlowConsumerPolicy::DropOldest).await;
    let mut client = stalled_subscriber(&node).await;
    flood(&node).await;

    let last = format!("c{}", EVENTS - 1);
    let mut received = Vec::new();
    loop {
        let event = client.recv_event().await;
        let id = call_id(&event).to_string();
        received.push(id.clone());
        if id == last {
            break;
        }
    }
    assert!(received.len() < EVENTS, "nothing was dropped");
    client.sync().await;
    let metrics = node.metrics_text().await;
    let dropped = metric(&metrics, "switchyard_frames_dropped_total").unwrap_or(0.0);
    assert_eq!(dropped as usize, EVENTS - received.len());
}

#[tokio::test]
async fn the_server_pings_and_a_client_that_answers_stays() {
    let node = TestNode::start_with(|settings| {
        settings.ping_interval = Duration::from_millis(100);
        settings.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let mut client = node.connect_as(PARENT).await;
    client.recv_ping().await;
    // Reading answers pings; three idle timeouts later the socket is still there.
    client.expect_no_frame(1500).await;
    client.sync().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_with_1001_after_the_idle_timeout() {
    let node = TestNode::start_with(|settings| {
        settings.ping_interval = Duration::from_millis(100);
        settings.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let mut client = node.connect_as(PARENT).await;
    // Not reading: no pong goes back, nothing is heard.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match client.recv().await {
        Incoming::Close(code, _) => assert_eq!(code, Some(1001)),
        other => panic!("expected close 1001, got {other:?}"),
    }
    node.assert_clean().await;
}
