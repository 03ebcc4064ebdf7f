//! SPEC 4 and 5 end to end: every binding family, published through `POST /v2/events` as the
//! superduper account and checked on receipt, frame by frame.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

/// The (subscribed_key, subscription_key) pairs of some event frames, order ignored.
fn keys_of(events: &[Value]) -> BTreeSet<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["subscribed_key"].as_str().unwrap().to_string(),
                e["subscription_key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, String)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.clone()))
        .collect()
}

// ---- call ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_event_frame_and_normalised_data() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(PARENT, &["call.CHANNEL_CREATE.*"])
        .await;

    let message = json!({
        "exchange": "callevt",
        // Not used for callevt: the payload decides.
        "routing_key": "call.CHANNEL_ANSWER.something-else",
        "payload": {
            "Event-Name": "CHANNEL_CREATE",
            "Event-Category": "call_event",
            "Call-ID": "abc@10.0.0.1",
            "Custom-Channel-Vars": {"Account-ID": PARENT, "Owner-ID": "u1", "Empty-Var": null},
            "Caller-ID-Name": "Alice Example",
            "Call-Direction": "inbound",
            "Timestamp": 63_900_000_000_u64,
            "Other-Leg-Call-ID": null,
            "Answered": false,
            "Node": "freeswitch@fs1",
            "Access-Group": "x",
            "Defer-Response": true,
            "Destination-Server": "d",
            "Geo-Location": "g",
            "System-Log-ID": "s",
            "Server-Queue-ID": "q",
            "Raw-Headers": "r",
            "Server-ID": "sid",
            "Request-From-PID": "<0.1.0>",
            "Reply-To-PID": "<0.2.0>",
            "AMQP-Broker": "amqp://broker",
            "AMQP-Broker-Zone": "local",
            "Channel-Vars": {"Node": "nested keys stay", "Mixed_Case-Key": "V-1",
                             "Deep": {"Inner-Null": null, "Inner-Key": [1, "Two", 3.5]}},
            "Legs": [{"Leg-ID": "a", "Drop-Me": null}, {"Leg-ID": "b", "Sub": {"X-Y": 1}}],
            "Tags": ["Keep-Case", "x-y"],
        }
    });
    assert_eq!(node.publish_ok(&message).await, 1);
    let event = client.recv_event().await;
    assert_eq!(
        event,
        json!({
            "action": "event",
            "subscribed_key": "call.CHANNEL_CREATE.*",
            "subscription_key": format!("call.{PARENT}.CHANNEL_CREATE.*"),
            "name": "CHANNEL_CREATE",
            "routing_key": format!("call.{PARENT}.CHANNEL_CREATE.abc%4010%2E0%2E0%2E1"),
            "data": {
                "event_name": "CHANNEL_CREATE",
                "event_category": "call_event",
                "call_id": "abc@10.0.0.1",
                "custom_channel_vars": {"account_id": PARENT, "owner_id": "u1"},
                "caller_id_name": "Alice Example",
                "call_direction": "inbound",
                "timestamp": 63_900_000_000_u64,
                "answered": false,
                "channel_vars": {"node": "nested keys stay", "mixed_case_key": "V-1",
                                 "deep": {"inner_key": [1, "Two", 3.5]}},
                "legs": [{"leg_id": "a"}, {"leg_id": "b", "sub": {"x_y": 1}}],
                "tags": ["Keep-Case", "x-y"],
            }
        })
    );
    client.sync().await;

    // Another event name of the nine does not match this binding.
    node.publish_ok(&call_event(PARENT, "CHANNEL_ANSWER", "abc"))
        .await;
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_wildcard_event_gets_each_of_the_nine() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    let nine = [
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_DESTROY",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "CHANNEL_BRIDGE",
        "PARK_PARKED",
        "PARK_RETRIEVED",
        "PARK_ABANDONED",
    ];
    for name in nine {
        node.publish_ok(&call_event(PARENT, name, "call-1")).await;
        let event = client.recv_event().await;
        assert_event(
            &event,
            "call.*.*",
            &format!("call.{PARENT}.*.*"),
            name,
            &format!("call.{PARENT}.{name}.call-1"),
        );
        assert_eq!(event["data"]["event_name"], name);
        assert_eq!(event["data"]["call_id"], "call-1");
        client.sync().await;
    }
    // Each specific event binding gets its own event only.
    let mut specific = node.connect_as(PARENT).await;
    let bindings: Vec<String> = nine.iter().map(|n| format!("call.{n}.*")).collect();
    let bindings: Vec<&str> = bindings.iter().map(String::as_str).collect();
    specific.subscribe_ok(PARENT, &bindings).await;
    for name in nine {
        node.publish_ok(&call_event(PARENT, name, "call-2")).await;
        let event = specific.recv_event().await;
        assert_event(
            &event,
            &format!("call.{name}.*"),
            &format!("call.{PARENT}.{name}.*"),
            name,
            &format!("call.{PARENT}.{name}.call-2"),
        );
        specific.sync().await;
        client.recv_event().await;
    }
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_ids_with_reserved_characters_match_encoded() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    // `#` and `*` inside an id are the id's own characters, never topic wildcards.
    let ids = [
        "x+y z@host",
        "abc@example",
        "a~b_c-d",
        "añb",
        "p%q",
        "#",
        "a*b",
    ];
    for id in ids {
        let binding = format!("call.CHANNEL_CREATE.{id}");
        let subscribed = client.subscribe_ok(PARENT, &[binding.as_str()]).await;
        assert_eq!(subscribed.last().unwrap(), &binding);
    }
    let mut any = node.connect_as(PARENT).await;
    any.subscribe_ok(PARENT, &["call.*.x+y z@host"]).await;

    for id in ids {
        node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", id))
            .await;
        let event = client.recv_event().await;
        assert_event(
            &event,
            &format!("call.CHANNEL_CREATE.{id}"),
            &format!("call.{PARENT}.CHANNEL_CREATE.{}", enc(id)),
            "CHANNEL_CREATE",
            &format!("call.{PARENT}.CHANNEL_CREATE.{}", enc(id)),
        );
        assert_eq!(event["data"]["call_id"], id);
        client.sync().await;
    }
    assert_eq!(enc("x+y z@host"), "x%2By+z%40host");
    let event = any.recv_event().await;
    assert_event(
        &event,
        "call.*.x+y z@host",
        &format!("call.{PARENT}.*.x%2By+z%40host"),
        "CHANNEL_CREATE",
        &format!("call.{PARENT}.CHANNEL_CREATE.x%2By+z%40host"),
    );
    any.sync().await;

    // Near misses: `+` is not a space, case matters, the id is whole.
    for id in [
        "x y z@host",
        "x+y+z@host",
        "ABC@example",
        "abc@example2",
        "abc",
        "a",
        "axb",
    ] {
        node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", id))
            .await;
    }
    client.sync().await;
    any.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_events_outside_the_nine_are_accepted_but_not_delivered() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    let mut master = node.connect_as(MASTER).await;
    master.subscribe_ok("*", &["call.*.*"]).await;
    let batch = json!([
        call_event(PARENT, "CHANNEL_EXECUTE", "c1"),
        call_event(PARENT, "DTMF", "c1"),
        call_event(PARENT, "CHANNEL_CREATE", "c1"),
        call_event(PARENT, "channel_create", "c1"),
    ]);
    assert_eq!(node.publish_ok(&batch).await, 4);
    let event = client.recv_event().await;
    assert_eq!(event["name"], "CHANNEL_CREATE");
    client.sync().await;
    let event = master.recv_event().await;
    assert_eq!(event["name"], "CHANNEL_CREATE");
    master.sync().await;
}

