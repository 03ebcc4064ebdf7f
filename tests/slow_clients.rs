//! SPEC 7 on a real socket: slow consumers (a frame waited `max_lag`, a socket or the node holds
//! too many bytes) under both policies, a reader that keeps up through a burst, server pings and
//! the idle timeout.

mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_actors::outbox::SlowConsumerPolicy;

use common::*;

/// Enough event bytes to fill the server's socket send buffer (4 MiB at most here) and the
/// client's small receive buffer several times over.
const EVENTS: usize = 200;
const PADDING: usize = 60_000;

/// A call event for PARENT padded to about `PADDING` bytes.
fn big_event(event_name: &str, call_id: &str) -> Value {
    let mut event = call_event(PARENT, event_name, call_id);
    event["payload"]["Padding"] = json!("x".repeat(PADDING));
    event
}

/// Publishes `EVENTS` large call events for PARENT, call ids `c0` … in order.
async fn flood(node: &TestNode) {
    for half in [0..EVENTS / 2, EVENTS / 2..EVENTS] {
        let events: Vec<Value> = half
            .map(|at| big_event("CHANNEL_CREATE", &format!("c{at}")))
            .collect();
        assert_eq!(node.publish_ok(&json!(events)).await, (EVENTS / 2) as u64);
    }
}

/// A node whose sockets may hold 1 MiB each, far less than a flood.
async fn node_with(policy: SlowConsumerPolicy, max_lag: Duration) -> TestNode {
    TestNode::start_with(|settings| {
        settings.outbound_queue_bytes = 1024 * 1024;
        settings.max_lag = max_lag;
        settings.slow_consumer_policy = policy;
    })
    .await
}

/// A client of PARENT subscribed to `bindings`, that has not read anything since.
async fn stalled_subscriber_of(node: &TestNode, bindings: &[&str]) -> Client {
    let mut client = Client::connect_with_small_receive_buffer(node.ws_addr).await;
    client.authenticate(&node.token(PARENT)).await;
    client.subscribe_ok(PARENT, bindings).await;
    client
}

/// A client of PARENT subscribed to every call event, that has not read anything since.
async fn stalled_subscriber(node: &TestNode) -> Client {
    stalled_subscriber_of(node, &["call.*.*"]).await
}

fn call_id(event: &Value) -> &str {
    event["data"]["call_id"].as_str().expect("call_id")
}

async fn counter(node: &TestNode, name: &str) -> f64 {
    metric(&node.metrics_text().await, name).unwrap_or(0.0)
}

