//! `switchyard loadgen`, the real binary, against a real node on ephemeral ports: each scenario
//! briefly with small numbers, asserting that the figures it reports are the right counts, and
//! that a run that cannot be made ends at once with the reason and a non-zero status. Also
//! subscribers spread over two nodes, and publishing through the real RabbitMQ at
//! 127.0.0.1:5672 (guest/guest), in a vhost of the test's own.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::process::Command;

use common::broker::{TestVhost, bound_consumer};
use common::{MASTER, OTHER, TestNode, token};
use switchyard::config::BusSetting;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// A run here takes a few seconds; this only catches a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
    report: Option<Value>,
}

impl Outcome {
    fn report(&self) -> &Value {
        assert_eq!(
            self.status, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.report.as_ref().expect("a JSON report")
    }
}

/// Runs `switchyard loadgen` against `node` with its secret and directory, and `args`.
async fn loadgen(node: &TestNode, args: &[&str]) -> Outcome {
    let output = node.dir().join(format!("report-{}.json", rand_suffix()));
    let ws_url = format!("ws://{}/", node.ws_addr);
    let http_url = format!("http://{}", node.http_addr);
    run(
        node.dir(),
        &[
            &["--ws-url", &ws_url, "--http-url", &http_url][..],
            &["--secret-file", node.secret_file().to_str().unwrap()],
            &["--accounts-file", node.accounts_file().to_str().unwrap()],
            &["--output", output.to_str().unwrap(), "--quiet"],
            args,
        ]
        .concat(),
        &output,
    )
    .await
}

async fn run(dir: &Path, args: &[&str], output: &Path) -> Outcome {
    let child = Command::new(BIN)
        .arg("loadgen")
        .args(args)
        .current_dir(dir)
        .env_remove("SWITCHYARD_LOADGEN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn switchyard loadgen");
    let finished = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .expect("loadgen ends on its own")
        .expect("loadgen output");
    let report = std::fs::read(output)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    Outcome {
        status: finished.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        report,
    }
}

fn rand_suffix() -> u64 {
    rand::random()
}

fn n(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a count"))
}

#[tokio::test]
async fn fanout_counts_every_delivery_of_every_account() {
    let node = TestNode::start().await;
    let outcome = loadgen(
        &node,
        &[
            "--scenario",
            "fanout",
            "-n",
            "12",
            "--accounts",
            "3",
            "--binding",
            "call.*.*",
            "--binding",
            "object.*.user",
            "--rate",
            "200",
            "--batch",
            "6",
            "--duration",
            "1s",
        ],
    )
    .await;
    let report = outcome.report();
    assert!(outcome.stdout.contains("lost 0"), "{}", outcome.stdout);
    let connections = &report["connections"];
    assert_eq!(n(&connections["connected"]), 12);
    assert_eq!(n(&connections["subscribed"]), 12);
    assert_eq!(n(&connections["failed"]), 0);
    assert_eq!(n(&connections["held_by_node"]), 12);
    let events = &report["events"];
    let published = n(&events["published"]);
    assert!(
        published > 0 && published.is_multiple_of(6),
        "whole batches: {events}"
    );
    // 3 accounts in turn, 4 subscribers each: every event is owed to 4 sockets.
    assert_eq!(n(&events["expected"]), 4 * published);
    assert_eq!(n(&events["received"]), 4 * published);
    assert_eq!(n(&events["deliveries"]), 4 * published);
    assert_eq!(n(&events["lost"]), 0);
    assert_eq!(n(&events["duplicates"]), 0);
    assert_eq!(n(&events["extra"]), 0);
    assert_eq!(n(&report["latency_us"]["count"]), 4 * published);
    assert!(n(&report["latency_us"]["p50"]) <= n(&report["latency_us"]["max"]));
    assert_eq!(report["complete"], true);
    assert_eq!(report["settings"]["bindings"][1], "object.*.user");
    assert_eq!(
        report["settings"]["tokens"],
        format!("minted from {}", node.secret_file().display())
    );
    // The node agrees: it queued exactly what the clients counted.
    let deliveries = common::metric(&node.metrics_text().await, "switchyard_deliveries_total");
    assert_eq!(deliveries, Some((4 * published) as f64));
    node.assert_clean().await;
}

#[tokio::test]
async fn an_event_matching_two_bindings_of_a_socket_is_counted_once_as_received() {
    let node = TestNode::start().await;
    // Events published for call.CHANNEL_ANSWER.* match call.*.* too; those published for
    // call.*.* are CHANNEL_CREATE, which only call.*.* matches.
    let outcome = loadgen(
        &node,
        &[
            "-n",
            "5",
            "--binding",
            "call.*.*",
            "--binding",
            "call.CHANNEL_ANSWER.*",
            "--rate",
            "100",
            "--batch",
            "4",
            "--duration",
            "1s",
        ],
    )
    .await;
    let events = &outcome.report()["events"];
    let published = n(&events["published"]);
    assert_eq!(n(&events["received"]), 5 * published);
    assert_eq!(n(&events["lost"]), 0);
    // Half the events are published for call.CHANNEL_ANSWER.* and reach the socket once more.
    assert_eq!(n(&events["extra"]), 5 * published / 2);
    assert_eq!(n(&events["deliveries"]), 5 * published + 5 * published / 2);
}

#[tokio::test]
async fn clients_in_worker_processes_add_up() {
    let node = TestNode::start().await;
    let outcome = loadgen(
        &node,
        &[
            "-n",
            "9",
            "--workers",
            "2",
            "--accounts",
            "2",
            "--rate",
            "50",
            "--batch",
            "5",
            "--duration",
            "1s",
        ],
    )
    .await;
    let report = outcome.report();
    assert_eq!(report["settings"]["workers"], 2);
    assert!(
        outcome.stdout.contains("2 worker processes"),
        "{}",
        outcome.stdout
    );
    assert_eq!(n(&report["connections"]["connected"]), 9);
    let events = &report["events"];
    let published = n(&events["published"]);
    // Account 0 has 5 subscribers, account 1 has 4; events alternate between them.
    let (first, second) = (published.div_ceil(2), published / 2);
    assert_eq!(n(&events["expected"]), 5 * first + 4 * second);
    assert_eq!(n(&events["received"]), 5 * first + 4 * second);
    assert_eq!(n(&events["lost"]), 0);
    node.assert_clean().await;
}

#[tokio::test]
async fn connect_spreads_over_source_addresses_past_the_per_ip_limit() {
    let node = TestNode::start_with(|s| s.max_connections_per_ip = 10).await;
    let report = loadgen(
        &node,
        &[
            "--scenario",
            "connect",
            "-n",
            "40",
            "--sockets-per-address",
            "10",
        ],
    )
    .await;
    let report = report.report();
    assert_eq!(report["settings"]["source_addresses"], 4);
    assert_eq!(n(&report["connections"]["connected"]), 40);
    assert_eq!(n(&report["connections"]["held_by_node"]), 40);
    assert!(report["events"].is_null() && report["latency_us"].is_null());
    node.assert_clean().await;

    // From one address the node's limit turns the rest away, and the run says so. (A node of its
    // own: the last run's sockets give their address's slots back a moment after they close.)
    let node = TestNode::start_with(|s| s.max_connections_per_ip = 10).await;
    let refused = loadgen(
        &node,
        &[
            "--scenario",
            "connect",
            "-n",
            "14",
            "--sockets-per-address",
            "0",
        ],
    )
    .await;
    assert_eq!(refused.status, 3, "{}\n{}", refused.stdout, refused.stderr);
    let report = refused.report.expect("a report all the same");
    assert_eq!(n(&report["connections"]["connected"]), 10);
    assert_eq!(
        n(&report["connections"]["failed"]),
        4,
        "{}",
        report["connections"]
    );
    assert_eq!(
        n(&report["connections"]["failures"]["handshake: HTTP 429 Too Many Requests"]),
        4,
        "{}",
        report["connections"]
    );
    assert_eq!(report["complete"], false);
    assert!(refused.stdout.contains("PROBLEM"), "{}", refused.stdout);
}

#[tokio::test]
async fn idle_reads_the_nodes_memory_from_proc() {
    let node = TestNode::start().await;
    // The node runs inside this test process.
    let pid = std::process::id().to_string();
    let outcome = loadgen(
        &node,
        &[
            "--scenario",
            "idle",
            "-n",
            "10",
            "--duration",
            "500ms",
            "--node-pid",
            &pid,
        ],
    )
    .await;
    let report = outcome.report();
    assert_eq!(n(&report["connections"]["subscribed"]), 10);
    let memory = &report["memory"];
    assert_eq!(n(&memory["sockets"]), 10);
    assert!(n(&memory["node_rss_held_bytes"]) > 0);
    assert_eq!(
        report["node"]["held"]["metrics"]["switchyard_bindings"],
        10.0
    );
    let before = &report["node"]["before"];
    assert!(before["metrics"]["process_resident_memory_bytes"].is_number());
    assert!(before["metrics"]["process_cpu_seconds_total"].is_number());
    // With --node-pid, /proc answers for both. (Not "more than 0 s of CPU": run alone, this test
    // process may not have used a whole clock tick yet.)
    assert!(n(&before["rss_bytes"]) > 0);
    assert!(before["cpu_seconds"].as_f64().unwrap() >= 0.0);
    assert!(report["cpu"]["node_s"].is_number());
    node.assert_clean().await;
}

#[tokio::test]
async fn churn_comes_back_to_the_baseline() {
    let node = TestNode::start().await;
    let outcome = loadgen(
        &node,
        &[
            "--scenario",
            "churn",
            "-n",
            "4",
            "--hold",
            "200ms",
            "--duration",
            "1500ms",
            "--settle",
            "0s",
            "--rate",
            "40",
            "--batch",
            "2",
        ],
    )
    .await;
    let report = outcome.report();
    let churn = &report["churn"];
    // Each slot completes several cycles (a cycle is at least its 200ms hold).
    assert!(n(&churn["cycles"]) >= 4, "{churn}");
    assert_eq!(churn["sockets_back"], true);
    assert_eq!(n(&churn["connections_after"]), 0);
    assert_eq!(n(&report["connections"]["failed"]), 0);
    assert!(n(&report["connections"]["connected"]) >= n(&churn["cycles"]));
    node.assert_clean().await;
}

/// Asserts that every REST query kind was asked and answered right; the figures of each.
fn assert_every_query_answered(report: &Value) -> Vec<&Value> {
    let rest = &report["rest"];
    ["list", "page", "socket"]
        .iter()
        .map(|kind| {
            let figures = &rest["queries"][kind];
            assert!(n(&figures["requests"]) > 0, "{kind}: {rest}");
            // A whole list short of one socket, a page past its end or another socket's answer
            // would each be a failure by reason.
            assert_eq!(n(&figures["failed"]), 0, "{kind}: {rest}");
            assert_eq!(figures["failures"], serde_json::json!({}));
            let latency = &figures["latency_us"];
            assert_eq!(n(&latency["count"]), n(&figures["requests"]));
            assert!(n(&latency["p50"]) <= n(&latency["p99"]));
            assert!(n(&latency["p99"]) <= n(&latency["max"]));
            figures
        })
        .collect()
}

#[tokio::test]
async fn rest_asks_every_kind_of_query_and_every_answer_counts_the_runs_sockets() {
    let node = TestNode::start().await;
    let outcome = loadgen(
        &node,
        &[
            "--scenario",
            "rest",
            "-n",
            "30",
            "--accounts",
            "2",
            "--duration",
            "1s",
            "--rest-concurrency",
            "3",
        ],
    )
    .await;
    let report = outcome.report();
    assert_eq!(n(&report["connections"]["subscribed"]), 30);
    assert_eq!(
        report["settings"]["rest_queries"],
        serde_json::json!(["list", "page", "socket"])
    );
    assert_eq!(report["rest"]["concurrency"], 3);
    assert_every_query_answered(report);
    // Without --rate the scenario publishes nothing.
    assert_eq!(report["settings"]["rate"], 0.0);
    assert!(report["events"].is_null() && report["latency_us"].is_null());
    assert_eq!(report["complete"], true);
    for kind in ["rest list", "rest page", "rest socket"] {
        assert!(outcome.stdout.contains(kind), "{}", outcome.stdout);
    }
    node.assert_clean().await;
}

#[tokio::test]
async fn rest_with_a_rate_reports_the_fan_out_as_fanout_does() {
    let node = TestNode::start().await;
    let outcome = loadgen(
        &node,
        &[
            "--scenario",
            "rest",
            "-n",
            "30",
            "--accounts",
            "2",
            "--duration",
            "1s",
            "--rate",
            "20",
            "--batch",
            "1",
        ],
    )
    .await;
    let report = outcome.report();
    assert_every_query_answered(report);
    let events = &report["events"];
    let published = n(&events["published"]);
    assert!(published > 0, "{events}");
    // Two accounts of 15 subscribers: every event is owed to 15 sockets.
    assert_eq!(n(&events["expected"]), 15 * published);
    assert_eq!(n(&events["received"]), 15 * published);
    assert_eq!(n(&events["lost"]), 0);
    assert_eq!(n(&report["latency_us"]["count"]), 15 * published);
    assert!(outcome.stdout.contains("lost 0"), "{}", outcome.stdout);
    assert_eq!(report["complete"], true);
    node.assert_clean().await;
}

fn assert_fails(outcome: &Outcome, status: i32, message: &str) {
    assert_eq!(
        outcome.status, status,
        "stdout: {}\nstderr: {}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome.stderr.contains(message),
        "expected {message:?} in: {}",
        outcome.stderr
    );
    assert_eq!(
        outcome.stderr.lines().count(),
        1,
        "one line: {}",
        outcome.stderr
    );
}

#[tokio::test]
async fn an_unreachable_node_is_named() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("r.json");
    let ws_url = format!("ws://127.0.0.1:{port}/");
    let args = ["--ws-url", &ws_url, "--token", &token(MASTER), "--quiet"];
    let outcome = run(
        dir.path(),
        &[&args[..], &["--output", output.to_str().unwrap()]].concat(),
        &output,
    )
    .await;
    assert_fails(
        &outcome,
        1,
        &format!("cannot reach the node's websocket port at 127.0.0.1:{port}"),
    );
    assert!(!output.exists(), "no report of a run that did not happen");
}

