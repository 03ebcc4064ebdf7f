//! Cluster mode (SPEC 8) against a real RabbitMQ: several nodes on one machine, each test in a
//! vhost of its own. Delivery across nodes once each, KAZOO's own publishers and queries, the
//! REST union, broker bindings that follow subscriptions, a broker cut through a proxy of the
//! test's own, and a node killed outright.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::spawn_blocking;

use common::broker::{TcpProxy, TestVhost, bound_consumer, publish_raw};
use common::*;
use switchyard::config::BusSetting;

/// A node of the cluster in `vhost`, named `name`.
async fn node_on(url: url::Url, name: &str) -> TestNode {
    let name = name.to_string();
    TestNode::start_with(move |settings| {
        settings.bus = BusSetting::Amqp(url);
        settings.node_name = name;
    })
    .await
}

async fn vhost() -> TestVhost {
    spawn_blocking(TestVhost::create).await.expect("vhost")
}

/// The value of a metric of `node`, 0 when absent.
async fn gauge(node: &TestNode, name: &str) -> f64 {
    metric(&node.metrics_text().await, name).unwrap_or(0.0)
}

/// Waits until `node` is connected and knows `peers` other nodes.
async fn until_clustered(node: &TestNode, peers: usize) {
    node.eventually(
        &format!("connected, knowing {peers} other nodes"),
        || async {
            gauge(node, "switchyard_bus_connected").await == 1.0
                && gauge(node, "switchyard_bus_known_nodes").await == peers as f64
        },
    )
    .await;
}