// ---- object ----

const CATALOGUE_ACTIONS: [&str; 3] = ["doc_created", "doc_edited", "doc_deleted"];
const CATALOGUE_TYPES: [&str; 10] = [
    "account",
    "callflow",
    "device",
    "faxbox",
    "media",
    "user",
    "vmbox",
    "fax",
    "mailbox_message",
    "call_recording",
];
const MODB_TYPES: [&str; 2] = ["fax", "mailbox_message"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_binding_of_the_catalogue_delivers_its_own_events() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let month = current_month();
    let bindings: Vec<String> = CATALOGUE_ACTIONS
        .iter()
        .flat_map(|a| {
            CATALOGUE_TYPES
                .iter()
                .map(move |t| format!("object.{a}.{t}"))
        })
        .collect();
    let refs: Vec<&str> = bindings.iter().map(String::as_str).collect();
    assert_eq!(client.subscribe_ok(PARENT, &refs).await, bindings);

    for action in CATALOGUE_ACTIONS {
        for doc_type in CATALOGUE_TYPES {
            let (db, subscription_key) = if MODB_TYPES.contains(&doc_type) {
                // A MODB of another month still matches; the key shows the subscription's month.
                (
                    modb(PARENT, "201501"),
                    format!("{action}.{}.{doc_type}.*", modb(PARENT, &month)),
                )
            } else {
                (
                    adb(PARENT),
                    format!("{action}.{}.{doc_type}.*", adb(PARENT)),
                )
            };
            let id = format!("{doc_type}-doc.1");
            node.publish_ok(&object_event(action, &db, doc_type, &id))
                .await;
            let event = client.recv_event().await;
            assert_event(
                &event,
                &format!("object.{action}.{doc_type}"),
                &subscription_key,
                action,
                &format!("{action}.{db}.{doc_type}.{}", enc(&id)),
            );
            assert_eq!(
                event["data"],
                json!({"event_name": action, "event_category": "configuration", "id": id,
                       "type": doc_type, "database": db})
            );
            client.sync().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_bindings_match_their_action_type_and_account_only() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(PARENT, &["object.doc_created.user"])
        .await;
    for message in [
        object_event("doc_edited", &adb(PARENT), "user", "u1"),
        object_event("doc_created", &adb(PARENT), "device", "d1"),
        object_event("doc_created", &adb(OTHER), "user", "u1"),
        object_event("doc_created", &adb(CHILD), "user", "u1"),
        // A user document in a MODB is not the ADB binding's.
        object_event("doc_created", &modb(PARENT, &current_month()), "user", "u1"),
    ] {
        assert_eq!(node.publish_ok(&message).await, 1);
    }
    client.sync().await;
    node.publish_ok(&object_event("doc_created", &adb(PARENT), "user", "u1"))
        .await;
    client.recv_event().await;
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modb_bindings_match_every_month_of_their_account() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let month = current_month();
    client
        .subscribe_ok(
            PARENT,
            &[
                "object.doc_created.fax",
                "object.doc_deleted.mailbox_message",
            ],
        )
        .await;
    for yyyymm in ["201501", month.as_str(), "203012"] {
        let db = modb(PARENT, yyyymm);
        node.publish_ok(&object_event("doc_created", &db, "fax", "f1"))
            .await;
        let event = client.recv_event().await;
        assert_event(
            &event,
            "object.doc_created.fax",
            &format!("doc_created.{}.fax.*", modb(PARENT, &month)),
            "doc_created",
            &format!("doc_created.{db}.fax.f1"),
        );
        node.publish_ok(&object_event("doc_deleted", &db, "mailbox_message", "m1"))
            .await;
        let event = client.recv_event().await;
        assert_event(
            &event,
            "object.doc_deleted.mailbox_message",
            &format!("doc_deleted.{}.mailbox_message.*", modb(PARENT, &month)),
            "doc_deleted",
            &format!("doc_deleted.{db}.mailbox_message.m1"),
        );
        client.sync().await;
    }
    // Not another account's MODB, not the account's ADB, not another action.
    for message in [
        object_event("doc_created", &modb(OTHER, "201501"), "fax", "f1"),
        object_event("doc_created", &modb(OTHER, &month), "fax", "f1"),
        object_event("doc_created", &adb(PARENT), "fax", "f1"),
        object_event("doc_edited", &modb(PARENT, &month), "fax", "f1"),
        object_event(
            "doc_created",
            &modb(PARENT, &month),
            "mailbox_message",
            "m1",
        ),
    ] {
        node.publish_ok(&message).await;
    }
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_type_wildcard_binds_both_database_forms() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let month = current_month();
    client
        .subscribe_ok(PARENT, &["object.*.*", "object.doc_edited.*"])
        .await;

    node.publish_ok(&object_event("doc_created", &adb(PARENT), "user", "u1"))
        .await;
    let event = client.recv_event().await;
    assert_event(
        &event,
        "object.*.*",
        &format!("*.{}.*.*", adb(PARENT)),
        "doc_created",
        &format!("doc_created.{}.user.u1", adb(PARENT)),
    );
    client.sync().await;

    let db = modb(PARENT, "201912");
    node.publish_ok(&object_event("doc_created", &db, "mailbox_message", "m1"))
        .await;
    let event = client.recv_event().await;
    assert_event(
        &event,
        "object.*.*",
        &format!("*.{}.*.*", modb(PARENT, &month)),
        "doc_created",
        &format!("doc_created.{db}.mailbox_message.m1"),
    );
    client.sync().await;

    // doc_edited matches both bindings: once each.
    node.publish_ok(&object_event("doc_edited", &adb(PARENT), "vmbox", "v1"))
        .await;
    let events = client.recv_events(2).await;
    assert_eq!(
        keys_of(&events),
        pairs(&[
            ("object.*.*", format!("*.{}.*.*", adb(PARENT))),
            (
                "object.doc_edited.*",
                format!("doc_edited.{}.*.*", adb(PARENT))
            ),
        ])
    );
    client.sync().await;

    node.publish_ok(&object_event("doc_edited", &adb(OTHER), "vmbox", "v1"))
        .await;
    client.sync().await;
}

// ---- fax ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fax_status_bindings() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(PARENT, &["fax.status.*", "fax.status.fax+1@x y"])
        .await;

    node.publish_ok(&fax_status_event(PARENT, "fax+1@x y"))
        .await;
    let events = client.recv_events(2).await;
    assert_eq!(
        keys_of(&events),
        pairs(&[
            ("fax.status.*", format!("fax.status.{PARENT}.*")),
            (
                "fax.status.fax+1@x y",
                format!("fax.status.{PARENT}.fax%2B1%40x+y")
            ),
        ])
    );
    for event in &events {
        assert_eq!(event["name"], "status");
        assert_eq!(
            event["routing_key"],
            format!("fax.status.{PARENT}.fax%2B1%40x+y")
        );
        assert_eq!(
            event["data"],
            json!({"event_name": "status", "event_category": "fax", "fax_id": "fax+1@x y",
                   "account_id": PARENT, "status": "Processing"})
        );
    }
    client.sync().await;

    node.publish_ok(&fax_status_event(PARENT, "other")).await;
    let event = client.recv_event().await;
    assert_event(
        &event,
        "fax.status.*",
        &format!("fax.status.{PARENT}.*"),
        "status",
        &format!("fax.status.{PARENT}.other"),
    );
    client.sync().await;

    node.publish_ok(&fax_status_event(OTHER, "fax+1@x y")).await;
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fax_object_bindings_follow_the_modb_of_every_month() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    let month = current_month();
    client
        .subscribe_ok(PARENT, &["fax.object.doc_created"])
        .await;
    let mut any = node.connect_as(PARENT).await;
    any.subscribe_ok(PARENT, &["fax.object.*"]).await;

    for yyyymm in ["201501", month.as_str()] {
        let db = modb(PARENT, yyyymm);
        node.publish_ok(&object_event("doc_created", &db, "fax", "fx1"))
            .await;
        let event = client.recv_event().await;
        assert_event(
            &event,
            "fax.object.doc_created",
            &format!("doc_created.{}.fax.*", modb(PARENT, &month)),
            "doc_created",
            &format!("doc_created.{db}.fax.fx1"),
        );
        assert_eq!(event["data"]["type"], "fax");
        let event = any.recv_event().await;
        assert_event(
            &event,
            "fax.object.*",
            &format!("*.{}.fax.*", modb(PARENT, &month)),
            "doc_created",
            &format!("doc_created.{db}.fax.fx1"),
        );
    }
    node.publish_ok(&object_event(
        "doc_deleted",
        &modb(PARENT, "201502"),
        "fax",
        "fx1",
    ))
    .await;
    let event = any.recv_event().await;
    assert_eq!(event["name"], "doc_deleted");
    client.sync().await;
    any.sync().await;

    for message in [
        object_event("doc_created", &modb(OTHER, &month), "fax", "fx1"),
        object_event(
            "doc_created",
            &modb(PARENT, &month),
            "mailbox_message",
            "m1",
        ),
        object_event("doc_created", &adb(PARENT), "faxbox", "fb1"),
    ] {
        node.publish_ok(&message).await;
    }
    client.sync().await;
    any.sync().await;
}

// ---- conference ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conference_commands_are_filtered_on_account_id() {
    let node = TestNode::start().await;
    let mut parent = node.connect_as(PARENT).await;
    parent
        .subscribe_ok(PARENT, &["conference.command.conf1"])
        .await;
    let mut child = node.connect_as(CHILD).await;
    child
        .subscribe_ok(CHILD, &["conference.command.conf1"])
        .await;

    // Account-ID of the subscriber's own account: delivered.
    node.publish_ok(&conference_command("conf1", Some(PARENT)))
        .await;
    let event = parent.recv_event().await;
    assert_event(
        &event,
        "conference.command.conf1",
        "conference.command.conf1",
        "command",
        "conference.command.conf1",
    );
    assert_eq!(
        event["data"],
        json!({"event_name": "command", "event_category": "conference",
               "conference_id": "conf1", "application_name": "play", "account_id": PARENT})
    );
    parent.sync().await;
    child.sync().await;

    // The child's: the parent may act on it, the child too.
    node.publish_ok(&conference_command("conf1", Some(CHILD)))
        .await;
    parent.recv_event().await;
    child.recv_event().await;
    parent.sync().await;
    child.sync().await;

    // An account neither may act on: nobody.
    node.publish_ok(&conference_command("conf1", Some(OTHER)))
        .await;
    parent.sync().await;
    child.sync().await;

    // No Account-ID: everybody subscribed to the conference.
    node.publish_ok(&conference_command("conf1", None)).await;
    let event = parent.recv_event().await;
    assert!(event["data"].get("account_id").is_none(), "{event}");
    child.recv_event().await;
    parent.sync().await;
    child.sync().await;

    // An Account-ID that is no account at all: nobody may act on it.
    node.publish_ok(&conference_command("conf1", Some("not-an-account")))
        .await;
    parent.sync().await;
    child.sync().await;

    // Another conference: nobody.
    node.publish_ok(&conference_command("conf2", Some(PARENT)))
        .await;
    parent.sync().await;
    child.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conference_event_two_and_four_word_forms() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(
            PARENT,
            &[
                "conference.event.conf1.*",
                "conference.event.conf1.call@x",
                "conference.event.conf1.*.mute-member",
            ],
        )
        .await;

    node.publish_ok(&conference_event("mute-member", PARENT, "conf1", "call@x"))
        .await;
    let events = client.recv_events(3).await;
    assert_eq!(
        keys_of(&events),
        pairs(&[
            (
                "conference.event.conf1.*",
                format!("conference.event.*.{PARENT}.conf1.*")
            ),
            (
                "conference.event.conf1.call@x",
                format!("conference.event.*.{PARENT}.conf1.call%40x")
            ),
            (
                "conference.event.conf1.*.mute-member",
                format!("conference.event.mute-member.{PARENT}.conf1.*")
            ),
        ])
    );
    for event in &events {
        assert_eq!(event["name"], "conference_event");
        assert_eq!(
            event["routing_key"],
            format!("conference.event.mute-member.{PARENT}.conf1.call%40x")
        );
        assert_eq!(event["data"]["event"], "mute-member");
        assert_eq!(event["data"]["call_id"], "call@x");
    }
    client.sync().await;

    node.publish_ok(&conference_event("unmute-member", PARENT, "conf1", "other"))
        .await;
    let event = client.recv_event().await;
    assert_event(
        &event,
        "conference.event.conf1.*",
        &format!("conference.event.*.{PARENT}.conf1.*"),
        "conference_event",
        &format!("conference.event.unmute-member.{PARENT}.conf1.other"),
    );
    client.sync().await;

    for message in [
        conference_event("mute-member", PARENT, "conf2", "call@x"),
        conference_event("mute-member", OTHER, "conf1", "call@x"),
        conference_event("mute-member", CHILD, "conf1", "call@x"),
    ] {
        node.publish_ok(&message).await;
    }
    client.sync().await;

    // Every event of the four-word list is accepted.
    let all = [
        "conference-create",
        "conference-destroy",
        "lock",
        "unlock",
        "add-member",
        "del-member",
        "stop-talking",
        "start-talking",
        "mute-member",
        "unmute-member",
        "deaf-member",
        "undeaf-member",
    ];
    let mut each = node.connect_as(PARENT).await;
    for ev in all {
        let binding = format!("conference.event.conf9.*.{ev}");
        each.subscribe_ok(PARENT, &[binding.as_str()]).await;
        node.publish_ok(&conference_event(ev, PARENT, "conf9", "c1"))
            .await;
        let event = each.recv_event().await;
        assert_event(
            &event,
            &binding,
            &format!("conference.event.{ev}.{PARENT}.conf9.*"),
            "conference_event",
            &format!("conference.event.{ev}.{PARENT}.conf9.c1"),
        );
        each.sync().await;
        let reply = each
            .request(json!({"action": "unsubscribe", "request_id": "u",
                            "data": {"account_id": PARENT, "binding": binding}}))
            .await;
        success_data(&reply, "u");
    }
}