#[tokio::test]
async fn a_bad_token_and_a_refused_binding_end_the_run_with_the_nodes_reason() {
    let node = TestNode::start().await;
    let forged = common::foreign_token(OTHER);
    let outcome = loadgen(&node, &["-n", "3", "--token", &forged]).await;
    assert_fails(
        &outcome,
        1,
        "the node refused the subscription: failed to authenticate token",
    );
    assert!(!outcome.stderr.contains(&forged), "never echoes the token");

    let outcome = loadgen(&node, &["-n", "3", "--binding", "call.NOT_AN_EVENT.*"]).await;
    assert_fails(&outcome, 1, "event NOT_AN_EVENT not supported");

    // OTHER may subscribe to itself but not publish.
    let outcome = loadgen(&node, &["-n", "3", "--token", &token(OTHER)]).await;
    assert_fails(&outcome, 1, "publishing refused");
    node.assert_clean().await;
}

#[tokio::test]
async fn a_refusal_in_the_middle_of_the_setup_ends_the_run_too() {
    let node = TestNode::start_with(|s| s.max_connections_per_account = 5).await;
    // The first test client passes; the sixth socket of the account is refused.
    let outcome = loadgen(&node, &["--scenario", "idle", "-n", "8"]).await;
    assert_fails(
        &outcome,
        1,
        "the node refused the subscription: connection limit reached for account",
    );
    node.assert_clean().await;
}

