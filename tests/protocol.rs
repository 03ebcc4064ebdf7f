//! SPEC 3: every client action, every error string of the table verbatim, authentication per
//! socket, and the per-socket and per-account limits.

mod common;

use common::*;
use serde_json::{Value, json};

// ---- actions ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_echoes_request_id_or_makes_a_fresh_one() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    let token = node.token(PARENT);

    let reply = client
        .request(json!({"action": "ping", "auth_token": token, "request_id": "r5"}))
        .await;
    assert_eq!(
        reply,
        json!({"action": "reply", "request_id": "r5", "status": "success",
               "data": {"response": "pong"}})
    );

    // Without a request_id: a fresh 32-hex one, different each time.
    let first = client.request(json!({"action": "ping"})).await;
    let second = client.request(json!({"action": "ping"})).await;
    for reply in [&first, &second] {
        assert_fresh_request_id(reply);
        assert_eq!(reply["status"], "success");
        assert_eq!(reply["data"], json!({"response": "pong"}));
    }
    assert_ne!(first["request_id"], second["request_id"]);

    // Error replies echo it too, or make one up.
    let reply = client
        .request(json!({"action": "dance", "request_id": "r9"}))
        .await;
    assert_error_reply(&reply, "r9", "unsupported action dance");
    let reply = client.request(json!({"action": "dance"})).await;
    assert_fresh_request_id(&reply);
    assert_eq!(
        reply["data"],
        json!({"errors": ["unsupported action dance"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_works_on_any_upgrade_path() {
    let node = TestNode::start().await;
    let mut client = Client::connect_path(node.ws_addr, "/some/where?x=1").await;
    client.authenticate(&node.token(PARENT)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_with_binding() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    let reply = client
        .request(json!({
            "action": "subscribe", "auth_token": node.token(PARENT), "request_id": "r1",
            "data": {"account_id": PARENT, "binding": "call.CHANNEL_CREATE.*"}
        }))
        .await;
    assert_eq!(
        reply,
        json!({"action": "reply", "request_id": "r1", "status": "success",
               "data": {"subscribed": ["call.CHANNEL_CREATE.*"]}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_with_bindings_list() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let reply = client
        .request(json!({
            "action": "subscribe", "request_id": "r2",
            "data": {"account_id": PARENT, "bindings": ["fax.status.*", "object.*.user"]}
        }))
        .await;
    assert_eq!(
        reply,
        json!({"action": "reply", "request_id": "r2", "status": "success",
               "data": {"subscribed": ["fax.status.*", "object.*.user"]}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_and_bindings_are_united_binding_first_without_duplicates() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let reply = client
        .request(json!({
            "action": "subscribe", "request_id": "u",
            "data": {"account_id": PARENT, "binding": "call.CHANNEL_ANSWER.*",
                     "bindings": ["fax.status.*", "call.CHANNEL_ANSWER.*", "object.*.user",
                                  "fax.status.*"]}
        }))
        .await;
    assert_eq!(
        success_data(&reply, "u"),
        json!({"subscribed": ["call.CHANNEL_ANSWER.*", "fax.status.*", "object.*.user"]})
    );

    // Later subscriptions append; ones already held stay where they were (oldest first).
    let subscribed = client
        .subscribe_ok(PARENT, &["object.*.user", "call.*.*", "fax.status.*"])
        .await;
    assert_eq!(
        subscribed,
        [
            "call.CHANNEL_ANSWER.*",
            "fax.status.*",
            "object.*.user",
            "call.*.*"
        ]
    );
    let subscribed = client.subscribe_ok(PARENT, &["call.*.*"]).await;
    assert_eq!(subscribed.len(), 4);

    // The same binding for the parent's child is another binding of the socket, but
    // `subscribed` lists each binding string once.
    let subscribed = client.subscribe_ok(CHILD, &["call.*.*"]).await;
    assert_eq!(
        subscribed,
        [
            "call.CHANNEL_ANSWER.*",
            "fax.status.*",
            "object.*.user",
            "call.*.*"
        ]
    );
    let socket = &node.list(PARENT).await[0];
    assert_eq!(
        socket["bindings"],
        json!([
            "call.CHANNEL_ANSWER.*",
            "fax.status.*",
            "object.*.user",
            "call.*.*"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_one_a_list_and_everything() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(
            PARENT,
            &[
                "call.CHANNEL_CREATE.*",
                "call.CHANNEL_ANSWER.*",
                "fax.status.*",
                "object.*.user",
                "object.doc_created.device",
            ],
        )
        .await;

    let reply = client
        .request(json!({
            "action": "unsubscribe", "request_id": "r3",
            "data": {"account_id": PARENT, "binding": "call.CHANNEL_CREATE.*"}
        }))
        .await;
    assert_eq!(
        reply,
        json!({"action": "reply", "request_id": "r3", "status": "success",
               "data": {"unsubscribed": ["call.CHANNEL_CREATE.*"],
                        "subscribed": ["call.CHANNEL_ANSWER.*", "fax.status.*", "object.*.user",
                                       "object.doc_created.device"]}})
    );

    let reply = client
        .request(json!({
            "action": "unsubscribe", "request_id": "r3b",
            "data": {"account_id": PARENT, "bindings": ["fax.status.*", "call.CHANNEL_ANSWER.*"]}
        }))
        .await;
    assert_eq!(
        success_data(&reply, "r3b"),
        json!({"unsubscribed": ["fax.status.*", "call.CHANNEL_ANSWER.*"],
               "subscribed": ["object.*.user", "object.doc_created.device"]})
    );

    // The unsubscribed ones no longer deliver; the rest still do.
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    node.publish_ok(&fax_status_event(PARENT, "f1")).await;
    client.sync().await;
    node.publish_ok(&object_event("doc_created", &adb(PARENT), "user", "u1"))
        .await;
    let event = client.recv_event().await;
    assert_eq!(event["subscribed_key"], "object.*.user");
    client.sync().await;

    // Without data: everything goes.
    let reply = client
        .request(json!({"action": "unsubscribe", "request_id": "r4"}))
        .await;
    let data = success_data(&reply, "r4");
    assert_eq!(data["subscribed"], json!([]), "{reply}");
    assert_eq!(node.list(PARENT).await[0]["bindings"], json!([]));
    node.publish_ok(&object_event("doc_created", &adb(PARENT), "user", "u2"))
        .await;
    node.publish_ok(&object_event("doc_created", &adb(PARENT), "device", "d2"))
        .await;
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_a_binding_not_held_succeeds_and_echoes_it() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["fax.status.*"]).await;
    let reply = client
        .request(json!({
            "action": "unsubscribe", "request_id": "nh",
            "data": {"account_id": PARENT, "bindings": ["call.CHANNEL_ANSWER.*", "object.*.user"]}
        }))
        .await;
    assert_eq!(
        success_data(&reply, "nh"),
        json!({"unsubscribed": ["call.CHANNEL_ANSWER.*", "object.*.user"],
               "subscribed": ["fax.status.*"]})
    );
    // Held for another account of the socket's: not the same binding.
    let reply = client
        .request(json!({
            "action": "unsubscribe", "request_id": "nh2",
            "data": {"account_id": CHILD, "binding": "fax.status.*"}
        }))
        .await;
    assert_eq!(
        success_data(&reply, "nh2"),
        json!({"unsubscribed": ["fax.status.*"], "subscribed": ["fax.status.*"]})
    );
    node.publish_ok(&fax_status_event(PARENT, "f1")).await;
    client.recv_event().await;
    client.sync().await;
}

// ---- authentication per socket ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_remembered_for_the_socket() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    let reply = client
        .subscribe(Some(&node.token(PARENT)), PARENT, &["call.*.*"])
        .await;
    success_data(&reply, "sub");
    // No token from now on.
    let reply = client.subscribe(None, PARENT, &["fax.status.*"]).await;
    assert_eq!(
        success_data(&reply, "sub"),
        json!({"subscribed": ["call.*.*", "fax.status.*"]})
    );
    let reply = client
        .request(json!({"action": "ping", "request_id": "p"}))
        .await;
    assert_eq!(success_data(&reply, "p"), json!({"response": "pong"}));
    // The child's events are the parent's business too.
    let reply = client.subscribe(None, CHILD, &["fax.status.*"]).await;
    success_data(&reply, "sub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_token_on_a_later_frame_is_ignored() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    client.authenticate(&node.token(OTHER)).await;

    // The parent's token does not make this socket the parent's.
    let reply = client
        .subscribe(Some(&node.token(PARENT)), PARENT, &["call.*.*"])
        .await;
    assert_error_reply(&reply, "sub", "unauthorized account id");
    // Nor does a superduper token make it superduper.
    let reply = client
        .subscribe(Some(&node.token(MASTER)), "*", &["call.*.*"])
        .await;
    assert_error_reply(&reply, "sub", "unauthorized wildcard account id");
    // Its own account works whatever the token says, even a bad one.
    let reply = client
        .subscribe(Some(&node.token(PARENT)), OTHER, &["call.*.*"])
        .await;
    success_data(&reply, "sub");
    let reply = client
        .subscribe(Some(&foreign_token(PARENT)), OTHER, &["fax.status.*"])
        .await;
    success_data(&reply, "sub");

    // REST agrees: the socket is the unrelated account's.
    assert_eq!(node.list(OTHER).await.len(), 1);
    assert_eq!(node.list(PARENT).await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_frame_does_not_authenticate() {
    let node = TestNode::start().await;
    let token = node.token(PARENT);
    let failures = [
        // validate
        json!({"action": "subscribe", "auth_token": token, "request_id": "f",
               "data": {"account_id": PARENT, "binding": "call.NOPE.*"}}),
        json!({"action": "subscribe", "auth_token": token, "request_id": "f",
               "data": {"account_id": PARENT}}),
        json!({"action": "dance", "auth_token": token, "request_id": "f"}),
        // authorize
        json!({"action": "subscribe", "auth_token": token, "request_id": "f",
               "data": {"account_id": OTHER, "binding": "call.*.*"}}),
        json!({"action": "subscribe", "auth_token": token, "request_id": "f",
               "data": {"account_id": "*", "binding": "call.*.*"}}),
    ];
    for frame in failures {
        let mut client = node.connect().await;
        let reply = client.request(frame.clone()).await;
        assert_eq!(reply["status"], "error", "{frame} → {reply}");
        let reply = client
            .request(json!({"action": "ping", "request_id": "after"}))
            .await;
        assert_error_reply(&reply, "after", "authentication token required");
        // Nothing is listed for the account either.
        assert_eq!(node.list(PARENT).await, Vec::<Value>::new(), "{frame}");
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_frame_changes_nothing() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    let reply = client
        .request(json!({
            "action": "subscribe", "auth_token": node.token(PARENT), "request_id": "s",
            "name": "first", "metadata": {"v": 1},
            "data": {"account_id": PARENT, "binding": "call.CHANNEL_CREATE.*"}
        }))
        .await;
    success_data(&reply, "s");

    // One bad binding among good ones: none of them is taken, nor the labels.
    let reply = client
        .request(json!({
            "action": "subscribe", "request_id": "bad", "name": "second", "metadata": {"v": 2},
            "data": {"account_id": PARENT,
                     "bindings": ["fax.status.*", "object.nope.user", "call.*.*"]}
        }))
        .await;
    assert_error_reply(&reply, "bad", "event nope.user not supported");
    // An unauthorized account, with labels.
    let reply = client
        .request(json!({
            "action": "unsubscribe", "request_id": "bad2", "name": "third",
            "data": {"account_id": OTHER, "binding": "call.CHANNEL_CREATE.*"}
        }))
        .await;
    assert_error_reply(&reply, "bad2", "unauthorized account id");
    // A wrongly typed label fails the whole frame.
    let reply = client
        .request(json!({
            "action": "unsubscribe", "request_id": "bad3", "metadata": "m",
            "data": {"account_id": PARENT, "binding": "call.CHANNEL_CREATE.*"}
        }))
        .await;
    assert_error_reply(&reply, "bad3", "invalid value for metadata");

    let socket = &node.list(PARENT).await[0];
    assert_eq!(socket["bindings"], json!(["call.CHANNEL_CREATE.*"]));
    assert_eq!(socket["name"], "first");
    assert_eq!(socket["metadata"], json!({"v": 1}));

    node.publish_ok(&fax_status_event(PARENT, "f1")).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    let event = client.recv_event().await;
    assert_eq!(event["subscribed_key"], "call.CHANNEL_CREATE.*");
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_and_metadata_label_the_socket_in_rest() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    let reply = client
        .request(json!({
            "action": "subscribe", "auth_token": node.token(PARENT), "request_id": "s",
            "name": "wallboard", "metadata": {"user": "alice", "screens": [1, 2], "x": {"y": null}},
            "data": {"account_id": PARENT, "binding": "call.CHANNEL_CREATE.*"}
        }))
        .await;
    success_data(&reply, "s");
    let socket = &node.list(PARENT).await[0];
    assert_eq!(socket["name"], "wallboard");
    assert_eq!(
        socket["metadata"],
        json!({"user": "alice", "screens": [1, 2], "x": {"y": null}})
    );
    let id = socket_id_of(socket);
    let one = node
        .get(
            &format!("/v2/accounts/{PARENT}/websockets/{id}"),
            Some(&node.token(PARENT)),
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["data"]["name"], "wallboard");

    // A later successful frame relabels; a frame without labels keeps them.
    let reply = client
        .request(json!({"action": "ping", "request_id": "p", "name": "renamed"}))
        .await;
    success_data(&reply, "p");
    let reply = client
        .request(json!({"action": "ping", "request_id": "p2"}))
        .await;
    success_data(&reply, "p2");
    let socket = &node.list(PARENT).await[0];
    assert_eq!(socket["name"], "renamed");
    assert_eq!(socket["metadata"]["user"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_an_account_missing_from_the_directory_acts_on_itself_only() {
    let node = TestNode::start().await;
    let mut client = node.connect().await;
    let reply = client
        .subscribe(Some(&node.token(STRANGER)), STRANGER, &["call.*.*"])
        .await;
    success_data(&reply, "sub");
    let reply = client.subscribe(None, PARENT, &["call.*.*"]).await;
    assert_error_reply(&reply, "sub", "unauthorized account id");
    node.publish_ok(&call_event(STRANGER, "CHANNEL_CREATE", "c1"))
        .await;
    client.recv_event().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_tokens_from_configured_public_keys_are_accepted() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let public = fixtures.join("rs256_public.pem");
    let node = TestNode::start_with(|s| s.jwt_public_keys = vec![public]).await;
    let sign = |pem: &str, claims: Value| {
        let pem = std::fs::read(fixtures.join(pem)).unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
        )
        .unwrap()
    };
    let exp = unix_now() + 3600;
    let kazoo = sign(
        "rs256_private.pem",
        json!({"account_id": PARENT, "exp": exp}),
    );
    let mut client = node.connect().await;
    client.authenticate(&kazoo).await;
    let rest = node
        .get(&format!("/v2/accounts/{PARENT}/websockets"), Some(&kazoo))
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert!(!rest.text.contains(&kazoo));

    let untrusted = sign(
        "rs256_other_private.pem",
        json!({"account_id": PARENT, "exp": exp}),
    );
    let mut client = node.connect().await;
    let reply = client
        .request(json!({"action": "ping", "auth_token": untrusted, "request_id": "x"}))
        .await;
    assert_error_reply(&reply, "x", "failed to authenticate token");
    let rest = node
        .get(
            &format!("/v2/accounts/{PARENT}/websockets"),
            Some(&untrusted),
        )
        .await;
    rest.assert_error(401);
}

// ---- the error table, step by step ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticate_errors_verbatim() {
    let node = TestNode::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!(null), "authentication token required"),
        (json!("garbage"), "failed to authenticate token"),
        (json!(""), "failed to authenticate token"),
        (json!("a.b"), "failed to authenticate token"),
        (json!(42), "invalid authentication token format"),
        (json!(foreign_token(PARENT)), "failed to authenticate token"),
        (json!(expired_token(PARENT)), "failed to authenticate token"),
        (
            json!(token_with_claims(
                node.secret().as_slice(),
                &json!({"account_id": "not-an-account", "exp": unix_now() + 60})
            )),
            "failed to authenticate token",
        ),
    ];
    for (token, text) in cases {
        let mut client = node.connect().await;
        let mut frame = json!({"action": "subscribe", "request_id": "t",
                               "data": {"account_id": PARENT, "binding": "call.*.*"}});
        if !token.is_null() {
            frame["auth_token"] = token.clone();
        }
        let reply = client.request(frame).await;
        assert_error_reply(&reply, "t", text);
        assert!(!reply.to_string().contains("eyJ"), "token echoed: {reply}");
        // Authentication comes before validation: even a frame that would not validate says so.
        let reply = client
            .request(json!({"action": "dance", "request_id": "d", "auth_token": token}))
            .await;
        assert_error_reply(&reply, "d", text);
    }
}

/// monster-ui (KAZOO's web UI) logs in again only when an error starts with `failed to
/// authenticate token`. It sends what KAZOO gave it, which may be a legacy 32-hex auth token
/// rather than a JWT: a string that does not authenticate, whatever its shape, must say so
/// (and never echo it); only an `auth_token` that is not a string is a format error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monster_ui_legacy_token_gets_failed_to_authenticate_token() {
    let node = TestNode::start().await;
    let legacy = "6f1e3d2c4b5a69788796a5b4c3d2e1f0";
    let request_id = "2d9b7c1e-8f4a-4e6b-9c3d-5a1f0e7b2c48";
    let monster_ui_frame = |token: Value| {
        json!({"action": "subscribe", "auth_token": token, "request_id": request_id,
               "data": {"binding": "call.CHANNEL_CREATE.*", "account_id": PARENT}})
    };
    let mut client = node.connect().await;
    for token in [
        legacy,
        "not a token at all",
        "Bearer 6f1e3d2c4b5a69788796a5b4c3d2e1f0",
    ] {
        let reply = client.request(monster_ui_frame(json!(token))).await;
        assert_eq!(reply["status"], "error", "{reply}");
        assert_eq!(reply["request_id"], request_id, "{reply}");
        let message = reply["data"]["errors"][0].as_str().unwrap_or_default();
        assert!(
            message.starts_with("failed to authenticate token"),
            "{token:?}: {reply}"
        );
        assert!(!reply.to_string().contains(token), "token echoed: {reply}");
        assert!(!reply.to_string().contains(legacy), "token echoed: {reply}");
    }
    let reply = client.request(monster_ui_frame(json!(42))).await;
    assert_error_reply(&reply, request_id, "invalid authentication token format");

    // The failed frames authenticated nothing; after logging in again the same frame works.
    let reply = client
        .request(json!({"action": "ping", "request_id": "p"}))
        .await;
    assert_error_reply(&reply, "p", "authentication token required");
    let reply = client
        .request(monster_ui_frame(json!(node.token(PARENT))))
        .await;
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(
        reply["data"]["subscribed"],
        json!(["call.CHANNEL_CREATE.*"])
    );

    // REST refuses the legacy token like any other bad one, without echoing it.
    let rest = node
        .get(&format!("/v2/accounts/{PARENT}/websockets"), Some(legacy))
        .await;
    rest.assert_error(401);
    assert!(!rest.text.contains(legacy), "{}", rest.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_errors_verbatim() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let cases = [
        (
            json!({"action": "subscribe"}),
            "missing required keys : account_id, binding",
        ),
        (
            json!({"action": "subscribe", "data": {}}),
            "missing required keys : account_id, binding",
        ),
        (
            json!({"action": "subscribe", "data": {"binding": "call.*.*"}}),
            "missing required keys : account_id",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": PARENT}}),
            "missing required keys : binding",
        ),
        (
            json!({"action": "unsubscribe", "data": {"bindings": ["call.*.*"]}}),
            "missing required keys : account_id",
        ),
        (
            json!({"action": "subscribe", "data": "call.*.*"}),
            "invalid value for data",
        ),
        (
            json!({"action": "subscribe", "data": ["call.*.*"]}),
            "invalid value for data",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": 5, "binding": "call.*.*"}}),
            "invalid value for account_id",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": "ABC", "binding": "call.*.*"}}),
            "invalid value for account_id",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": PARENT, "binding": ["call.*.*"]}}),
            "invalid value for binding",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": PARENT, "binding": 7}}),
            "invalid value for binding",
        ),
        (
            json!({"action": "subscribe", "data": {"account_id": PARENT, "bindings": "call.*.*"}}),
            "invalid value for bindings",
        ),
        (
            json!({"action": "subscribe",
                   "data": {"account_id": PARENT, "bindings": ["call.*.*", 3]}}),
            "invalid value for bindings",
        ),
        (
            json!({"action": "ping", "name": 5}),
            "invalid value for name",
        ),
        (
            json!({"action": "ping", "name": {"n": 1}}),
            "invalid value for name",
        ),
        (
            json!({"action": "ping", "metadata": "m"}),
            "invalid value for metadata",
        ),
        (
            json!({"action": "ping", "metadata": [1]}),
            "invalid value for metadata",
        ),
        (json!({"action": "dance"}), "unsupported action dance"),
        (
            json!({"action": "Subscribe"}),
            "unsupported action Subscribe",
        ),
    ];
    for (i, (mut frame, text)) in cases.into_iter().enumerate() {
        let id = format!("v{i}");
        frame["request_id"] = json!(id);
        let reply = client.request(frame).await;
        assert_error_reply(&reply, &id, text);
    }
    // Still the same healthy socket.
    assert_eq!(
        client.subscribe_ok(PARENT, &["call.*.*"]).await,
        ["call.*.*"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_errors_verbatim() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let cases = [
        ("call.CHANNEL_FOO.*", "event CHANNEL_FOO not supported"),
        (
            "call.channel_create.*",
            "event channel_create not supported",
        ),
        (
            "call.CHANNEL_CREATE",
            "invalid format for call subscription : CHANNEL_CREATE",
        ),
        (
            "call.CHANNEL_CREATE.abc.def",
            "invalid format for call subscription : CHANNEL_CREATE, abc, def",
        ),
        (
            "object.doc_created.widget",
            "event doc_created.widget not supported",
        ),
        (
            "object.doc_moved.user",
            "event doc_moved.user not supported",
        ),
        (
            "object.doc_created",
            "invalid format for object subscription : doc_created",
        ),
        (
            "object.doc_created.user.extra",
            "invalid format for object subscription : doc_created, user, extra",
        ),
        (
            "call.CHANNEL_CREATE.",
            "invalid format for call subscription : CHANNEL_CREATE, ",
        ),
        (
            "fax.bogus.x",
            "invalid format for fax subscription : bogus, x",
        ),
        (
            "fax.status.",
            "invalid format for fax subscription : status, ",
        ),
        ("fax.status", "invalid format for fax subscription : status"),
        (
            "fax.status.fax.1",
            "invalid format for fax subscription : status, fax, 1",
        ),
        (
            "fax.object.doc_moved",
            "invalid format for fax subscription : object, doc_moved",
        ),
        ("conference.command.*", "ConferenceId required"),
        ("conference.event.*.*", "ConferenceId required"),
        (
            "conference.event.conf1.*.explode",
            "Unsupported conference event explode",
        ),
        (
            "conference.event.conf1",
            "invalid format for conference subscription : event, conf1",
        ),
        (
            "conference.whatever.conf1",
            "invalid format for conference subscription : whatever, conf1",
        ),
        (
            "presence.update.*",
            "no available subscriptions to requested binding",
        ),
        ("*", "no available subscriptions to requested binding"),
        ("", "no available subscriptions to requested binding"),
    ];
    for (i, (binding, text)) in cases.into_iter().enumerate() {
        let id = format!("b{i}");
        let reply = client
            .request(json!({"action": "subscribe", "request_id": id,
                            "data": {"account_id": PARENT, "binding": binding}}))
            .await;
        assert_error_reply(&reply, &id, text);
    }
    assert_eq!(node.list(PARENT).await[0]["bindings"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_errors_verbatim() {
    let node = TestNode::start().await;
    let mut child = node.connect_as(CHILD).await;
    let reply = child
        .request(json!({"action": "subscribe", "request_id": "a1",
                        "data": {"account_id": PARENT, "binding": "call.*.*"}}))
        .await;
    assert_error_reply(&reply, "a1", "unauthorized account id");
    let reply = child
        .request(json!({"action": "unsubscribe", "request_id": "a2",
                        "data": {"account_id": OTHER, "binding": "call.*.*"}}))
        .await;
    assert_error_reply(&reply, "a2", "unauthorized account id");
    let reply = child
        .request(json!({"action": "subscribe", "request_id": "a3",
                        "data": {"account_id": "*", "binding": "call.*.*"}}))
        .await;
    assert_error_reply(&reply, "a3", "unauthorized wildcard account id");

    let mut parent = node.connect_as(PARENT).await;
    let reply = parent
        .request(json!({"action": "subscribe", "request_id": "a4",
                        "data": {"account_id": "*", "binding": "object.*.*"}}))
        .await;
    assert_error_reply(&reply, "a4", "unauthorized wildcard account id");
    let reply = parent
        .request(json!({"action": "subscribe", "request_id": "a5",
                        "data": {"account_id": OTHER, "bindings": ["fax.status.*"]}}))
        .await;
    assert_error_reply(&reply, "a5", "unauthorized account id");
}

// ---- limits ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_names_the_client_address() {
    let node = TestNode::start_with(|s| {
        s.rate_limit_burst = 3;
        s.rate_limit_per_second = 1;
    })
    .await;
    let mut client = node.connect().await;
    let expected = format!(
        "rate limiting threshold hit for 127.0.0.1:{}!",
        client.local_addr().port()
    );
    let token = node.token(PARENT);

    // The burst first: all three succeed (the bucket starts full). Then a flood, sent without
    // waiting: at one token a second, most of it must be refused (unless 20 s went by).
    for i in 0..3 {
        client
            .send_json(
                &json!({"action": "ping", "auth_token": token, "request_id": format!("ok{i}")}),
            )
            .await;
    }
    let flood = 20;
    for i in 0..flood {
        client
            .send_json(&json!({"action": "subscribe", "request_id": format!("f{i}"),
                               "data": {"account_id": PARENT, "binding": format!("fax.status.f{i}")}}))
            .await;
    }
    for i in 0..3 {
        let reply = client.recv_json().await;
        assert_eq!(
            success_data(&reply, &format!("ok{i}")),
            json!({"response": "pong"})
        );
    }
    let mut limited = Vec::new();
    let mut admitted = Vec::new();
    for i in 0..flood {
        let id = format!("f{i}");
        let reply = client.recv_json().await;
        assert_eq!(reply["request_id"], id, "{reply}");
        if reply["status"] == "error" {
            assert_error_reply(&reply, &id, &expected);
            limited.push(format!("fax.status.f{i}"));
        } else {
            success_data(&reply, &id);
            admitted.push(format!("fax.status.f{i}"));
        }
    }
    assert!(
        limited.len() >= flood / 2,
        "only {} of {flood} refused",
        limited.len()
    );
    // A refused frame changed nothing: only the admitted subscriptions are held.
    let socket = &node.list(PARENT).await[0];
    assert_eq!(socket["bindings"], json!(admitted));

    // Rate limiting comes before authentication: an unauthenticated socket is told it is too fast.
    let mut fresh = node.connect().await;
    let expected = format!(
        "rate limiting threshold hit for 127.0.0.1:{}!",
        fresh.local_addr().port()
    );
    for i in 0..flood {
        fresh
            .send_json(&json!({"action": "ping", "request_id": format!("u{i}")}))
            .await;
    }
    let mut refused = 0;
    for i in 0..flood {
        let id = format!("u{i}");
        let reply = fresh.recv_json().await;
        let text = reply["data"]["errors"][0].as_str().unwrap_or_default();
        if text == expected {
            refused += 1;
        } else {
            assert_error_reply(&reply, &id, "authentication token required");
        }
    }
    assert!(refused >= flood / 2, "only {refused} of {flood} refused");

    // Other sockets have buckets of their own.
    let mut other = node.connect_as(OTHER).await;
    other.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_limit_per_socket() {
    let node = TestNode::start_with(|s| s.max_bindings_per_socket = 2).await;
    let mut client = node.connect_as(PARENT).await;

    // Three new bindings at once: refused whole.
    let reply = client
        .request(json!({"action": "subscribe", "request_id": "l1",
                        "data": {"account_id": PARENT,
                                 "bindings": ["call.*.*", "fax.status.*", "object.*.user"]}}))
        .await;
    assert_error_reply(&reply, "l1", "binding limit reached");
    assert_eq!(node.list(PARENT).await[0]["bindings"], json!([]));

    assert_eq!(
        client
            .subscribe_ok(PARENT, &["call.*.*", "fax.status.*"])
            .await,
        ["call.*.*", "fax.status.*"]
    );
    let reply = client
        .request(json!({"action": "subscribe", "request_id": "l2",
                        "data": {"account_id": PARENT, "binding": "object.*.user"}}))
        .await;
    assert_error_reply(&reply, "l2", "binding limit reached");
    // Re-subscribing what is held adds nothing, so it is not over the limit.
    assert_eq!(
        client.subscribe_ok(PARENT, &["fax.status.*"]).await,
        ["call.*.*", "fax.status.*"]
    );
    // The limit counts per (account, binding): the child's copy is a third binding.
    let reply = client
        .request(json!({"action": "subscribe", "request_id": "l3",
                        "data": {"account_id": CHILD, "binding": "call.*.*"}}))
        .await;
    assert_error_reply(&reply, "l3", "binding limit reached");
    // Room again after an unsubscribe.
    let reply = client
        .request(json!({"action": "unsubscribe", "request_id": "l4",
                        "data": {"account_id": PARENT, "binding": "call.*.*"}}))
        .await;
    success_data(&reply, "l4");
    assert_eq!(
        client.subscribe_ok(PARENT, &["object.*.user"]).await,
        ["fax.status.*", "object.*.user"]
    );
    // Another socket has a limit of its own.
    let mut other = node.connect_as(PARENT).await;
    assert_eq!(
        other
            .subscribe_ok(PARENT, &["call.*.*", "fax.status.*"])
            .await,
        ["call.*.*", "fax.status.*"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_per_account() {
    let node = TestNode::start_with(|s| s.max_connections_per_account = 1).await;
    let token = node.token(PARENT);
    let mut first = node.connect_as(PARENT).await;

    let mut second = node.connect().await;
    let reply = second
        .request(
            json!({"action": "subscribe", "auth_token": token, "request_id": "c1",
                        "data": {"account_id": PARENT, "binding": "call.*.*"}}),
        )
        .await;
    assert_error_reply(&reply, "c1", "connection limit reached for account");
    // It stays unauthenticated.
    let reply = second
        .request(json!({"action": "ping", "request_id": "c2"}))
        .await;
    assert_error_reply(&reply, "c2", "authentication token required");
    let reply = second
        .request(json!({"action": "ping", "auth_token": token, "request_id": "c3"}))
        .await;
    assert_error_reply(&reply, "c3", "connection limit reached for account");
    assert_eq!(node.list(PARENT).await.len(), 1);

    // The limit is per account: the child and an unrelated account are not affected, even
    // through a socket that failed for the parent.
    let mut child = node.connect_as(CHILD).await;
    child.sync().await;
    let reply = second
        .request(json!({"action": "ping", "auth_token": node.token(OTHER), "request_id": "c4"}))
        .await;
    assert_eq!(success_data(&reply, "c4"), json!({"response": "pong"}));

    // When the first goes, its place is free again.
    first.sync().await;
    first.close().await;
    let mut third = node.connect().await;
    let deadline = std::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let reply = third
            .request(json!({"action": "ping", "auth_token": token, "request_id": "c5"}))
            .await;
        if reply["status"] == "success" {
            break;
        }
        assert_error_reply(&reply, "c5", "connection limit reached for account");
        assert!(
            std::time::Instant::now() < deadline,
            "the closed socket never freed its place"
        );
        // Slower than the rate limit's refill, so the retries themselves are never refused.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(node.list(PARENT).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_ip_over_the_limit_get_429_before_the_upgrade() {
    // SPEC 7 (beyond this suite's sections, but cheap to check at the edge).
    let node = TestNode::start_with(|s| s.max_connections_per_ip = 2).await;
    let mut first = node.connect_as(PARENT).await;
    let _second = node.connect().await;
    let stream = tokio::net::TcpStream::connect(node.ws_addr).await.unwrap();
    let refused = tokio_tungstenite::client_async(format!("ws://{}/", node.ws_addr), stream).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("expected HTTP 429, got {:?}", other.map(|_| "a websocket")),
    }
    first.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_lists_what_is_still_held_after_an_unsubscribe() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(PARENT, &["call.*.*", "fax.status.*"])
        .await;
    client.subscribe_ok(CHILD, &["call.*.*"]).await;
    // The parent's `call.*.*` goes; the child's, newer than `fax.status.*`, stays.
    let reply = client
        .request(json!({"action": "unsubscribe", "request_id": "u",
                        "data": {"account_id": PARENT, "binding": "call.*.*"}}))
        .await;
    assert_eq!(
        success_data(&reply, "u"),
        json!({"unsubscribed": ["call.*.*"], "subscribed": ["fax.status.*", "call.*.*"]})
    );
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    client.sync().await;
    node.publish_ok(&call_event(CHILD, "CHANNEL_CREATE", "c1"))
        .await;
    let event = client.recv_event().await;
    assert_eq!(event["subscription_key"], format!("call.{CHILD}.*.*"));
    client.sync().await;
    assert_eq!(
        node.list(PARENT).await[0]["bindings"],
        json!(["fax.status.*", "call.*.*"])
    );
}
