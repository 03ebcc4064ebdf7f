//! SPEC 2 on the wire: who may act on whom. A parent acts on its child, never the other way;
//! unrelated accounts see nothing of each other; only the superduper account publishes or
//! subscribes to every account at once.

mod common;

use common::*;
use serde_json::{Value, json};

/// Every binding family, for one account.
const ALL_FAMILIES: [&str; 7] = [
    "call.*.*",
    "object.*.*",
    "fax.status.*",
    "fax.object.*",
    "conference.event.conf1.*",
    "conference.event.conf1.*.add-member",
    "conference.command.conf1",
];

/// One event of each family for `account`.
fn events_of(account: &str) -> Vec<Value> {
    vec![
        call_event(account, "CHANNEL_CREATE", "c1"),
        call_event(account, "PARK_PARKED", "c2"),
        object_event("doc_created", &adb(account), "user", "u1"),
        object_event("doc_edited", &modb(account, &current_month()), "fax", "f1"),
        object_event(
            "doc_deleted",
            &modb(account, "201501"),
            "mailbox_message",
            "m1",
        ),
        fax_status_event(account, "f1"),
        conference_event("add-member", account, "conf1", "c1"),
        conference_command("conf1", Some(account)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_never_receives_another_accounts_events() {
    let node = TestNode::start().await;
    let mut parent = node.connect_as(PARENT).await;
    parent.subscribe_ok(PARENT, &ALL_FAMILIES).await;
    let mut other = node.connect_as(OTHER).await;
    other.subscribe_ok(OTHER, &ALL_FAMILIES).await;
    let mut child = node.connect_as(CHILD).await;
    child.subscribe_ok(CHILD, &ALL_FAMILIES).await;

    // The parent's events: the parent gets every one (the MODB fax one twice: object.*.* and
    // fax.object.*; the conference add-member twice: the 2-word and the 4-word form).
    let events = events_of(PARENT);
    assert_eq!(
        node.publish_ok(&Value::Array(events.clone())).await,
        events.len() as u64
    );
    let received = parent.recv_events(10).await;
    for event in &received {
        let key = event["routing_key"].as_str().unwrap();
        assert!(
            key.contains(PARENT) || key.contains(&adb(PARENT)) || key == "conference.command.conf1",
            "{event}"
        );
    }
    parent.sync().await;
    // Nobody else gets anything: not the unrelated account, not the child.
    other.sync().await;
    child.sync().await;

    // And the other way round.
    node.publish_ok(&Value::Array(events_of(OTHER))).await;
    assert_eq!(other.recv_events(10).await.len(), 10);
    other.sync().await;
    parent.sync().await;
    child.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_token_gets_403_and_cannot_kick() {
    let node = TestNode::start().await;
    let mut parent = node.connect_as(PARENT).await;
    parent.subscribe_ok(PARENT, &["call.*.*"]).await;
    let id = node.list_ids(PARENT).await[0].clone();
    let one = format!("/v2/accounts/{PARENT}/websockets/{id}");
    for account in [OTHER, CHILD, STRANGER] {
        let token = node.token(account);
        node.get(&format!("/v2/accounts/{PARENT}/websockets"), Some(&token))
            .await
            .assert_error(403);
        node.get(&one, Some(&token)).await.assert_error(403);
        node.delete(&one, Some(&token)).await.assert_error(403);
        // Through its own account, the parent's socket does not exist.
        let own = format!("/v2/accounts/{account}/websockets/{id}");
        node.get(&own, Some(&token)).await.assert_error(404);
        node.delete(&own, Some(&token)).await.assert_error(404);
        let list = node
            .get(&format!("/v2/accounts/{account}/websockets"), Some(&token))
            .await;
        assert_eq!(list.status, 200);
        assert!(!list.text.contains(&id), "{}", list.text);
    }
    // The parent's socket never noticed.
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    parent.recv_event().await;
    parent.sync().await;
    assert_eq!(node.list_ids(PARENT).await, [id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_subscribes_to_and_lists_its_childs_sockets() {
    let node = TestNode::start().await;
    let mut parent = node.connect_as(PARENT).await;
    assert_eq!(
        parent.subscribe_ok(CHILD, &ALL_FAMILIES).await,
        ALL_FAMILIES
    );
    let mut child = node.connect_as(CHILD).await;
    child.subscribe_ok(CHILD, &["call.*.*"]).await;

    // The child's events reach the parent's socket, keyed on the child's account.
    node.publish_ok(&call_event(CHILD, "CHANNEL_ANSWER", "c9"))
        .await;
    let event = parent.recv_event().await;
    assert_event(
        &event,
        "call.*.*",
        &format!("call.{CHILD}.*.*"),
        "CHANNEL_ANSWER",
        &format!("call.{CHILD}.CHANNEL_ANSWER.c9"),
    );
    child.recv_event().await;
    node.publish_ok(&object_event("doc_created", &adb(CHILD), "device", "d1"))
        .await;
    let event = parent.recv_event().await;
    assert_eq!(event["subscription_key"], format!("*.{}.*.*", adb(CHILD)));
    // A conference command of the child's account reaches the parent subscribed for the child.
    node.publish_ok(&conference_command("conf1", Some(CHILD)))
        .await;
    parent.recv_event().await;
    // But not one of the parent's own account: the subscription is the child's.
    node.publish_ok(&conference_command("conf1", Some(PARENT)))
        .await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_ANSWER", "c9"))
        .await;
    parent.sync().await;
    child.sync().await;

    // The parent lists the child's sockets (those that authenticated as the child) …
    let resp = node
        .get(
            &format!("/v2/accounts/{CHILD}/websockets"),
            Some(&node.token(PARENT)),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let list = resp.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", resp.text);
    assert_eq!(list[0]["bindings"], json!(["call.*.*"]));
    let child_id = socket_id_of(&list[0]);
    let resp = node
        .get(
            &format!("/v2/accounts/{CHILD}/websockets/{child_id}"),
            Some(&node.token(PARENT)),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    // … and its own socket, subscribed for the child, is listed as its own.
    let own = node.list(PARENT).await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["bindings"], json!(ALL_FAMILIES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_may_not_act_on_its_parent() {
    let node = TestNode::start().await;
    let mut parent = node.connect_as(PARENT).await;
    parent.sync().await;
    let id = node.list_ids(PARENT).await[0].clone();

    let mut child = node.connect_as(CHILD).await;
    for binding in ALL_FAMILIES {
        let reply = child
            .request(json!({"action": "subscribe", "request_id": "c",
                            "data": {"account_id": PARENT, "binding": binding}}))
            .await;
        assert_error_reply(&reply, "c", "unauthorized account id");
    }
    let token = node.token(CHILD);
    node.get(&format!("/v2/accounts/{PARENT}/websockets"), Some(&token))
        .await
        .assert_error(403);
    node.get(
        &format!("/v2/accounts/{PARENT}/websockets/{id}"),
        Some(&token),
    )
    .await
    .assert_error(403);
    node.delete(
        &format!("/v2/accounts/{PARENT}/websockets/{id}"),
        Some(&token),
    )
    .await
    .assert_error(403);
    parent.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_superduper_account_may_publish() {
    let node = TestNode::start().await;
    let mut master = node.connect_as(MASTER).await;
    master.subscribe_ok("*", &["call.*.*"]).await;
    let body = call_event(PARENT, "CHANNEL_CREATE", "c1").to_string();
    for account in [PARENT, CHILD, OTHER, STRANGER] {
        node.publish_raw(&body, Some(&node.token(account)))
            .await
            .assert_error(403);
        // 403 before 400: a bad body from a non-superduper is still a 403.
        node.publish_raw("not json", Some(&node.token(account)))
            .await
            .assert_error(403);
    }
    node.publish_raw(&body, None).await.assert_error(401);
    // Nothing refused was delivered.
    master.sync().await;
    let resp = node.publish_raw(&body, Some(&node.token(MASTER))).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    master.recv_event().await;
    master.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_superduper_account_may_use_the_wildcard_account() {
    let node = TestNode::start().await;
    for account in [PARENT, CHILD, OTHER, STRANGER] {
        let mut client = node.connect_as(account).await;
        for binding in ALL_FAMILIES {
            let reply = client
                .request(json!({"action": "subscribe", "request_id": "w",
                                "data": {"account_id": "*", "binding": binding}}))
                .await;
            assert_error_reply(&reply, "w", "unauthorized wildcard account id");
        }
    }
    let mut master = node.connect_as(MASTER).await;
    assert_eq!(master.subscribe_ok("*", &ALL_FAMILIES).await, ALL_FAMILIES);
    // The superduper account may act on any one account too, REST included.
    master.subscribe_ok(OTHER, &["call.*.*"]).await;
    for account in [PARENT, CHILD, OTHER, STRANGER] {
        let resp = node
            .get(
                &format!("/v2/accounts/{account}/websockets"),
                Some(&node.token(MASTER)),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
}