/// `text`'s call id, found without parsing 60 KB of JSON per frame.
fn call_id_in(text: &str) -> String {
    let at = text.find("\"call_id\":\"").expect("a call_id") + "\"call_id\":\"".len();
    let len = text[at..].find('"').expect("a closing quote");
    text[at..at + len].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_keeps_reading_gets_all_of_a_40_mb_burst() {
    // The defaults: no bound on the number of frames, 5 s of lag, 64 MiB a socket.
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    const BURST: usize = 700;
    const BATCH: usize = 50;

    let publish = async {
        for first in (0..BURST).step_by(BATCH) {
            let events: Vec<Value> = (first..first + BATCH)
                .map(|at| big_event("CHANNEL_CREATE", &format!("b{at}")))
                .collect();
            assert_eq!(node.publish_ok(&json!(events)).await, BATCH as u64);
        }
    };
    let read = async {
        for at in 0..BURST {
            let text = client.recv_text().await;
            assert_eq!(
                call_id_in(&text),
                format!("b{at}"),
                "in order, none skipped"
            );
        }
    };
    tokio::join!(publish, read);
    client.sync().await;

    let metrics = node.metrics_text().await;
    for name in [
        "switchyard_slow_consumer_disconnects_total",
        "switchyard_slow_consumer_cuts_total",
        "switchyard_slow_consumer_sheds_total",
        "switchyard_frames_dropped_total",
    ] {
        assert_eq!(metric(&metrics, name), Some(0.0), "{name}: {metrics}");
    }
    assert_eq!(metric(&metrics, "switchyard_queued_bytes"), Some(0.0));
    client.close().await;
    node.assert_clean().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1008_under_disconnect() {
    // It stops reading: its socket soon holds more than its 1 MiB.
    let node = node_with(SlowConsumerPolicy::Disconnect, Duration::from_secs(5)).await;
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
    assert!(received < EVENTS, "the byte bound was never reached");
    let metrics = node.metrics_text().await;
    assert_eq!(
        metric(&metrics, "switchyard_slow_consumer_disconnects_total"),
        Some(1.0)
    );
    node.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_again_is_cut_within_the_slow_consumer_bound() {
    let max_lag = Duration::from_secs(1);
    let node = node_with(SlowConsumerPolicy::Disconnect, max_lag).await;
    let mut bystander = Bystander::start(&node).await;
    let _never_reads = stalled_subscriber(&node).await;
    let started = Instant::now();
    flood(&node).await;
    // Its close frame cannot get through its full buffers: the node cuts it once a frame it
    // was being sent has waited `max_lag`, or `max_lag` after its close stalled, and counts it
    // once as a slow consumer (its queue passed its bytes, or a write stalled before it could).
    // The bound here is only a generous upper one, for a busy machine.
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
    let node = node_with(SlowConsumerPolicy::DropOldest, Duration::from_secs(5)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_node_bound_the_biggest_holder_goes_first_and_a_reader_is_untouched() {
    // Only the node's bound can act: a lag of a minute, 64 MiB a socket.
    let node = TestNode::start_with(|settings| {
        settings.max_queued_bytes = 4 * 1024 * 1024;
        settings.max_lag = Duration::from_secs(60);
    })
    .await;
    // Both stop reading; `big` is sent five events for each one `small` is sent, so its queue
    // grows first and fastest once its TCP buffers are full.
    let mut big = stalled_subscriber(&node).await;
    let mut small = stalled_subscriber_of(&node, &["call.CHANNEL_DESTROY.*"]).await;
    let mut reader = node.connect_as(PARENT).await;
    reader
        .subscribe_ok(PARENT, &["call.CHANNEL_DESTROY.*"])
        .await;
    let reading = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let text = reader.recv_text().await;
            let id = call_id_in(&text);
            if id == "end" {
                break;
            }
            seen.push(id);
        }
        reader.sync().await;
        (reader, seen)
    });

    let mut rounds = 0;
    while counter(&node, "switchyard_slow_consumer_sheds_total").await == 0.0 {
        assert!(rounds < 300, "never shed after {rounds} rounds");
        let mut events: Vec<Value> = (0..4)
            .map(|i| big_event("CHANNEL_CREATE", &format!("r{rounds}-{i}")))
            .collect();
        events.push(big_event("CHANNEL_DESTROY", &format!("d{rounds}")));
        node.publish_ok(&json!(events)).await;
        rounds += 1;
    }
    node.publish_ok(&call_event(PARENT, "CHANNEL_DESTROY", "end"))
        .await;

    // The reader got every event of its own, in order.
    let (reader, seen) = reading.await.expect("the reader");
    let expected: Vec<String> = (0..rounds).map(|round| format!("d{round}")).collect();
    assert_eq!(seen, expected);

    // The biggest holder was closed with 1008, after what had already left the node.
    let mut received = 0;
    let close = loop {
        match big.recv().await {
            Incoming::Json(_) => received += 1,
            other => break other,
        }
    };
    assert_eq!(close, Incoming::Close(Some(1008), "slow consumer".into()));
    assert!(received < rounds * 5);

    // The small one lost nothing and is still open.
    for round in 0..rounds {
        assert_eq!(call_id(&small.recv_event().await), format!("d{round}"));
    }
    assert_eq!(call_id(&small.recv_event().await), "end");
    small.sync().await;

    let metrics = node.metrics_text().await;
    for (name, count) in [
        ("switchyard_slow_consumer_sheds_total", 1.0),
        ("switchyard_slow_consumer_disconnects_total", 1.0),
        ("switchyard_slow_consumer_cuts_total", 0.0),
        ("switchyard_frames_dropped_total", 0.0),
    ] {
        assert_eq!(metric(&metrics, name), Some(count), "{name}: {metrics}");
    }
    small.close().await;
    reader.close().await;
    node.assert_clean().await;
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