/// The first node's directory (secret, accounts) and every node's URLs: two `TestNode`s share
/// their secret and account directory, so minted tokens work on both.
async fn loadgen_on_nodes(nodes: &[&TestNode], http_of_each: bool, args: &[&str]) -> Outcome {
    let first = nodes[0];
    let output = first.dir().join(format!("report-{}.json", rand_suffix()));
    let mut urls = Vec::new();
    for node in nodes {
        urls.push("--ws-url".to_string());
        urls.push(format!("ws://{}/", node.ws_addr));
    }
    for node in if http_of_each { nodes } else { &nodes[..1] } {
        urls.push("--http-url".to_string());
        urls.push(format!("http://{}", node.http_addr));
    }
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    run(
        first.dir(),
        &[
            &urls[..],
            &["--secret-file", first.secret_file().to_str().unwrap()],
            &["--accounts-file", first.accounts_file().to_str().unwrap()],
            &["--output", output.to_str().unwrap(), "--quiet"],
            args,
        ]
        .concat(),
        &output,
    )
    .await
}

/// With the embedded bus, an event published to one node reaches that node's subscribers only:
/// two nodes here can show the spread of subscribers and each node's count, not a fan-out.
#[tokio::test]
async fn ws_url_repeated_spreads_subscribers_over_the_nodes() {
    let one = TestNode::start().await;
    let two = TestNode::start().await;
    let idle = [
        "--scenario",
        "idle",
        "-n",
        "12",
        "--accounts",
        "2",
        "--duration",
        "300ms",
    ];
    let outcome = loadgen_on_nodes(&[&one, &two], true, &idle).await;
    let report = outcome.report();
    let connections = &report["connections"];
    assert_eq!(n(&connections["subscribed"]), 12);
    // Summed over both nodes' /metrics …
    assert_eq!(n(&connections["held_by_node"]), 12, "{connections}");
    // … and each node's share: clients take the nodes a round of accounts at a time (clients 0
    // and 1 on the first node, 2 and 3 on the second, …): half the sockets each.
    let per_node = connections["per_node"].as_array().expect("per_node");
    assert_eq!(per_node.len(), 2);
    for (node, share) in [&one, &two].iter().zip(per_node) {
        assert_eq!(share["ws_url"], format!("ws://{}/", node.ws_addr));
        assert_eq!(n(&share["open"]), 6, "{share}");
        assert_eq!(n(&share["held_by_node"]), 6, "{share}");
    }
    let held = &report["node"]["held"];
    assert_eq!(held["metrics"]["switchyard_connections"], 12.0);
    assert_eq!(held["nodes"][0]["metrics"]["switchyard_connections"], 6.0);
    assert_eq!(held["nodes"][1]["metrics"]["switchyard_connections"], 6.0);
    assert_eq!(report["settings"]["ws_urls"].as_array().unwrap().len(), 2);
    assert_eq!(report["settings"]["publish_via"], "rest");
    assert!(
        outcome.stdout.contains("figures summed over every node")
            && outcome
                .stdout
                .contains("per node 6 (node held 6) + 6 (node held 6)"),
        "{}",
        outcome.stdout
    );
    one.assert_clean().await;
    two.assert_clean().await;

    // --http-url once: the node figures are the first node's only, and the report says so.
    let outcome = loadgen_on_nodes(&[&one, &two], false, &idle).await;
    let report = outcome.report();
    let connections = &report["connections"];
    assert_eq!(n(&connections["subscribed"]), 12);
    assert_eq!(n(&connections["held_by_node"]), 6, "{connections}");
    let per_node = connections["per_node"].as_array().expect("per_node");
    assert_eq!(n(&per_node[0]["held_by_node"]), 6);
    assert!(per_node[1]["held_by_node"].is_null());
    assert_eq!(n(&per_node[1]["open"]), 6);
    assert!(report["node"]["held"].get("nodes").is_none());
    assert!(
        outcome.stdout.contains("figures of the first node only"),
        "{}",
        outcome.stdout
    );
    one.assert_clean().await;
    two.assert_clean().await;
}

