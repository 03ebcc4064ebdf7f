//! SPEC 6: the REST API, its shapes checked against the seed's examples.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The seed's `GET /v2/websockets` `data`, verbatim.
fn seed_catalogue() -> Value {
    serde_json::from_str(include_str!("fixtures/seed_catalogue.json")).expect("fixture is JSON")
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Asserts a socket object of the seed's shape (plus `name`/`metadata` when given).
fn assert_socket_shape(socket: &Value, bindings: Value, connected: (u64, u64), labels: &[&str]) {
    let mut expected = set(&[
        "bindings",
        "websocket_session_id",
        "timestamp",
        "destination",
        "source",
    ]);
    expected.extend(labels.iter().map(|s| s.to_string()));
    assert_eq!(keys(socket), expected, "{socket}");
    assert_eq!(socket["bindings"], bindings, "{socket}");
    assert!(!socket_id_of(socket).is_empty());
    assert_eq!(socket["destination"], NODE_NAME, "{socket}");
    assert_eq!(socket["source"], "127.0.0.1", "{socket}");
    let timestamp = socket["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("timestamp is not a whole number: {socket}"));
    // Gregorian seconds at connect: Unix seconds + 62167219200.
    assert!(
        (connected.0 + GREGORIAN_OFFSET..=connected.1 + GREGORIAN_OFFSET).contains(&timestamp),
        "{timestamp} not within the connect window {connected:?} (+{GREGORIAN_OFFSET})"
    );
}

// ---- catalogue and envelope ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_is_the_seed_in_the_success_envelope() {
    let node = TestNode::start().await;
    // Anyone: no token needed; a token changes nothing.
    for token in [None, Some(node.token(OTHER))] {
        let resp = node.get("/v2/websockets", token.as_deref()).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(resp.body["data"], seed_catalogue());
        assert_eq!(
            keys(&resp.body),
            set(&[
                "data",
                "node",
                "request_id",
                "status",
                "timestamp",
                "version"
            ])
        );
        assert_eq!(resp.body["status"], "success");
        assert_common_envelope(&resp.body);
        assert!(
            resp.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    // A trailing slash is the same path.
    let resp = node.get("/v2/websockets/", None).await;
    assert_eq!(resp.body["data"], seed_catalogue());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_request_id_becomes_the_request_id() {
    let node = TestNode::start().await;
    let resp = node
        .request(
            Method::GET,
            "/v2/websockets",
            None,
            &[("X-Request-ID", "req-42")],
            None,
        )
        .await;
    assert_eq!(resp.body["request_id"], "req-42");
    // Errors too.
    let resp = node
        .request(
            Method::GET,
            &format!("/v2/accounts/{PARENT}/websockets"),
            None,
            &[("X-Request-ID", "req-43")],
            None,
        )
        .await;
    resp.assert_error(401);
    assert_eq!(resp.body["request_id"], "req-43");
    // Without one, each answer has its own.
    let a = node.get("/v2/websockets", None).await;
    let b = node.get("/v2/websockets", None).await;
    assert_ne!(a.body["request_id"], b.body["request_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_envelope_shape() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    let resp = node
        .get(&format!("/v2/accounts/{PARENT}/websockets"), None)
        .await;
    resp.assert_error(401);
    assert_eq!(
        keys(&resp.body),
        set(&[
            "data",
            "error",
            "message",
            "node",
            "request_id",
            "status",
            "timestamp",
            "version"
        ])
    );
    assert_eq!(keys(&resp.body["data"]), set(&["message"]));
    assert!(
        resp.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // A token never comes back, not even a refused one.
    let resp = node
        .get(&format!("/v2/accounts/{OTHER}/websockets"), Some(&token))
        .await;
    resp.assert_error(403);
    assert!(!resp.text.contains(&token));
    let expired = expired_token(PARENT);
    let resp = node
        .get(&format!("/v2/accounts/{PARENT}/websockets"), Some(&expired))
        .await;
    resp.assert_error(401);
    assert!(!resp.text.contains(&expired));
}

// ---- socket list and lookup ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_list_and_lookup_have_the_seed_shape() {
    let node = TestNode::start().await;
    let before = unix_now();
    let mut client = node.connect().await;
    let reply = client
        .subscribe(
            Some(&node.token(PARENT)),
            PARENT,
            &["object.doc_created.user"],
        )
        .await;
    success_data(&reply, "sub");
    let after = unix_now();

    let resp = node
        .get(
            &format!("/v2/accounts/{PARENT}/websockets"),
            Some(&node.token(PARENT)),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["status"], "success");
    assert_common_envelope(&resp.body);
    let list = resp.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", resp.text);
    assert_socket_shape(
        &list[0],
        json!(["object.doc_created.user"]),
        (before, after),
        &[],
    );
    let id = socket_id_of(&list[0]);

    let resp = node
        .get(
            &format!("/v2/accounts/{PARENT}/websockets/{id}"),
            Some(&node.token(PARENT)),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_common_envelope(&resp.body);
    assert_eq!(resp.body["data"], list[0]);

    // Labels show once set.
    let reply = client
        .request(json!({"action": "ping", "request_id": "l", "name": "board",
                        "metadata": {"desk": 4}}))
        .await;
    success_data(&reply, "l");
    let list = node.list(PARENT).await;
    assert_socket_shape(
        &list[0],
        json!(["object.doc_created.user"]),
        (before, after),
        &["name", "metadata"],
    );
    assert_eq!(list[0]["name"], "board");
    assert_eq!(list[0]["metadata"], json!({"desk": 4}));
    assert_eq!(socket_id_of(&list[0]), id);

    // Unauthenticated sockets are nobody's.
    let _anonymous = node.connect().await;
    assert_eq!(node.list(PARENT).await.len(), 1);
    // Ids are unique.
    let other = node.connect_as(PARENT).await;
    let ids: BTreeSet<String> = node.list_ids(PARENT).await.into_iter().collect();
    assert_eq!(ids.len(), 2);
    drop(other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_in_connect_order() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    let mut first = node.connect().await;
    let mut second = node.connect().await;
    let mut third = node.connect().await;
    // Authenticated in another order than connected.
    for (client, name) in [
        (&mut third, "third"),
        (&mut first, "first"),
        (&mut second, "second"),
    ] {
        let reply = client
            .request(
                json!({"action": "ping", "auth_token": token, "request_id": "p",
                            "name": name}),
            )
            .await;
        success_data(&reply, "p");
    }
    let list = node.list(PARENT).await;
    let names: Vec<&str> = list.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first", "second", "third"]);
    let stamps: Vec<u64> = list
        .iter()
        .map(|s| s["timestamp"].as_u64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    let mut clients = Vec::new();
    for i in 0..5 {
        let mut client = node.connect().await;
        let reply = client
            .request(
                json!({"action": "ping", "auth_token": token, "request_id": "p",
                            "name": format!("s{i}")}),
            )
            .await;
        success_data(&reply, "p");
        clients.push(client);
    }
    let all = node.list_ids(PARENT).await;
    assert_eq!(all.len(), 5);
    let path = format!("/v2/accounts/{PARENT}/websockets");
    let page = |query: String| {
        let node = &node;
        let path = &path;
        let token = &token;
        async move {
            let resp = node.get(&format!("{path}?{query}"), Some(token)).await;
            assert_eq!(resp.status, 200, "{query}: {}", resp.text);
            assert_common_envelope(&resp.body);
            resp.body
        }
    };
    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(socket_id_of)
            .collect()
    };

    let body = page("page_size=2".into()).await;
    assert_eq!(ids(&body), all[0..2]);
    assert_eq!(body["page_size"], 2);
    assert_eq!(body["next_start_key"], all[2]);

    let body = page(format!("page_size=2&start_key={}", all[2])).await;
    assert_eq!(ids(&body), all[2..4]);
    assert_eq!(body["page_size"], 2);
    assert_eq!(body["next_start_key"], all[4]);

    let body = page(format!("start_key={}&page_size=2", all[4])).await;
    assert_eq!(ids(&body), all[4..5]);
    assert_eq!(body["page_size"], 1);
    assert!(body.get("next_start_key").is_none(), "{body}");

    let body = page("page_size=5".into()).await;
    assert_eq!(ids(&body), all);
    assert_eq!(body["page_size"], 5);
    assert!(body.get("next_start_key").is_none(), "{body}");

    let body = page("page_size=1000".into()).await;
    assert_eq!(ids(&body), all);
    let body = page("page_size=1".into()).await;
    assert_eq!(ids(&body), all[0..1]);
    assert_eq!(body["next_start_key"], all[1]);

    // start_key alone: the rest of the list from there.
    let body = page(format!("start_key={}", all[3])).await;
    assert_eq!(ids(&body), all[3..5]);
    assert!(body.get("next_start_key").is_none(), "{body}");

    // Without either: the whole list.
    let body = page(String::new()).await;
    assert_eq!(ids(&body), all);
    assert!(body.get("next_start_key").is_none(), "{body}");

    for query in [
        "start_key=nope".to_string(),
        format!("start_key={}x&page_size=2", all[0]),
        "page_size=0".to_string(),
        "page_size=1001".to_string(),
        "page_size=abc".to_string(),
        "page_size=-1".to_string(),
        "page_size=".to_string(),
        "page_size=2.5".to_string(),
    ] {
        let resp = node.get(&format!("{path}?{query}"), Some(&token)).await;
        resp.assert_error(400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_socket_is_404() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    let _client = node.connect_as(PARENT).await;
    for path in [
        format!("/v2/accounts/{PARENT}/websockets/0123456789abcdef0123456789abcdef"),
        format!("/v2/accounts/{PARENT}/websockets/nope"),
    ] {
        node.get(&path, Some(&token)).await.assert_error(404);
        node.delete(&path, Some(&token)).await.assert_error(404);
    }
    // Another account's socket is unknown here, even to someone who may act on that account too.
    let mut other = node.connect_as(OTHER).await;
    other.sync().await;
    let other_id = node.list_ids(OTHER).await[0].clone();
    let master = node.token(MASTER);
    let path = format!("/v2/accounts/{PARENT}/websockets/{other_id}");
    node.get(&path, Some(&master)).await.assert_error(404);
    node.delete(&path, Some(&master)).await.assert_error(404);
    other.sync().await;
}

// ---- status codes and their order ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_is_404() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/v2"),
        (Method::GET, "/v2/nope"),
        (Method::POST, "/v2/nope"),
        (Method::DELETE, "/v1/websockets"),
        (Method::GET, "/v2/accounts"),
        (Method::GET, "/v2/accounts/x/websockets/y/z"),
        (Method::PUT, "/v2/websocketsx"),
    ] {
        for token in [None, Some(token.as_str())] {
            let resp = node.request(method.clone(), path, token, &[], None).await;
            resp.assert_error(404);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_405_before_401() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    for (method, path) in [
        (Method::POST, "/v2/websockets".to_string()),
        (Method::DELETE, "/v2/websockets".to_string()),
        (Method::PUT, format!("/v2/accounts/{PARENT}/websockets")),
        (Method::DELETE, format!("/v2/accounts/{PARENT}/websockets")),
        (Method::POST, format!("/v2/accounts/{PARENT}/websockets/x")),
        (Method::PATCH, format!("/v2/accounts/{PARENT}/websockets/x")),
        (Method::GET, "/v2/events".to_string()),
        (Method::PUT, "/v2/events".to_string()),
        (Method::POST, "/metrics".to_string()),
        (Method::POST, "/healthz".to_string()),
        (Method::DELETE, "/readyz".to_string()),
    ] {
        for token in [None, Some(token.as_str()), Some("garbage")] {
            let resp = node.request(method.clone(), &path, token, &[], None).await;
            resp.assert_error(405);
            let allow = resp.headers["allow"].to_str().unwrap();
            assert!(!allow.contains(method.as_str()), "{path}: Allow {allow}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_may_call_the_api_from_any_origin() {
    let node = TestNode::start().await;
    let list = format!("/v2/accounts/{PARENT}/websockets");
    let origin = [("Origin", "https://dashboard.example")];

    let preflight = node
        .request(Method::OPTIONS, &list, None, &origin, None)
        .await;
    assert_eq!(preflight.status, 204, "{}", preflight.text);
    assert_eq!(preflight.headers["access-control-allow-methods"], "GET");
    let allowed = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-auth-token"), "{allowed}");
    assert_eq!(preflight.headers["access-control-allow-origin"], "*");

    let token = node.token(PARENT);
    let answered = node
        .request(Method::GET, &list, Some(&token), &origin, None)
        .await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.headers["access-control-allow-origin"], "*");
    let refused = node.request(Method::GET, &list, None, &origin, None).await;
    refused.assert_error(401);
    assert_eq!(refused.headers["access-control-allow-origin"], "*");

    let unknown = node
        .request(Method::OPTIONS, "/nope", None, &origin, None)
        .await;
    unknown.assert_error(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bad_or_expired_token_is_401() {
    let node = TestNode::start().await;
    let list = format!("/v2/accounts/{PARENT}/websockets");
    let one = format!("/v2/accounts/{PARENT}/websockets/nope");
    let tokens = [
        None,
        Some("garbage".to_string()),
        Some(String::new()),
        Some(foreign_token(PARENT)),
        Some(expired_token(PARENT)),
        Some(foreign_token(MASTER)),
    ];
    for token in &tokens {
        node.get(&list, token.as_deref()).await.assert_error(401);
        // 401 before 404 (unknown socket) and before 403 (another account).
        node.get(&one, token.as_deref()).await.assert_error(401);
        node.delete(&one, token.as_deref()).await.assert_error(401);
        node.get(
            &format!("/v2/accounts/{OTHER}/websockets"),
            token.as_deref(),
        )
        .await
        .assert_error(401);
        // 401 before 400 (bad body) on publish.
        node.publish_raw("not json", token.as_deref())
            .await
            .assert_error(401);
        node.publish_raw(
            &call_event(PARENT, "CHANNEL_CREATE", "c").to_string(),
            token.as_deref(),
        )
        .await
        .assert_error(401);
    }

    // `exp` is enforced: a token minted with a short ttl works, then is refused once its `exp`
    // has passed. Its `exp` is at most `minted + ttl + 1` (the ttl is whole seconds from the
    // current second); the wait is on the clock, not on a fixed sleep.
    let minted = unix_now();
    let short = token_ttl(PARENT, Duration::from_secs(3));
    let resp = node.get(&list, Some(&short)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    while unix_now() <= minted + 3 + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.get(&list, Some(&short)).await.assert_error(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_one_may_not_act_on_is_403_before_404() {
    let node = TestNode::start().await;
    let _p = node.connect_as(PARENT).await;
    let id = node.list_ids(PARENT).await[0].clone();
    let token = node.token(OTHER);
    for path in [
        format!("/v2/accounts/{PARENT}/websockets"),
        format!("/v2/accounts/{PARENT}/websockets/{id}"),
        format!("/v2/accounts/{PARENT}/websockets/unknown"),
    ] {
        node.get(&path, Some(&token)).await.assert_error(403);
    }
    node.delete(
        &format!("/v2/accounts/{PARENT}/websockets/unknown"),
        Some(&token),
    )
    .await
    .assert_error(403);
    // 403 before 400 (bad pagination).
    node.get(
        &format!("/v2/accounts/{PARENT}/websockets?page_size=0"),
        Some(&token),
    )
    .await
    .assert_error(403);
}

// ---- kick ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_kicks_the_socket_with_4000_and_answers_its_last_state() {
    let node = TestNode::start().await;
    let before = unix_now();
    let mut victim = node.connect().await;
    let reply = victim
        .request(
            json!({"action": "subscribe", "auth_token": node.token(PARENT),
                        "request_id": "s", "name": "victim", "metadata": {"k": "v"},
                        "data": {"account_id": PARENT,
                                 "bindings": ["call.*.*", "fax.status.*"]}}),
        )
        .await;
    success_data(&reply, "s");
    let after = unix_now();
    let mut bystander = node.connect_as(PARENT).await;
    bystander.subscribe_ok(PARENT, &["call.*.*"]).await;

    let id = node.list_ids(PARENT).await[0].clone();
    let path = format!("/v2/accounts/{PARENT}/websockets/{id}");
    let resp = node.delete(&path, Some(&node.token(PARENT))).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["status"], "success");
    assert_common_envelope(&resp.body);
    let state = &resp.body["data"];
    assert_socket_shape(
        state,
        json!(["call.*.*", "fax.status.*"]),
        (before, after),
        &["name", "metadata"],
    );
    assert_eq!(socket_id_of(state), id);
    assert_eq!(state["name"], "victim");

    assert_eq!(victim.expect_close().await, 4000);

    // Gone: from the list, from lookups, from deliveries.
    node.eventually("the kicked socket leaves the list", || async {
        node.list_ids(PARENT).await.len() == 1
    })
    .await;
    node.get(&path, Some(&node.token(PARENT)))
        .await
        .assert_error(404);
    node.delete(&path, Some(&node.token(PARENT)))
        .await
        .assert_error(404);
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    let event = bystander.recv_event().await;
    assert_eq!(event["subscribed_key"], "call.*.*");
    bystander.sync().await;
    let fabric = node.node().fabric().clone();
    node.eventually("one binding left", || {
        let fabric = fabric.clone();
        async move { fabric.metrics.bindings.get() == 1 }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_and_the_superduper_may_kick_a_childs_socket() {
    let node = TestNode::start().await;
    for kicker in [PARENT, MASTER] {
        let mut child = node.connect_as(CHILD).await;
        child.sync().await;
        let id = node.list_ids(CHILD).await[0].clone();
        let resp = node
            .delete(
                &format!("/v2/accounts/{CHILD}/websockets/{id}"),
                Some(&node.token(kicker)),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        assert_eq!(socket_id_of(&resp.body["data"]), id);
        assert_eq!(child.expect_close().await, 4000);
        node.eventually("the kicked socket leaves the list", || async {
            node.list(CHILD).await.is_empty()
        })
        .await;
    }
}

// ---- health and metrics ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let node = TestNode::start().await;
    for path in ["/healthz", "/readyz"] {
        let resp = node.get(path, None).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_bindings_events_and_deliveries() {
    let node = TestNode::start().await;
    let mut a = node.connect_as(PARENT).await;
    a.subscribe_ok(PARENT, &["call.*.*", "fax.status.*"]).await;
    let mut b = node.connect_as(OTHER).await;
    b.subscribe_ok(OTHER, &["call.*.*"]).await;
    let _anonymous = node.connect().await;
    node.eventually("three connections counted", || async {
        metric(&node.metrics_text().await, "switchyard_connections") == Some(3.0)
    })
    .await;

    node.publish_ok(&json!([
        call_event(PARENT, "CHANNEL_CREATE", "c1"),
        call_event(OTHER, "CHANNEL_CREATE", "c1"),
        call_event(CHILD, "CHANNEL_CREATE", "c1"),
    ]))
    .await;
    a.recv_event().await;
    b.recv_event().await;

    // The frames are written before the writer records them.
    node.eventually("both deliveries timed", || async {
        let text = node.metrics_text().await;
        metric(&text, "switchyard_delivery_latency_seconds_count") == Some(2.0)
    })
    .await;
    let resp = node.get("/metrics", None).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = resp.text;
    assert!(text.ends_with("# EOF\n"), "{text}");
    let expected = [
        ("switchyard_connections", 3.0),
        ("switchyard_bindings", 3.0),
        ("switchyard_events_in_total", 3.0),
        ("switchyard_events_in_total{exchange=\"callevt\"}", 3.0),
        ("switchyard_events_in_total{exchange=\"faxes\"}", 0.0),
        ("switchyard_deliveries_total", 2.0),
        (
            "switchyard_delivery_latency_seconds_bucket{le=\"+Inf\"}",
            2.0,
        ),
        (
            &format!("switchyard_account_sockets{{account=\"{PARENT}\"}}"),
            1.0,
        ),
        (
            &format!("switchyard_account_sockets{{account=\"{OTHER}\"}}"),
            1.0,
        ),
        ("switchyard_account_sockets", 2.0),
        (
            "switchyard_rest_requests_total{route=\"publish_events\",status=\"200\"}",
            1.0,
        ),
        (
            "switchyard_rest_request_duration_seconds_count{route=\"publish_events\"}",
            1.0,
        ),
    ];
    for (name, value) in expected {
        assert_eq!(metric(&text, name), Some(value), "{name} in {text}");
    }
    for present in ["process_resident_memory_bytes", "process_open_fds"] {
        assert!(metric(&text, present).is_some_and(|v| v > 0.0), "{present}");
    }

    // A socket that leaves is counted by why; a connection that never upgrades, by why too.
    drop(a);
    let answer = raw_exchange(
        node.ws_addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    node.eventually("the leaving socket and the refusal counted", || async {
        let text = node.metrics_text().await;
        metric(&text, "switchyard_disconnects_total") == Some(1.0)
            && metric(
                &text,
                "switchyard_connections_refused_total{reason=\"bad_handshake\"}",
            ) == Some(1.0)
    })
    .await;
    // An unknown path is counted under one route name, never under its own path.
    assert_eq!(node.get("/v2/no/such/path", None).await.status, 404);
    let text = node.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "switchyard_rest_requests_total{route=\"unmatched\",status=\"404\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("no/such"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_answers_the_accepted_count() {
    let node = TestNode::start().await;
    let resp = node
        .publish(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_common_envelope(&resp.body);
    assert_eq!(resp.body["data"], json!({"accepted": 1}));
    let batch = json!([
        call_event(PARENT, "CHANNEL_CREATE", "c1"),
        fax_status_event(PARENT, "f1"),
        conference_command("conf1", None),
    ]);
    assert_eq!(node.publish_ok(&batch).await, 3);
}

/// `GET /openapi.json` is docs/openapi.json, and what the node answers each documented operation
/// (without a token, with an account's, with a superduper's) is a status the document lists
/// for it, errors in the error envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_describes_what_the_node_answers() {
    let node = TestNode::start().await;
    let served = node.get("/openapi.json", None).await;
    assert_eq!(served.status, 200);
    let file: Value =
        serde_json::from_str(include_str!("../docs/openapi.json")).expect("docs/openapi.json");
    assert_eq!(served.body, file);
    assert!(file["openapi"].as_str().unwrap().starts_with("3."));

    let tokens = [None, Some(node.token(PARENT)), Some(node.token(MASTER))];
    for (path, operations) in file["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{account_id}", PARENT)
            .replace("{socket_id}", "no-such-socket");
        for (method, operation) in operations.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let documented = operation["responses"].as_object().unwrap();
            for token in &tokens {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = (method == Method::POST).then(|| "[]".to_string());
                let answer = node
                    .request(method.clone(), &concrete, token.as_deref(), &[], body)
                    .await;
                let status = answer.status.to_string();
                assert!(
                    documented.contains_key(&status),
                    "{method} {path} answered {status}, not documented: {}",
                    answer.text
                );
                if answer.status >= 400 {
                    assert_error_envelope(&answer.body, answer.status);
                }
            }
        }
    }
}
