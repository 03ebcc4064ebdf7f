//! Bad input of every kind gets its clear error, and the node keeps serving everyone else.

mod common;

use common::*;
use serde_json::{Value, json};

/// A subscribed bystander: proves the node still delivers to others.
async fn bystander(node: &TestNode) -> Client {
    let mut client = node.connect_as(OTHER).await;
    client.subscribe_ok(OTHER, &["call.*.*"]).await;
    client
}

async fn assert_still_serving(node: &TestNode, bystander: &mut Client) {
    node.publish_ok(&call_event(OTHER, "CHANNEL_CREATE", "still-here"))
        .await;
    let event = bystander.recv_event().await;
    assert_eq!(event["data"]["call_id"], "still-here");
    bystander.sync().await;
    let mut fresh = node.connect_as(PARENT).await;
    fresh.sync().await;
    let resp = node.get("/healthz", None).await;
    assert_eq!(resp.status, 200);
}

// ---- websocket ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_are_not_json_objects_are_invalid_json() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    for authenticated in [false, true] {
        let mut client = if authenticated {
            node.connect_as(PARENT).await
        } else {
            node.connect().await
        };
        for text in [
            "nope",
            "{\"action\":",
            "",
            " ",
            "[1,2]",
            "[{\"action\":\"ping\"}]",
            "\"ping\"",
            "42",
            "null",
            "true",
            "{\"action\":\"ping\"} trailing",
            "{'action':'ping'}",
        ] {
            client.send_text(text).await;
            let reply = client.recv_json().await;
            assert_eq!(reply["action"], "reply", "{text:?}: {reply}");
            assert_eq!(reply["status"], "error", "{text:?}: {reply}");
            assert_eq!(
                reply["data"],
                json!({"errors": ["invalid json"]}),
                "{text:?}"
            );
            assert_fresh_request_id(&reply);
        }
        // The socket itself is fine.
        client.sync().await;
    }
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_answered_at_once_without_spending_the_rate_limit() {
    let node = TestNode::start_with(|s| {
        s.rate_limit_burst = 2;
        s.rate_limit_per_second = 1;
    })
    .await;
    let mut client = node.connect().await;
    for _ in 0..30 {
        client.send_text("not json").await;
    }
    for _ in 0..30 {
        let reply = client.recv_json().await;
        assert_eq!(
            reply["data"],
            json!({"errors": ["invalid json"]}),
            "{reply}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_keys_wrong_types_and_unknown_actions() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    let mut client = node.connect_as(PARENT).await;
    let cases = [
        (json!({}), "missing required keys : action"),
        (
            json!({"request_id": "x", "data": {}}),
            "missing required keys : action",
        ),
        (json!({"action": 5}), "invalid value for action"),
        (json!({"action": ["ping"]}), "invalid value for action"),
        (
            json!({"action": "subscribe", "data": null}),
            "missing required keys : account_id, binding",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": null, "binding": null}}),
            "missing required keys : account_id, binding",
        ),
        (
            json!({"action": "subscribe", "data": 17}),
            "invalid value for data",
        ),
        (
            json!({"action": "unsubscribe", "data": "all"}),
            "invalid value for data",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": true, "binding": "call.*.*"}}),
            "invalid value for account_id",
        ),
        (
            json!({"action": "subscribe",
                   "data": {"account_id": "0123456789ABCDEF0123456789ABCDEF",
                            "binding": "call.*.*"}}),
            "invalid value for account_id",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": PARENT, "binding": {}}}),
            "invalid value for binding",
        ),
        (
            json!({"action": "subscribe",
                   "data": {"account_id": PARENT, "bindings": [["call.*.*"]]}}),
            "invalid value for bindings",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": PARENT, "bindings": {}}}),
            "invalid value for bindings",
        ),
        (
            json!({"action": "ping", "name": ["n"]}),
            "invalid value for name",
        ),
        (
            json!({"action": "ping", "metadata": 1}),
            "invalid value for metadata",
        ),
        (json!({"action": ""}), "unsupported action "),
        (json!({"action": "PING"}), "unsupported action PING"),
        (json!({"action": "publish"}), "unsupported action publish"),
    ];
    for (frame, text) in cases {
        client.send_json(&frame).await;
        let reply = client.recv_json().await;
        assert_eq!(reply["status"], "error", "{frame}: {reply}");
        assert_eq!(reply["data"], json!({"errors": [text]}), "{frame}");
        match frame.get("request_id") {
            Some(id) => assert_eq!(&reply["request_id"], id),
            None => assert_fresh_request_id(&reply),
        }
    }
    client.sync().await;
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_expired_and_garbage_tokens_on_the_websocket() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    let cases: Vec<(Value, &str)> = vec![
        // A string is judged by the authority: whatever is wrong with it, it does not
        // authenticate (monster-ui logs in again on that text only).
        (json!("garbage"), "failed to authenticate token"),
        (json!("a.b.c.d"), "failed to authenticate token"),
        (json!("!!!.???.***"), "failed to authenticate token"),
        // Only a token that is not a string is malformed.
        (json!({"jwt": "x"}), "invalid authentication token format"),
        (json!(["x"]), "invalid authentication token format"),
        (json!(true), "invalid authentication token format"),
        (json!(expired_token(PARENT)), "failed to authenticate token"),
        (json!(foreign_token(MASTER)), "failed to authenticate token"),
        (
            json!(format!("{}x", node.token(PARENT))),
            "failed to authenticate token",
        ),
        (
            // A well-formed JWT without an account_id claim.
            json!(token_with_claims(
                node.secret().as_slice(),
                &json!({"sub": PARENT, "exp": unix_now() + 60})
            )),
            "failed to authenticate token",
        ),
    ];
    let mut client = node.connect().await;
    for (token, text) in cases {
        let reply = client
            .request(json!({"action": "ping", "auth_token": token, "request_id": "t"}))
            .await;
        assert_error_reply(&reply, "t", text);
    }
    // None of them authenticated the socket.
    let reply = client
        .request(json!({"action": "ping", "request_id": "n"}))
        .await;
    assert_error_reply(&reply, "n", "authentication token required");
    // A good token still works on the same socket.
    client.authenticate(&node.token(PARENT)).await;
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_are_ignored() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    let mut client = node.connect().await;
    // Before authentication, and a binary frame that holds a valid request: both ignored.
    client
        .send_binary(
            json!({"action": "ping", "auth_token": node.token(PARENT), "request_id": "b"})
                .to_string()
                .into_bytes(),
        )
        .await;
    client.send_binary(vec![0, 159, 146, 150]).await;
    let reply = client
        .request(json!({"action": "ping", "request_id": "n"}))
        .await;
    assert_error_reply(&reply, "n", "authentication token required");
    client.authenticate(&node.token(PARENT)).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    client.send_binary(vec![1, 2, 3]).await;
    // No answer to a binary frame (a time-bounded check; the sync below is the exact one).
    client.expect_no_frame(300).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    client.recv_event().await;
    client.sync().await;
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frames_close_the_socket_with_1009() {
    let node = TestNode::start_with(|s| s.max_frame_bytes = 1024).await;
    let mut other = bystander(&node).await;

    // Just under the limit is fine.
    let mut client = node.connect_as(PARENT).await;
    let padding = "x".repeat(800);
    let reply = client
        .request(json!({"action": "ping", "request_id": "ok", "name": padding}))
        .await;
    success_data(&reply, "ok");

    // Over it: closed with 1009, text or binary, authenticated or not.
    let big = json!({"action": "ping", "request_id": "big", "name": "y".repeat(4000)}).to_string();
    client.send_text(big.clone()).await;
    assert_eq!(client.expect_close().await, 1009);

    let mut anonymous = node.connect().await;
    anonymous.send_text(big).await;
    assert_eq!(anonymous.expect_close().await, 1009);

    let mut binary = node.connect().await;
    binary.send_binary(vec![7; 5000]).await;
    assert_eq!(binary.expect_close().await, 1009);

    assert_still_serving(&node, &mut other).await;
    node.eventually("the closed sockets leave the list", || async {
        node.list(PARENT).await.is_empty()
    })
    .await;
}

// ---- REST ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_http_methods_and_odd_paths() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    let token = node.token(MASTER);
    for (method, path, status) in [
        (Method::PUT, "/v2/events".to_string(), 405),
        (Method::DELETE, "/v2/events".to_string(), 405),
        (Method::POST, "/v2/websockets".to_string(), 405),
        (Method::HEAD, "/v2/nope".to_string(), 404),
        (Method::GET, "/v2/accounts//websockets".to_string(), 404),
        (Method::GET, "/v2/websockets/extra".to_string(), 404),
    ] {
        let resp = node
            .request(method.clone(), &path, Some(&token), &[], None)
            .await;
        assert_eq!(resp.status, status, "{method} {path}: {}", resp.text);
        if method != Method::HEAD {
            assert_error_envelope(&resp.body, status);
        }
    }
    // An account id that is not one: refused, never a 500.
    for path in [
        "/v2/accounts/nope/websockets",
        "/v2/accounts/nope/websockets/x",
        "/v2/accounts/0123456789ABCDEF0123456789ABCDEF/websockets",
    ] {
        let resp = node.get(path, Some(&token)).await;
        assert!(
            (400..500).contains(&resp.status),
            "{path}: {} {}",
            resp.status,
            resp.text
        );
        assert_error_envelope(&resp.body, resp.status);
    }
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_publish_bodies_are_400_and_deliver_nothing() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    let mut listener = node.connect_as(MASTER).await;
    listener
        .subscribe_ok(
            "*",
            &[
                "call.*.*",
                "object.*.*",
                "fax.status.*",
                "conference.command.c1",
            ],
        )
        .await;
    let good = call_event(PARENT, "CHANNEL_CREATE", "c1");
    let without = |key: &str| {
        let mut message = good.clone();
        message.as_object_mut().unwrap().remove(key);
        message
    };
    let with_payload = |payload: Value| {
        let mut message = good.clone();
        message["payload"] = payload;
        message
    };
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), ""),
        ("{\"exchange\":".into(), ""),
        (String::new(), ""),
        ("42".into(), ""),
        ("\"callevt\"".into(), ""),
        ("null".into(), ""),
        ("[1, 2]".into(), ""),
        (
            json!({"exchange": "bogus_exchange", "routing_key": "x.y", "payload": {"Event-Name": "x"}})
                .to_string(),
            "bogus_exchange",
        ),
        (without("exchange").to_string(), "exchange"),
        (without("payload").to_string(), "payload"),
        (with_payload(json!("text")).to_string(), ""),
        (with_payload(json!([1])).to_string(), ""),
        (
            with_payload(json!({"Call-ID": "c1", "Custom-Channel-Vars": {"Account-ID": PARENT}}))
                .to_string(),
            "Event-Name",
        ),
        (
            with_payload(json!({"Event-Name": 5, "Call-ID": "c1",
                                "Custom-Channel-Vars": {"Account-ID": PARENT}}))
            .to_string(),
            "Event-Name",
        ),
        (
            with_payload(json!({"Event-Name": "CHANNEL_CREATE",
                                "Custom-Channel-Vars": {"Account-ID": PARENT}}))
            .to_string(),
            "Call-ID",
        ),
        (
            with_payload(json!({"Event-Name": "CHANNEL_CREATE", "Call-ID": "c1"}))
                .to_string(),
            "Account-ID",
        ),
        (
            json!({"exchange": "configuration", "routing_key": "doc_created.only-three.user",
                   "payload": {"Event-Name": "doc_created"}})
            .to_string(),
            "doc_created.only-three.user",
        ),
        (
            json!({"exchange": "faxes", "routing_key": "fax.nope",
                   "payload": {"Event-Name": "status"}})
            .to_string(),
            "fax.nope",
        ),
        (
            json!({"exchange": "conference", "routing_key": "conference.other.c1",
                   "payload": {"Event-Name": "command"}})
            .to_string(),
            "conference.other.c1",
        ),
        (
            json!({"exchange": "configuration", "payload": {"Event-Name": "doc_created"}})
                .to_string(),
            "routing_key",
        ),
    ];
    for (body, mentions) in &cases {
        let resp = node.publish_raw(body, Some(&node.token(MASTER))).await;
        let message = resp.assert_error(400);
        assert!(
            message.contains(mentions),
            "{body}: the message {message:?} should mention {mentions:?}"
        );
    }
    listener.sync().await;
    let text = node.metrics_text().await;
    assert_eq!(
        metric(&text, "switchyard_events_in_total"),
        Some(0.0),
        "{text}"
    );
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_bad_message_is_refused_whole() {
    let node = TestNode::start().await;
    let mut other = bystander(&node).await;
    let mut listener = node.connect_as(MASTER).await;
    listener
        .subscribe_ok("*", &["call.*.*", "fax.status.*"])
        .await;
    let bad = |exchange: &str| json!({"exchange": exchange, "routing_key": "a.b", "payload": {"Event-Name": "x"}});

    // As an array: the third is bad (and the fifth); the first bad one is named.
    let batch = json!([
        call_event(PARENT, "CHANNEL_CREATE", "c1"),
        fax_status_event(PARENT, "f1"),
        bad("first_bad_exchange"),
        call_event(OTHER, "CHANNEL_CREATE", "c2"),
        bad("second_bad_exchange"),
    ]);
    let resp = node.publish(&batch).await;
    let message = resp.assert_error(400);
    assert!(message.contains("first_bad_exchange"), "{message}");
    assert!(!message.contains("second_bad_exchange"), "{message}");

    // As NDJSON, with a bad message in the middle.
    let ndjson = [
        call_event(PARENT, "CHANNEL_CREATE", "c3").to_string(),
        bad("middle_bad_exchange").to_string(),
        call_event(OTHER, "CHANNEL_CREATE", "c4").to_string(),
    ]
    .join("\n");
    let resp = node.publish_raw(&ndjson, Some(&node.token(MASTER))).await;
    let message = resp.assert_error(400);
    assert!(message.contains("middle_bad_exchange"), "{message}");

    // As NDJSON, with a line that is not JSON at all.
    let ndjson = [
        call_event(PARENT, "CHANNEL_CREATE", "c5").to_string(),
        "{not json".to_string(),
        call_event(OTHER, "CHANNEL_CREATE", "c6").to_string(),
    ]
    .join("\n");
    node.publish_raw(&ndjson, Some(&node.token(MASTER)))
        .await
        .assert_error(400);

    // Nothing of any of them was delivered, or even counted.
    listener.sync().await;
    other.sync().await;
    let text = node.metrics_text().await;
    assert_eq!(
        metric(&text, "switchyard_events_in_total"),
        Some(0.0),
        "{text}"
    );
    assert_still_serving(&node, &mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_and_array_bodies_are_accepted() {
    let node = TestNode::start().await;
    let mut listener = node.connect_as(MASTER).await;
    listener.subscribe_ok("*", &["call.*.*"]).await;

    let ndjson = format!(
        "{}\n\n{}\r\n{}\n",
        call_event(PARENT, "CHANNEL_CREATE", "n1"),
        call_event(CHILD, "CHANNEL_ANSWER", "n2"),
        call_event(OTHER, "CHANNEL_DESTROY", "n3"),
    );
    let resp = node.publish_raw(&ndjson, Some(&node.token(MASTER))).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["data"], json!({"accepted": 3}));
    let ids: Vec<Value> = listener
        .recv_events(3)
        .await
        .iter()
        .map(|e| e["data"]["call_id"].clone())
        .collect();
    assert_eq!(ids, [json!("n1"), json!("n2"), json!("n3")]);
    listener.sync().await;

    let array = json!([
        call_event(PARENT, "CHANNEL_CREATE", "a1"),
        call_event(PARENT, "CHANNEL_CREATE", "a2"),
    ]);
    assert_eq!(node.publish_ok(&array).await, 2);
    let ids: Vec<Value> = listener
        .recv_events(2)
        .await
        .iter()
        .map(|e| e["data"]["call_id"].clone())
        .collect();
    assert_eq!(ids, [json!("a1"), json!("a2")]);

    // A single message over several lines (pretty-printed) is one message, not NDJSON.
    let pretty = serde_json::to_string_pretty(&call_event(PARENT, "CHANNEL_CREATE", "p1")).unwrap();
    let resp = node.publish_raw(&pretty, Some(&node.token(MASTER))).await;
    assert_eq!(resp.body["data"], json!({"accepted": 1}), "{}", resp.text);
    listener.recv_event().await;
    listener.sync().await;
}