// ---- several bindings, wildcard account ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_matching_several_bindings_arrives_once_per_binding() {
    let node = TestNode::start().await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(
            PARENT,
            &[
                "call.CHANNEL_CREATE.*",
                "call.*.*",
                "call.CHANNEL_CREATE.c-42",
                "call.*.c-42",
                "call.CHANNEL_ANSWER.*",
            ],
        )
        .await;
    // The same socket listening to the child too: the child's events are not the parent's.
    client.subscribe_ok(CHILD, &["call.*.*"]).await;
    let mut second = node.connect_as(PARENT).await;
    second.subscribe_ok(PARENT, &["call.*.*"]).await;

    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c-42"))
        .await;
    let events = client.recv_events(4).await;
    assert_eq!(
        keys_of(&events),
        pairs(&[
            (
                "call.CHANNEL_CREATE.*",
                format!("call.{PARENT}.CHANNEL_CREATE.*")
            ),
            ("call.*.*", format!("call.{PARENT}.*.*")),
            (
                "call.CHANNEL_CREATE.c-42",
                format!("call.{PARENT}.CHANNEL_CREATE.c-42")
            ),
            ("call.*.c-42", format!("call.{PARENT}.*.c-42")),
        ])
    );
    for event in &events {
        assert_eq!(
            event["routing_key"],
            format!("call.{PARENT}.CHANNEL_CREATE.c-42")
        );
        assert_eq!(event["data"], events[0]["data"]);
    }
    client.sync().await;
    let event = second.recv_event().await;
    assert_eq!(event["subscribed_key"], "call.*.*");
    second.sync().await;

    node.publish_ok(&call_event(CHILD, "CHANNEL_CREATE", "c-42"))
        .await;
    let event = client.recv_event().await;
    assert_event(
        &event,
        "call.*.*",
        &format!("call.{CHILD}.*.*"),
        "CHANNEL_CREATE",
        &format!("call.{CHILD}.CHANNEL_CREATE.c-42"),
    );
    client.sync().await;
    second.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superduper_wildcard_account_receives_every_account() {
    let node = TestNode::start().await;
    let mut master = node.connect_as(MASTER).await;
    let reply = master
        .request(json!({"action": "subscribe", "request_id": "w",
                        "data": {"account_id": "*",
                                 "bindings": ["call.CHANNEL_CREATE.*", "object.doc_created.user",
                                              "object.doc_created.fax", "fax.status.*",
                                              "conference.event.conf1.*"]}}))
        .await;
    assert_eq!(
        success_data(&reply, "w"),
        json!({"subscribed": ["call.CHANNEL_CREATE.*", "object.doc_created.user",
                              "object.doc_created.fax", "fax.status.*",
                              "conference.event.conf1.*"]})
    );

    for account in [PARENT, CHILD, OTHER, STRANGER, MASTER] {
        node.publish_ok(&call_event(account, "CHANNEL_CREATE", "c1"))
            .await;
        let event = master.recv_event().await;
        assert_event(
            &event,
            "call.CHANNEL_CREATE.*",
            "call.*.CHANNEL_CREATE.*",
            "CHANNEL_CREATE",
            &format!("call.{account}.CHANNEL_CREATE.c1"),
        );

        node.publish_ok(&object_event("doc_created", &adb(account), "user", "u1"))
            .await;
        let event = master.recv_event().await;
        assert_event(
            &event,
            "object.doc_created.user",
            "doc_created.*.user.*",
            "doc_created",
            &format!("doc_created.{}.user.u1", adb(account)),
        );

        node.publish_ok(&object_event(
            "doc_created",
            &modb(account, "201501"),
            "fax",
            "f1",
        ))
        .await;
        let event = master.recv_event().await;
        assert_event(
            &event,
            "object.doc_created.fax",
            "doc_created.*.fax.*",
            "doc_created",
            &format!("doc_created.{}.fax.f1", modb(account, "201501")),
        );

        node.publish_ok(&fax_status_event(account, "f1")).await;
        let event = master.recv_event().await;
        assert_event(
            &event,
            "fax.status.*",
            "fax.status.*.*",
            "status",
            &format!("fax.status.{account}.f1"),
        );

        node.publish_ok(&conference_event("lock", account, "conf1", "c1"))
            .await;
        let event = master.recv_event().await;
        assert_event(
            &event,
            "conference.event.conf1.*",
            "conference.event.*.*.conf1.*",
            "conference_event",
            &format!("conference.event.lock.{account}.conf1.c1"),
        );
        master.sync().await;
    }

    // The superduper account may also name any one account.
    let mut one = node.connect_as(MASTER).await;
    one.subscribe_ok(OTHER, &["call.*.*"]).await;
    node.publish_ok(&call_event(OTHER, "CHANNEL_ANSWER", "c1"))
        .await;
    let event = one.recv_event().await;
    assert_eq!(event["subscription_key"], format!("call.{OTHER}.*.*"));
    node.publish_ok(&call_event(PARENT, "CHANNEL_ANSWER", "c1"))
        .await;
    one.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superduper_wildcard_conference_commands_are_not_filtered() {
    let node = TestNode::start().await;
    let mut master = node.connect_as(MASTER).await;
    master
        .subscribe_ok("*", &["conference.command.conf1"])
        .await;
    for account in [Some(PARENT), Some(OTHER), None] {
        node.publish_ok(&conference_command("conf1", account)).await;
        let event = master.recv_event().await;
        assert_eq!(event["subscription_key"], "conference.command.conf1");
    }
    master.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_superduper_wildcard_account_is_refused() {
    let node = TestNode::start().await;
    for account in [PARENT, CHILD, OTHER, STRANGER] {
        let mut client = node.connect_as(account).await;
        let reply = client
            .request(json!({"action": "subscribe", "request_id": "w",
                            "data": {"account_id": "*", "binding": "call.*.*"}}))
            .await;
        assert_error_reply(&reply, "w", "unauthorized wildcard account id");
        node.publish_ok(&call_event(account, "CHANNEL_CREATE", "c1"))
            .await;
        client.sync().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_matches_events_of_its_own_family_only() {
    // SPEC 4/5: object bindings are bindings on KAZOO's `configuration` exchange, call bindings
    // on `callevt`, fax status on `faxes`. The superduper account's `object.*.*` on `*` becomes
    // `*.*.*.*`, a pattern that the routing keys of call and fax status events fit word for word;
    // it must still deliver documents only.
    let node = TestNode::start().await;
    let mut master = node.connect_as(MASTER).await;
    master.subscribe_ok("*", &["object.*.*"]).await;
    let mut object_only = node.connect_as(MASTER).await;
    object_only.subscribe_ok(PARENT, &["object.*.*"]).await;

    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    node.publish_ok(&fax_status_event(PARENT, "f1")).await;
    node.publish_ok(&conference_command("conf1", Some(PARENT)))
        .await;
    node.publish_ok(&conference_event("lock", PARENT, "conf1", "c1"))
        .await;
    master.sync().await;
    object_only.sync().await;

    node.publish_ok(&object_event("doc_created", &adb(PARENT), "user", "u1"))
        .await;
    let event = master.recv_event().await;
    assert_event(
        &event,
        "object.*.*",
        "*.*.*.*",
        "doc_created",
        &format!("doc_created.{}.user.u1", adb(PARENT)),
    );
    master.sync().await;
    object_only.recv_event().await;
    object_only.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_binding_string_for_two_accounts_is_two_bindings() {
    let node = TestNode::start().await;
    let mut master = node.connect_as(MASTER).await;
    master.subscribe_ok("*", &["call.*.*"]).await;
    assert_eq!(
        master.subscribe_ok(PARENT, &["call.*.*"]).await,
        ["call.*.*"]
    );
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    let events = master.recv_events(2).await;
    assert_eq!(
        keys_of(&events),
        pairs(&[
            ("call.*.*", "call.*.*.*".to_string()),
            ("call.*.*", format!("call.{PARENT}.*.*")),
        ])
    );
    master.sync().await;
    node.publish_ok(&call_event(OTHER, "CHANNEL_CREATE", "c1"))
        .await;
    let event = master.recv_event().await;
    assert_eq!(event["subscription_key"], "call.*.*.*");
    master.sync().await;
}