/// Waits until `node`'s queue holds `n` bindings on the event exchanges.
async fn until_bound(node: &TestNode, n: usize) {
    node.eventually(&format!("{n} broker bindings"), || async {
        gauge(node, "switchyard_bus_bindings").await == n as f64
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_nodes_subscribers_once() {
    let vhost = vhost().await;
    let one = node_on(vhost.amqp_url(), "one").await;
    let two = node_on(vhost.amqp_url(), "two").await;
    until_clustered(&one, 1).await;
    until_clustered(&two, 1).await;
    let mut here = one.connect_as(PARENT).await;
    let mut there = two.connect_as(PARENT).await;
    here.subscribe_ok(PARENT, &["call.CHANNEL_CREATE.*"]).await;
    there.subscribe_ok(PARENT, &["call.CHANNEL_CREATE.*"]).await;
    until_bound(&one, 1).await;
    until_bound(&two, 1).await;

    assert_eq!(
        one.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "first"))
            .await,
        1
    );
    assert_eq!(
        two.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "second"))
            .await,
        1
    );
    for client in [&mut here, &mut there] {
        // Each event once, in order: a duplicate of the first would come before the second.
        let events = client.recv_events(2).await;
        assert_eq!(events[0]["data"]["call_id"], "first");
        assert_eq!(events[1]["data"]["call_id"], "second");
        assert_event(
            &events[0],
            "call.CHANNEL_CREATE.*",
            &format!("call.{PARENT}.CHANNEL_CREATE.*"),
            "CHANNEL_CREATE",
            &format!("call.{PARENT}.CHANNEL_CREATE.first"),
        );
    }
    // Another account's call goes through the same broker binding and reaches nobody here.
    one.publish_ok(&call_event(OTHER, "CHANNEL_CREATE", "elsewhere"))
        .await;
    one.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "third"))
        .await;
    for client in [&mut here, &mut there] {
        assert_eq!(client.recv_event().await["data"]["call_id"], "third");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kazoo_publishers_message_arrives_normalised_and_bad_ones_are_counted() {
    let vhost = vhost().await;
    let node = node_on(vhost.amqp_url(), "one").await;
    until_clustered(&node, 0).await;
    let mut client = node.connect_as(PARENT).await;
    client
        .subscribe_ok(PARENT, &["call.CHANNEL_ANSWER.*"])
        .await;
    until_bound(&node, 1).await;
    let url = vhost.amqp_url();

    // As KAZOO's ecallmgr publishes it: its routing key, its headers, an id that needs encoding.
    let call_id = "c@kazoo.local";
    let kazoo = json!({
        "Event-Name": "CHANNEL_ANSWER", "Event-Category": "call_event", "Call-ID": call_id,
        "Server-ID": "ecallmgr@fs1", "Node": "ecallmgr@fs1", "Msg-ID": "m1",
        "Custom-Channel-Vars": {"Account-ID": PARENT, "Owner-ID": null},
        "Caller-ID-Name": "Alice", "App-Name": "ecallmgr", "App-Version": "4.3.0"
    });
    let key = format!("call.CHANNEL_ANSWER.{}", enc(call_id));
    let body = kazoo.to_string();
    publish_raw(
        &url,
        "callevt",
        &key,
        body.as_bytes(),
        Some("application/json"),
    )
    .await;
    let event = client.recv_event().await;
    assert_eq!(
        event["routing_key"],
        format!("call.{PARENT}.CHANNEL_ANSWER.{}", enc(call_id))
    );
    assert_eq!(
        event["data"],
        json!({"event_name": "CHANNEL_ANSWER", "event_category": "call_event",
               "call_id": call_id, "msg_id": "m1",
               "custom_channel_vars": {"account_id": PARENT},
               "caller_id_name": "Alice", "app_name": "ecallmgr", "app_version": "4.3.0"})
    );

    // Not JSON, then JSON without an Event-Name: both dropped and counted; the consumer goes on.
    publish_raw(&url, "callevt", &key, b"\x00not json", None).await;
    publish_raw(
        &url,
        "callevt",
        &key,
        br#"{"Call-ID":"x"}"#,
        Some("application/json"),
    )
    .await;
    let next = json!({"Event-Name": "CHANNEL_ANSWER", "Call-ID": "next",
                      "Custom-Channel-Vars": {"Account-ID": PARENT}});
    publish_raw(
        &url,
        "callevt",
        "call.CHANNEL_ANSWER.next",
        next.to_string().as_bytes(),
        Some("application/json"),
    )
    .await;
    assert_eq!(client.recv_event().await["data"]["call_id"], "next");
    let text = node.metrics_text().await;
    let dropped = |reason: &str| {
        metric(
            &text,
            &format!("switchyard_bus_messages_dropped_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(dropped("not_json"), Some(1.0), "{text}");
    assert_eq!(dropped("unroutable"), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, "switchyard_bus_messages_consumed_total"),
        Some(4.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lists_finds_and_kicks_across_nodes() {
    let vhost = vhost().await;
    let one = node_on(vhost.amqp_url(), "one").await;
    let two = node_on(vhost.amqp_url(), "two").await;
    until_clustered(&one, 1).await;
    until_clustered(&two, 1).await;
    // Connect order alternates between the nodes, a second apart so timestamps tell it.
    let mut clients = Vec::new();
    for at in 0..4 {
        let node = if at % 2 == 0 { &one } else { &two };
        clients.push(node.connect_as(PARENT).await);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let _other_account = two.connect_as(OTHER).await;
    let ids_one = one.list_ids(PARENT).await;
    let ids_two = two.list_ids(PARENT).await;
    assert_eq!(ids_one.len(), 4, "{ids_one:?}");
    assert_eq!(ids_one, ids_two, "every node lists the same union");
    let listed = one.list(PARENT).await;
    let destinations: Vec<_> = listed.iter().map(|s| s["destination"].clone()).collect();
    assert_eq!(destinations, ["one", "two", "one", "two"]);

    // Pagination over the union, from either node.
    let mut paged = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let query = match &start {
            None => "?page_size=3".to_string(),
            Some(key) => format!("?page_size=3&start_key={key}"),
        };
        let resp = two
            .get(
                &format!("/v2/accounts/{PARENT}/websockets{query}"),
                Some(&token(PARENT)),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        paged.extend(
            resp.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(socket_id_of),
        );
        match resp.body["next_start_key"].as_str() {
            Some(next) => start = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, ids_one);

    // A socket on node two, looked up and kicked through node one.
    let remote = &ids_one[1];
    let path = format!("/v2/accounts/{PARENT}/websockets/{remote}");
    let found = one.get(&path, Some(&token(PARENT))).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["data"]["destination"], "two");
    // Scoped: the socket is not OTHER's.
    let foreign = one
        .get(
            &format!("/v2/accounts/{OTHER}/websockets/{remote}"),
            Some(&token(OTHER)),
        )
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
    let kicked = one.delete(&path, Some(&token(PARENT))).await;
    assert_eq!(kicked.status, 200, "{}", kicked.text);
    assert_eq!(kicked.body["data"]["websocket_session_id"], *remote);
    assert_eq!(clients[1].expect_close().await, 4000);
    one.eventually("the kicked socket leaves the union", || async {
        !one.list_ids(PARENT).await.contains(remote)
    })
    .await;
    let gone = one.get(&path, Some(&token(PARENT))).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_bindings_follow_subscriptions() {
    let vhost = vhost().await;
    let node = node_on(vhost.amqp_url(), "one").await;
    until_clustered(&node, 0).await;
    let event_bindings = |vhost: &TestVhost| {
        let mut found: Vec<(String, String)> = vhost
            .bindings()
            .into_iter()
            .filter(|(source, _, _)| {
                ["callevt", "configuration", "faxes", "conference"].contains(&source.as_str())
            })
            .map(|(source, _, key)| (source, key))
            .collect();
        found.sort();
        found
    };
    let mut first = node.connect_as(PARENT).await;
    let mut second = node.connect_as(OTHER).await;
    first
        .subscribe_ok(PARENT, &["call.CHANNEL_CREATE.*", "object.doc_edited.user"])
        .await;
    second.subscribe_ok(OTHER, &["call.CHANNEL_CREATE.*"]).await;
    until_bound(&node, 2).await;
    let vhost = spawn_blocking(move || {
        let held = event_bindings(&vhost);
        assert_eq!(
            held,
            [
                ("callevt".to_string(), "call.CHANNEL_CREATE.*".to_string()),
                (
                    "configuration".to_string(),
                    format!("doc_edited.{}.user.*", adb(PARENT))
                ),
            ]
        );
        vhost
    })
    .await
    .unwrap();

    // The call binding is shared: it stays until its last subscriber goes.
    let reply = first
        .request(json!({"action": "unsubscribe", "request_id": "u",
                        "data": {"account_id": PARENT, "binding": "call.CHANNEL_CREATE.*"}}))
        .await;
    success_data(&reply, "u");
    first.close().await;
    until_bound(&node, 1).await;
    let vhost = spawn_blocking(move || {
        assert_eq!(
            event_bindings(&vhost),
            [("callevt".to_string(), "call.CHANNEL_CREATE.*".to_string())]
        );
        vhost
    })
    .await
    .unwrap();
    second.close().await;
    until_bound(&node, 0).await;
    spawn_blocking(move || assert_eq!(event_bindings(&vhost), []))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_survive_a_broker_cut_and_events_resume_after_it() {
    let vhost = vhost().await;
    let proxy = TcpProxy::start(common::broker::BROKER.parse().unwrap()).await;
    let node = node_on(vhost.amqp_url_via(proxy.addr()), "one").await;
    until_clustered(&node, 0).await;
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    until_bound(&node, 1).await;
    assert_eq!(node.get("/readyz", None).await.status, 200);

    proxy.cut();
    node.eventually("/readyz says 503", || async {
        node.get("/readyz", None).await.status == 503
    })
    .await;
    client.sync().await;
    let refused = node
        .publish(&call_event(PARENT, "CHANNEL_CREATE", "lost"))
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    // REST still answers this node's own sockets, and says the answer may lack others'.
    let list = node
        .get(
            &format!("/v2/accounts/{PARENT}/websockets"),
            Some(&token(PARENT)),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["partial"], true, "{}", list.text);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);

    proxy.restore();
    node.eventually("/readyz says 200 again", || async {
        node.get("/readyz", None).await.status == 200
    })
    .await;
    until_bound(&node, 1).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "after"))
        .await;
    assert_eq!(client.recv_event().await["data"]["call_id"], "after");
    client.sync().await;
    assert!(gauge(&node, "switchyard_bus_reconnects_total").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_the_broker_is_away_waits_for_it() {
    let vhost = vhost().await;
    let proxy = TcpProxy::start(common::broker::BROKER.parse().unwrap()).await;
    proxy.cut();
    let node = node_on(vhost.amqp_url_via(proxy.addr()), "one").await;
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    assert_eq!(node.get("/readyz", None).await.status, 503);
    assert_eq!(node.get("/healthz", None).await.status, 200);
    proxy.restore();
    until_clustered(&node, 0).await;
    until_bound(&node, 1).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "late"))
        .await;
    assert_eq!(client.recv_event().await["data"]["call_id"], "late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_forgotten_and_lists_never_wait_long() {
    let vhost = vhost().await;
    let one = node_on(vhost.amqp_url(), "one").await;
    let _local = one.connect_as(PARENT).await;

    // The other node is a separate process, so that it can die for real.
    let dir = tempfile::tempdir().unwrap();
    let (secret_file, accounts_file) = write_auth_files(dir.path());
    let ws_port = free_port();
    let mut victim = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "serve",
            "--node-name",
            "victim",
            "--bus",
            vhost.amqp_url().as_str(),
        ])
        .arg("--ws-listen")
        .arg(format!("127.0.0.1:{ws_port}"))
        .args(["--http-listen", "127.0.0.1:0"])
        .arg("--secret-file")
        .arg(&secret_file)
        .arg("--accounts-file")
        .arg(&accounts_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start a node process");
    until_clustered(&one, 1).await;
    let ws_addr = format!("127.0.0.1:{ws_port}").parse().unwrap();
    let mut remote = Client::connect(ws_addr).await;
    remote.authenticate(&token(PARENT)).await;
    one.eventually("the union holds both sockets", || async {
        one.list_ids(PARENT).await.len() == 2
    })
    .await;

    victim.start_kill().expect("SIGKILL");
    victim.wait().await.expect("the victim exits");
    let killed = Instant::now();
    loop {
        let asked = Instant::now();
        let resp = one
            .get(
                &format!("/v2/accounts/{PARENT}/websockets"),
                Some(&token(PARENT)),
            )
            .await;
        let took = asked.elapsed();
        assert_eq!(resp.status, 200, "{}", resp.text);
        // The asker waits 1.5 s at most for a node that does not answer; the rest is slack
        // for a busy machine.
        assert!(took < Duration::from_secs(3), "a list took {took:?}");
        let listed = resp.body["data"].as_array().unwrap().len();
        if listed == 1 && gauge(&one, "switchyard_bus_known_nodes").await == 0.0 {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the dead node is still known after {:?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kazoo_crossbar_query_is_answered_on_targeted() {
    use futures_util::StreamExt;

    let vhost = vhost().await;
    let node = node_on(vhost.amqp_url(), "one").await;
    until_clustered(&node, 0).await;
    let _socket = node.connect_as(PARENT).await;

    // A crossbar's own reply queue, bound on `targeted` under its name.
    let connection = lapin::Connection::connect(
        vhost.amqp_url().as_str(),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let (queue, mut replies) = bound_consumer(&channel, "targeted", None).await;
    let request = json!({"Msg-ID": "crossbar-1", "Account-ID": PARENT,
        "Auth-Account-ID": PARENT, "Event-Category": "websockets", "Event-Name": "get_req",
        "App-Name": "crossbar", "App-Version": "4.3.0", "Server-ID": queue});
    publish_raw(
        &vhost.amqp_url(),
        "sysconf",
        "websockets.get",
        request.to_string().as_bytes(),
        Some("application/json"),
    )
    .await;
    let delivery = tokio::time::timeout(RECV_TIMEOUT, replies.next())
        .await
        .expect("a reply in time")
        .expect("a delivery")
        .expect("no error");
    let reply: Value = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(reply["Msg-ID"], "crossbar-1");
    assert_eq!(reply["Event-Category"], "websockets");
    assert_eq!(reply["Event-Name"], "get_resp");
    assert_eq!(reply["App-Name"], "switchyard");
    let data = reply["Data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["destination"], "one");
    let _ = connection.close(200, "done".into()).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Churn (issue 11), at a small scale: waves of sockets open, subscribe and leave, half of them
/// cleanly and half by dropping the connection. After every wave the node holds no socket,
/// binding, route or queued byte, and the broker holds only the bindings the node started
/// with. (The same at full scale, with memory: the load generator's `churn` scenario,
/// `benches/baseline.sh churn-1k`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_of_churn_leave_the_node_and_the_broker_as_they_were() {
    const WAVES: usize = 4;
    const SOCKETS: usize = 60;
    let accounts = [PARENT, CHILD, OTHER];
    let bindings: [&[&str]; 3] = [
        &["call.CHANNEL_CREATE.*"],
        &["object.doc_edited.user", "fax.status.*"],
        &["call.*.*", "conference.event.conf1.*"],
    ];
    let sorted_bindings = |vhost: TestVhost| {
        let mut held = vhost.bindings();
        held.sort();
        (vhost, held)
    };
    let vhost = vhost().await;
    let node = node_on(vhost.amqp_url(), "one").await;
    until_clustered(&node, 0).await;
    let (mut vhost, baseline) = spawn_blocking(move || sorted_bindings(vhost))
        .await
        .unwrap();

    for wave in 0..WAVES {
        let mut clients = Vec::new();
        for i in 0..SOCKETS {
            let account = accounts[i % accounts.len()];
            let mut client = node.connect_as(account).await;
            client
                .subscribe_ok(account, bindings[i % bindings.len()])
                .await;
            clients.push(client);
        }
        assert!(
            gauge(&node, "switchyard_bus_bindings").await > 0.0,
            "wave {wave}"
        );
        for (i, client) in clients.into_iter().enumerate() {
            if i % 2 == 0 {
                client.close().await;
            } else {
                client.drop_abruptly();
            }
        }
        node.assert_clean().await;
        until_bound(&node, 0).await;
        let (back, held) = spawn_blocking(move || sorted_bindings(vhost))
            .await
            .unwrap();
        vhost = back;
        assert_eq!(held, baseline, "the broker's bindings after wave {wave}");
    }
}

/// `docs/grafana-dashboard.json` reads only what a node serves, and reads all of it: every
/// metric its queries name is a sample of a cluster node's `/metrics`, and every family of
/// that `/metrics` is in some query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_reads_every_metric_and_only_those() {
    let vhost = vhost().await;
    let node = node_on(vhost.amqp_url(), "one").await;
    until_clustered(&node, 0).await;
    let mut socket = node.connect_as(PARENT).await;
    socket
        .subscribe_ok(PARENT, &["call.CHANNEL_CREATE.*"])
        .await;
    until_bound(&node, 1).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    socket.recv_event().await;
    node.metrics_text().await;
    let text = node.metrics_text().await;

    let samples: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert!(families.len() > 30, "{text}");

    let dashboard: Value =
        serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).unwrap();
    let queries: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().unwrap())
        .collect();
    let read: Vec<&str> = queries
        .iter()
        .flat_map(|query| query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| word.starts_with("switchyard_") || word.starts_with("process_"))
        .collect();
    for name in &read {
        // The allocator's figures come from the binary's jemalloc, not in a test's node.
        let jemalloc_only = name.starts_with("switchyard_heap_");
        assert!(
            jemalloc_only || samples.contains(name),
            "the dashboard reads {name}: not in {text}"
        );
    }
    for family in families {
        assert!(
            read.iter().any(|name| of_family(name, family)),
            "no panel reads {family}"
        );
    }
    switchyard::readme::check_block(METRICS_BEGIN, METRICS_END, &metrics_table(&text)).unwrap();
}

const METRICS_BEGIN: &str =
    "<!-- metrics: generated from a cluster node's /metrics by tests/cluster.rs -->";
const METRICS_END: &str = "<!-- metrics: end -->";

/// Whether the sample name `name` is of `family` (a counter's `_total`, a histogram's parts).
fn of_family(name: &str, family: &str) -> bool {
    name.strip_prefix(family)
        .is_some_and(|suffix| ["", "_total", "_bucket", "_sum", "_count"].contains(&suffix))
}

/// A README table of every family in an exposition: its sample name and labels, type and help.
fn metrics_table(text: &str) -> String {
    let mut table = "| metric | type | meaning |\n|---|---|---|\n".to_string();
    let mut help = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').map_or("", |(_, help)| help);
        }
        let Some((family, kind)) = line.strip_prefix("# TYPE ").and_then(|t| t.split_once(' '))
        else {
            continue;
        };
        let labels: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|sample| !sample.starts_with('#'))
            .filter_map(|sample| sample.split_once('{'))
            .filter(|(name, _)| of_family(name, family))
            .filter_map(|(_, labels)| labels.split_once('}'))
            .flat_map(|(labels, _)| labels.split(','))
            .filter_map(|label| label.split_once('=').map(|(key, _)| key))
            .filter(|key| *key != "le")
            .collect();
        let suffix = if kind == "counter" { "_total" } else { "" };
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.into_iter().collect::<Vec<_>>().join(", "))
        };
        table += &format!("| `{family}{suffix}{labels}` | {kind} | {help} |\n");
    }
    table
}