// ---- RabbitMQ ---------------------------------------------------------------------------------
/// `rabbitmqctl args`, which must succeed; its standard output.
fn rabbitmqctl(args: &[&str]) -> String {
    let output = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The run publishes through RabbitMQ as KAZOO does, and a plain AMQP consumer sees it: each
/// event on its exchange with KAZOO's incoming routing key (no account in callevt's), the JSON
/// payload as the body, content type application/json. The node, in cluster mode on the same
/// vhost, delivers every event to its subscribers: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_via_amqp_uses_kazoos_exchanges_routing_keys_and_json_bodies() {
    use lapin::options::ExchangeDeclareOptions;
    use lapin::types::FieldTable;
    use lapin::{Connection, ConnectionProperties, ExchangeKind};

    let vhost = tokio::task::spawn_blocking(TestVhost::create)
        .await
        .unwrap();
    let connection =
        Connection::connect(vhost.amqp_url().as_str(), ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ at 127.0.0.1:5672");
    let channel = connection.create_channel().await.unwrap();
    // callevt exists already, declared otherwise than KAZOO does (durable): the load generator
    // must take it as it is. faxes and configuration it declares itself.
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            "callevt".into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (_, mut consumer) = bound_consumer(&channel, "callevt", Some("call.#")).await;

    let url = vhost.amqp_url();
    let node = TestNode::start_with(|settings| settings.bus = BusSetting::Amqp(url)).await;
    let via = vhost.amqp_url().to_string();
    let outcome = loadgen(
        &node,
        &[
            "--scenario",
            "fanout",
            "-n",
            "2",
            "--binding",
            "call.*.*",
            "--binding",
            "fax.status.*",
            "--binding",
            "object.*.user",
            "--rate",
            "60",
            "--batch",
            "6",
            "--duration",
            "1s",
            "--drain-timeout",
            "0s",
            "--publish-via",
            &via,
        ],
    )
    .await;
    let report = outcome.report.as_ref().expect("a report");
    assert_eq!(
        report["settings"]["publish_via"],
        format!("amqp://guest:***@127.0.0.1:5672/{}", vhost.name())
    );
    assert!(
        !outcome.stdout.contains("guest:guest"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("via RabbitMQ amqp://guest:***@"),
        "{}",
        outcome.stdout
    );
    let events = &report["events"];
    let published = n(&events["published"]);
    assert!(published > 0 && published.is_multiple_of(6), "{events}");
    assert_eq!(n(&events["failed"]), 0, "{events}");
    assert_eq!(n(&events["batches"]) * 6, published);
    assert_eq!(n(&events["expected"]), 2 * published);
    let problems = report["problems"].as_array().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    outcome.report();

    // Every third event (seq 0, 3, 6, …) is a call event: each one arrives, once, as KAZOO
    // publishes it.
    let account = report["settings"]["first_account"]
        .as_str()
        .unwrap()
        .to_string();
    let owed: Vec<u64> = (0..published).filter(|seq| seq % 3 == 0).collect();
    let mut seen = Vec::new();
    while seen.len() < owed.len() {
        let delivery = tokio::time::timeout(Duration::from_secs(15), consumer.next())
            .await
            .expect("every published call event arrives")
            .expect("the consumer goes on")
            .expect("a delivery");
        assert_eq!(delivery.exchange.as_str(), "callevt");
        assert_eq!(
            delivery
                .properties
                .content_type()
                .as_ref()
                .map(|t| t.as_str()),
            Some("application/json")
        );
        let body: Value = serde_json::from_slice(&delivery.data).expect("a JSON body");
        assert!(body.get("payload").is_none(), "the payload alone: {body}");
        let seq = n(&body["Loadgen-Seq"]);
        assert_eq!(
            delivery.routing_key.as_str(),
            format!("call.CHANNEL_CREATE.loadgen-{seq}"),
            "KAZOO's incoming key, without the account"
        );
        assert_eq!(body["Event-Name"], "CHANNEL_CREATE");
        assert_eq!(body["Call-ID"], format!("loadgen-{seq}"));
        assert_eq!(body["Custom-Channel-Vars"]["Account-ID"], account.as_str());
        assert!(body["Loadgen-Sent-Us"].is_u64());
        seen.push(seq);
    }
    seen.sort_unstable();
    assert_eq!(seen, owed);

    // The exchanges it had to declare, it declared as KAZOO does: topic, not durable, not
    // auto-deleted; the one that existed is as it was.
    let listed = rabbitmqctl(&[
        "list_exchanges",
        "-q",
        "-p",
        vhost.name(),
        "name",
        "type",
        "durable",
        "auto_delete",
    ]);
    let exchanges: Vec<Vec<&str>> = listed
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    for (name, durable) in [
        ("callevt", "true"),
        ("faxes", "false"),
        ("configuration", "false"),
    ] {
        assert!(
            exchanges.contains(&vec![name, "topic", durable, "false"]),
            "{name}: {listed}"
        );
    }
    let _ = connection.close(200, "OK".into()).await;
    node.assert_clean().await;
}

#[tokio::test]
async fn publish_via_an_unusable_broker_ends_the_run_with_the_reason() {
    let node = TestNode::start().await;
    // A vhost that does not exist: the broker refuses the connection.
    let via = format!(
        "amqp://guest:guest@127.0.0.1:5672/no-such-vhost-{:x}",
        rand_suffix()
    );
    let outcome = loadgen(&node, &["-n", "2", "--publish-via", &via]).await;
    assert_fails(
        &outcome,
        1,
        "cannot publish through RabbitMQ at amqp://guest:***@",
    );
    assert!(
        !outcome.stderr.contains("guest:guest"),
        "{}",
        outcome.stderr
    );
    node.assert_clean().await;
}

#[tokio::test]
async fn bad_flags_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (args, message) in [
        (
            &["--duration", "soon"][..],
            "--duration: \"soon\" is not a duration",
        ),
        (&["--sockets", "0"], "--sockets: must be at least 1"),
        (
            &["--scenario", "rest", "--rest-concurrency", "0"],
            "--rest-concurrency: must be at least 1",
        ),
        (
            &["--payload-bytes", "2000000"],
            "--payload-bytes: at most 1048576",
        ),
        (
            &["--sockets", "3", "--accounts", "4"],
            "--accounts: more accounts than --sockets",
        ),
        (
            &["--workers", "many"],
            "--workers: \"many\" is not \"auto\" or a count",
        ),
        (
            &["--ws-url", "https://127.0.0.1:1/"],
            "--ws-url: \"https://127.0.0.1:1/\" is not a ws:// or wss:// URL",
        ),
        (
            &["--ca-file", "/no/such/ca.pem"],
            "--ca-file: /no/such/ca.pem: ",
        ),
        (
            &["--publish-via", "http://127.0.0.1:1/"],
            "--publish-via: \"http://127.0.0.1:1/\" is not \"rest\" or an amqp:// URL",
        ),
        (
            &["--publish-via", "amqps://guest:pw@127.0.0.1/"],
            "--publish-via: \"amqps://guest:***@127.0.0.1/\": amqps:// is not supported",
        ),
        (
            &[
                "--ws-url",
                "ws://127.0.0.1:1/",
                "--ws-url",
                "ws://127.0.0.1:2/",
                "--http-url",
                "http://127.0.0.1:1",
                "--http-url",
                "http://127.0.0.1:2",
                "--http-url",
                "http://127.0.0.1:3",
            ],
            "--http-url: given 3 times for 2 --ws-url",
        ),
        (
            &["--account-id", "nope"],
            "--account-id: \"nope\" is not an account id",
        ),
        (
            &["--binding", "fax.status"],
            "--binding \"fax.status\": cannot publish events for it",
        ),
        (
            &["--rate", "0"],
            "--rate: fanout publishes: must be more than 0",
        ),
        (
            &["--secret-file", "/nonexistent/secret"],
            "tokens cannot be minted: secret file",
        ),
    ] {
        // Nothing but the flag under test: every check happens before any connection.
        let output = dir.path().join("r.json");
        let args = [args, &["--output", output.to_str().unwrap(), "--quiet"]].concat();
        let outcome = run(dir.path(), &args, &output).await;
        assert_fails(&outcome, 2, message);
        assert!(!output.exists() || std::fs::read(&output).unwrap().is_empty());
    }
    // Absurdly many sockets: too many worker processes for this machine's open-file limit, or,
    // where that limit is unbounded, too many source addresses.
    let output = dir.path().join("r.json");
    let args = [
        "--sockets",
        "1000000000000",
        "--output",
        output.to_str().unwrap(),
    ];
    let outcome = run(dir.path(), &args, &output).await;
    assert_eq!(outcome.status, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("--workers: 1000000000000 sockets need")
            || outcome.stderr.contains("--sockets-per-address: needs more"),
        "{}",
        outcome.stderr
    );
}

/// wss:// and https:// nodes, trusted through --ca-file, with clients in worker processes (which
/// read the file again).
#[tokio::test]
async fn tls_nodes_are_reached_through_wss_and_https() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::mint(dir.path(), "node");
    let (cert, key) = (dir.path().join("node.crt"), dir.path().join("node.key"));
    let node = TestNode::start_with(move |s| {
        s.tls_cert_file = Some(cert);
        s.tls_key_file = Some(key);
    })
    .await;
    let output = node.dir().join("report-tls.json");
    let ws_url = format!("wss://localhost:{}/", node.ws_addr.port());
    let http_url = format!("https://localhost:{}", node.http_addr.port());
    let ca = dir.path().join("node-ca.crt");
    let args = [
        &["--ws-url", &ws_url, "--http-url", &http_url][..],
        &["--ca-file", ca.to_str().unwrap()],
        &["--secret-file", node.secret_file().to_str().unwrap()],
        &["--accounts-file", node.accounts_file().to_str().unwrap()],
        &["--output", output.to_str().unwrap(), "--quiet"],
        &["-n", "6", "--workers", "2", "--accounts", "2"],
        &["--rate", "50", "--batch", "5", "--duration", "1s"],
    ]
    .concat();
    let outcome = run(node.dir(), &args, &output).await;
    let report = outcome.report();
    assert_eq!(n(&report["connections"]["connected"]), 6);
    let events = &report["events"];
    assert!(n(&events["published"]) > 0);
    assert_eq!(n(&events["received"]), n(&events["expected"]));
    assert_eq!(n(&events["lost"]), 0);

    // Without the authority the node's certificate is not trusted: the run says so and stops.
    let untrusted = [
        &["--ws-url", &ws_url, "--http-url", &http_url][..],
        &["--secret-file", node.secret_file().to_str().unwrap()],
        &["--accounts-file", node.accounts_file().to_str().unwrap()],
        &["--output", output.to_str().unwrap(), "--quiet", "-n", "1"],
    ]
    .concat();
    let refused = run(node.dir(), &untrusted, &output).await;
    assert_ne!(refused.status, 0);
    assert!(
        refused.stderr.contains("certificate") || refused.stdout.contains("certificate"),
        "stdout: {}\nstderr: {}",
        refused.stdout,
        refused.stderr
    );
}
