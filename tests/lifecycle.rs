//! Sockets end, nodes stop: nothing is left behind, every socket gets its close frame, and the
//! binary starts, refuses bad settings, mints tokens and stops on SIGTERM as SPEC 1 and 7 say.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// How long a process may take to start, answer or exit.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Sockets of every kind, holding bindings (some of them sharing routes).
async fn busy_sockets(node: &TestNode) -> Vec<Client> {
    let mut parent = node.connect_as(PARENT).await;
    parent
        .subscribe_ok(
            PARENT,
            &[
                "call.*.*",
                "fax.status.*",
                "object.*.*",
                "conference.command.conf1",
            ],
        )
        .await;
    parent.subscribe_ok(CHILD, &["call.*.*"]).await;
    let mut parent2 = node.connect_as(PARENT).await;
    parent2
        .subscribe_ok(PARENT, &["call.*.*", "object.doc_created.fax"])
        .await;
    let mut child = node.connect_as(CHILD).await;
    child
        .subscribe_ok(CHILD, &["conference.event.conf1.*.lock", "fax.object.*"])
        .await;
    let mut master = node.connect_as(MASTER).await;
    master
        .subscribe_ok("*", &["call.*.*", "object.*.user"])
        .await;
    let idle = node.connect_as(OTHER).await;
    let anonymous = node.connect().await;

    let fabric = node.node().fabric();
    assert_eq!(fabric.metrics.bindings.get(), 11);
    assert!(fabric.metrics.routes.get() > 0);
    assert!(!fabric.router.is_empty());
    assert_eq!(node.list(PARENT).await.len(), 2);
    // Traffic through all of it.
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c1"))
        .await;
    parent.recv_events(1).await;
    parent2.recv_events(1).await;
    master.recv_events(1).await;
    vec![parent, parent2, child, master, idle, anonymous]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_closes_leave_nothing_behind() {
    let node = TestNode::start().await;
    let sockets = busy_sockets(&node).await;
    let fabric = node.node().fabric().clone();
    node.eventually("six connections counted", || {
        let fabric = fabric.clone();
        async move { fabric.metrics.connections.get() == 6 }
    })
    .await;
    for socket in sockets {
        socket.close().await;
    }
    node.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_leave_nothing_behind() {
    let node = TestNode::start().await;
    let mut sockets = busy_sockets(&node).await;
    let anonymous = sockets.pop().unwrap();
    let master = node.token(MASTER);
    for account in [PARENT, CHILD, MASTER, OTHER] {
        for id in node.list_ids(account).await {
            let resp = node
                .delete(
                    &format!("/v2/accounts/{account}/websockets/{id}"),
                    Some(&master),
                )
                .await;
            assert_eq!(resp.status, 200, "{}", resp.text);
        }
    }
    for mut socket in sockets {
        assert_eq!(socket.expect_close().await, 4000);
    }
    anonymous.close().await;
    node.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abrupt_tcp_drops_leave_nothing_behind() {
    let node = TestNode::start().await;
    let sockets = busy_sockets(&node).await;
    for (i, socket) in sockets.into_iter().enumerate() {
        if i % 2 == 0 {
            // A reset.
            socket.drop_abruptly();
        } else {
            // A plain FIN without any close frame.
            drop(socket);
        }
    }
    node.assert_clean().await;
    // The node is none the worse for it.
    let mut client = node.connect_as(PARENT).await;
    client.subscribe_ok(PARENT, &["call.*.*"]).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "again"))
        .await;
    let event = client.recv_event().await;
    assert_eq!(event["data"]["call_id"], "again");
    client.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_everything_releases_every_route() {
    let node = TestNode::start().await;
    let mut sockets = busy_sockets(&node).await;
    for socket in sockets.iter_mut().take(4) {
        let reply = socket
            .request(json!({"action": "unsubscribe", "request_id": "all"}))
            .await;
        assert_eq!(success_data(&reply, "all")["subscribed"], json!([]));
    }
    let fabric = node.node().fabric();
    assert_eq!(fabric.metrics.bindings.get(), 0);
    assert_eq!(fabric.metrics.routes.get(), 0);
    assert!(fabric.router.is_empty());
    assert_eq!(fabric.metrics.connections.get(), 6);
    // Subscribing again after the routes went works and delivers once.
    let parent = &mut sockets[0];
    parent.subscribe_ok(PARENT, &["call.*.*"]).await;
    node.publish_ok(&call_event(PARENT, "CHANNEL_CREATE", "c2"))
        .await;
    parent.recv_event().await;
    parent.sync().await;
    for socket in sockets {
        socket.close().await;
    }
    node.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_every_socket_with_1001() {
    let mut node = TestNode::start().await;
    let mut sockets = busy_sockets(&node).await;
    // An event queued before the shutdown still reaches its socket, ahead of the close.
    node.publish_ok(&call_event(PARENT, "CHANNEL_ANSWER", "last"))
        .await;
    let ws_addr = node.ws_addr;
    let running = node.take_node();
    running.shutdown();

    let parent = &mut sockets[0];
    let event = parent.recv_event().await;
    assert_eq!(event["data"]["call_id"], "last");
    for socket in &mut sockets {
        assert_eq!(socket.expect_close().await, 1001);
    }
    tokio::time::timeout(Duration::from_secs(60), running.stopped())
        .await
        .expect("the node stopped");
    // It no longer accepts.
    let refused = tokio::time::timeout(RECV_TIMEOUT, tokio::net::TcpStream::connect(ws_addr))
        .await
        .expect("connect answered");
    assert!(refused.is_err(), "the stopped node still accepts");
}

// ---- the binary ----

/// A `switchyard` process; killed if the test ends while it runs.
struct Process {
    child: Child,
    stderr: mpsc::UnboundedReceiver<String>,
}

impl Process {
    fn spawn(args: &[&str], envs: &[(&str, &str)], dir: &Path) -> Process {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn switchyard");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(strip_ansi(&line)).is_err() {
                    break;
                }
            }
        });
        Process { child, stderr: rx }
    }

    /// Reads stderr until the line telling where the node listens: (websockets, rest).
    async fn listening(&mut self) -> (std::net::SocketAddr, std::net::SocketAddr) {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(PROCESS_TIMEOUT, async {
            while let Some(line) = self.stderr.recv().await {
                if line.contains("listening") {
                    let field = |name: &str| {
                        line.split_whitespace()
                            .find_map(|word| word.strip_prefix(name))
                            .and_then(|addr| {
                                addr.trim_matches(|c| c == ',' || c == '"').parse().ok()
                            })
                    };
                    if let (Some(ws), Some(rest)) = (field("websockets="), field("rest=")) {
                        return Some((ws, rest));
                    }
                }
                seen.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(addrs)) => addrs,
            _ => panic!("the node never said where it listens; stderr: {seen:#?}"),
        }
    }

    /// Reads stderr until a line containing `needle`, and returns it.
    async fn line_containing(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(PROCESS_TIMEOUT, async {
            while let Some(line) = self.stderr.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("the node never logged {needle:?}"),
        }
    }

    async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(PROCESS_TIMEOUT, self.child.wait())
            .await
            .expect("the process exited in time")
            .expect("wait")
            .code()
    }

    fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY: kill(2) on the pid of our own child process.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill failed");
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `serve` on ephemeral ports, with the harness's secret and account directory written into
/// `dir`, and `extra` flags: the process, and the two files.
fn serve_with_auth(
    dir: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (Process, std::path::PathBuf, std::path::PathBuf) {
    let (secret, accounts) = write_auth_files(dir);
    let (secret_arg, accounts_arg) = (secret.to_str().unwrap(), accounts.to_str().unwrap());
    let mut args = vec![
        "serve",
        "--ws-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--secret-file",
        secret_arg,
        "--accounts-file",
        accounts_arg,
    ];
    args.extend_from_slice(extra);
    let process = Process::spawn(&args, envs, dir);
    (process, secret, accounts)
}

/// Runs `switchyard` to its end: (status, stdout, stderr).
async fn run(args: &[&str], envs: &[(&str, &str)], dir: &Path) -> (Option<i32>, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = tokio::time::timeout(PROCESS_TIMEOUT, command.output())
        .await
        .expect("the process finished in time")
        .expect("run switchyard");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts exit status 2 and exactly one line on stderr that names `key`.
fn assert_refused(outcome: &(Option<i32>, String, String), key: &str) {
    let (status, _, stderr) = outcome;
    assert_eq!(*status, Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr:?}");
    assert!(lines[0].contains(key), "{key} not named: {stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_bad_settings_with_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, accounts) = write_auth_files(dir.path());
    let secret = secret.to_str().unwrap();
    let accounts = accounts.to_str().unwrap();
    let base = [
        "serve",
        "--secret-file",
        secret,
        "--accounts-file",
        accounts,
        "--http-listen",
        "127.0.0.1:0",
    ];

    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--ws-listen", "nope"])
        .collect();
    assert_refused(&run(&args, &[], dir.path()).await, "ws_listen");

    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--ws-listen", "127.0.0.1:0"])
        .collect();
    assert_refused(
        &run(&args, &[("SWITCHYARD_MAX_FRAME_BYTES", "abc")], dir.path()).await,
        "max_frame_bytes",
    );
    assert_refused(
        &run(
            &args,
            &[("SWITCHYARD_WS_LISTEN", "300.1.1.1:5")],
            dir.path(),
        )
        .await,
        "ws_listen",
    );
    assert_refused(
        &run(
            &["serve", "--http-listen", "1.2.3.4:99999"],
            &[],
            dir.path(),
        )
        .await,
        "http_listen",
    );

    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "max_bindings_per_socket = 0\n").unwrap();
    let mut with_config = args.clone();
    with_config.extend(["--config", config.to_str().unwrap()]);
    assert_refused(
        &run(&with_config, &[], dir.path()).await,
        "max_bindings_per_socket",
    );

    // TLS: a certificate without its key, and a file that holds no certificate.
    let mut half_tls = args.clone();
    half_tls.extend(["--tls-cert", secret]);
    assert_refused(&run(&half_tls, &[], dir.path()).await, "tls_key_file");
    let mut not_pem = args.clone();
    not_pem.extend(["--tls-cert", accounts, "--tls-key", secret]);
    assert_refused(&run(&not_pem, &[], dir.path()).await, "tls_cert_file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_an_amqps_bus_before_creating_anything() {
    // TLS to the broker is not built: refused at start, not found out at the first connect.
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(
        &["serve", "--bus", "amqps://guest:guest@127.0.0.1/"],
        &[],
        dir.path(),
    )
    .await;
    assert_refused(&outcome, "bus");
    assert!(!outcome.2.contains("guest:guest"), "{}", outcome.2);
    assert!(
        !dir.path().join(".switchyard").exists(),
        "the refused node created its secret or account directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_on_sigterm_closing_clients_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, accounts) = write_auth_files(dir.path());
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "ws_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\n\
             secret_file = {:?}\naccounts_file = {:?}\nnode_name = \"switchyard@proc\"\n",
            secret.to_str().unwrap(),
            accounts.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut process = Process::spawn(
        &["serve", "--config", config.to_str().unwrap()],
        &[("SWITCHYARD_LOG", "info")],
        dir.path(),
    );
    let (ws, rest) = process.listening().await;

    // Tokens from `switchyard token` work on this node.
    let mint = |account: &'static str| {
        let dir = dir.path().to_path_buf();
        let secret = secret.clone();
        async move {
            let (status, stdout, stderr) = run(
                &[
                    "token",
                    "--account",
                    account,
                    "--secret-file",
                    secret.to_str().unwrap(),
                ],
                &[],
                &dir,
            )
            .await;
            assert_eq!(status, Some(0), "{stderr}");
            let token = stdout.trim().to_string();
            assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
            token
        }
    };
    let parent_token = mint(PARENT).await;
    let master_token = mint(MASTER).await;

    let mut client = Client::connect(ws).await;
    let reply = client
        .subscribe(Some(&parent_token), PARENT, &["call.*.*"])
        .await;
    success_data(&reply, "sub");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http
        .post(format!("http://{rest}/v2/events"))
        .header("X-Auth-Token", &master_token)
        .body(call_event(PARENT, "CHANNEL_CREATE", "proc-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let event = client.recv_event().await;
    assert_eq!(event["data"]["call_id"], "proc-1");
    let list: serde_json::Value = http
        .get(format!("http://{rest}/v2/accounts/{PARENT}/websockets"))
        .header("X-Auth-Token", &parent_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["destination"], "switchyard@proc");
    let mut anonymous = Client::connect(ws).await;

    process.signal(libc::SIGTERM);
    assert_eq!(client.expect_close().await, 1001);
    assert_eq!(anonymous.expect_close().await, 1001);
    assert_eq!(process.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_on_sigint_too() {
    let dir = tempfile::tempdir().unwrap();
    let (mut process, _, _) = serve_with_auth(dir.path(), &[], &[]);
    let (ws, _) = process.listening().await;
    let mut client = Client::connect(ws).await;
    client.authenticate(&token(OTHER)).await;
    process.signal(libc::SIGINT);
    assert_eq!(client.expect_close().await, 1001);
    assert_eq!(process.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_command_mints_what_the_node_accepts() {
    let node = TestNode::start().await;
    let secret = node.secret_file().to_str().unwrap().to_string();
    let (status, stdout, stderr) = run(
        &["token", "--account", CHILD, "--secret-file", &secret],
        &[],
        node.dir(),
    )
    .await;
    assert_eq!(status, Some(0), "{stderr}");
    let token = stdout.trim();
    assert!(!token.is_empty());
    let mut client = node.connect().await;
    client.authenticate(token).await;
    let resp = node
        .get(&format!("/v2/accounts/{CHILD}/websockets"), Some(token))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["data"].as_array().unwrap().len(), 1);

    // --ttl is honoured: a short-lived token works now.
    let (status, stdout, _) = run(
        &[
            "token",
            "--account",
            CHILD,
            "--ttl",
            "600",
            "--secret-file",
            &secret,
        ],
        &[],
        node.dir(),
    )
    .await;
    assert_eq!(status, Some(0));
    let mut client = node.connect().await;
    client.authenticate(stdout.trim()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_configuration_makes_its_files_and_logs_a_working_token_command() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    // Only the ports are given: the defaults would collide with other tests.
    let mut process = Process::spawn(
        &[
            "serve",
            "--ws-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ],
        &[],
        dir.path(),
    );
    let (ws, rest) = process.listening().await;
    let line = process.line_containing("switchyard token").await;

    let secret = dir.path().join(".switchyard/secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the secret is private");
    assert!(dir.path().join(".switchyard/accounts.json").exists());

    // Run the logged command as it stands, through a shell, as a newcomer would paste it.
    let command = line[line.find("with: ").unwrap() + "with: ".len()..].trim();
    let pasted = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&pasted.stderr);
    assert_eq!(pasted.status.code(), Some(0), "{command}: {stderr}");
    let stdout = String::from_utf8_lossy(&pasted.stdout);
    let token = stdout.trim();

    // That account is superduper: it may watch every account and publish.
    let mut client = Client::connect(ws).await;
    client.authenticate(token).await;
    client.subscribe_ok("*", &["call.*.*"]).await;
    let published = reqwest::Client::new()
        .post(format!("http://{rest}/v2/events"))
        .header("X-Auth-Token", token)
        .body(call_event(OTHER, "CHANNEL_ANSWER", "c1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(published.status().as_u16(), 200);
    let event = client.recv_event().await;
    assert_eq!(
        event["routing_key"],
        format!("call.{OTHER}.CHANNEL_ANSWER.c1")
    );

    process.signal(libc::SIGTERM);
    assert_eq!(process.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_command_refuses_a_bad_account_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = write_auth_files(dir.path());
    let secret = secret.to_str().unwrap();
    for account in ["nope", "0123456789ABCDEF0123456789ABCDEF", "*", ""] {
        let outcome = run(
            &["token", "--account", account, "--secret-file", secret],
            &[],
            dir.path(),
        )
        .await;
        let (status, stdout, stderr) = &outcome;
        assert_eq!(*status, Some(2), "{account:?}: {stderr}");
        assert!(stdout.trim().is_empty(), "{account:?}: {stdout}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{account:?}: {stderr:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_rereads_the_directory_on_sighup_and_never_logs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (mut process, secret, accounts) =
        serve_with_auth(dir.path(), &[], &[("SWITCHYARD_LOG", "debug")]);
    let (ws, rest) = process.listening().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let list_status = |account: &'static str, token: String| {
        let http = http.clone();
        async move {
            http.get(format!("http://{rest}/v2/accounts/{account}/websockets"))
                .header("X-Auth-Token", token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    let parent_token = token(PARENT);
    let other_token = token(OTHER);
    let bad_tokens = [foreign_token(PARENT), expired_token(OTHER)];
    let mut other = Client::connect(ws).await;
    other.authenticate(&other_token).await;
    for bad in &bad_tokens {
        let mut client = Client::connect(ws).await;
        let reply = client
            .request(json!({"action": "ping", "auth_token": bad, "request_id": "b"}))
            .await;
        assert_error_reply(&reply, "b", "failed to authenticate token");
        assert_eq!(list_status(OTHER, bad.clone()).await, 401);
    }
    assert_eq!(list_status(OTHER, parent_token.clone()).await, 403);

    // The unrelated account becomes the parent's child; SIGHUP makes it so.
    let mut directory = accounts_json();
    directory["accounts"][3]["parent"] = json!(PARENT);
    std::fs::write(&accounts, directory.to_string()).unwrap();
    process.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + SETTLE_TIMEOUT;
    while list_status(OTHER, parent_token.clone()).await != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the directory was never reread"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The socket lived through it.
    other.sync().await;

    process.signal(libc::SIGTERM);
    assert_eq!(other.expect_close().await, 1001);
    assert_eq!(process.exit_code().await, Some(0));

    let mut log = Vec::new();
    while let Some(line) = process.stderr.recv().await {
        log.push(line);
    }
    assert!(
        log.iter().any(|l| l.contains("switchyard token --account")
            && l.contains(&format!("--secret-file {}", secret.display()))),
        "no token command in the log: {log:#?}"
    );
    for token in [&parent_token, &other_token, &bad_tokens[0], &bad_tokens[1]] {
        let signature = token.rsplit('.').next().unwrap();
        for line in &log {
            assert!(!line.contains(signature), "a token in the log: {line}");
        }
    }
}

/// `--log-format json`: every line one JSON object; a socket's lines carry its id; a flood of
/// broken frames from many sockets is one warning per ten seconds, counting the rest; no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_json_lines_that_name_sockets_and_do_not_flood() {
    const BROKEN: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let (mut process, _, _) = serve_with_auth(
        dir.path(),
        &["--log-format", "json"],
        &[("SWITCHYARD_LOG", "debug")],
    );
    let listening = process.line_containing("switchyard is listening").await;
    let listening: serde_json::Value = serde_json::from_str(&listening).expect("a JSON line");
    let ws: std::net::SocketAddr = listening["websockets"].as_str().unwrap().parse().unwrap();

    let parent_token = token(PARENT);
    let mut client = Client::connect(ws).await;
    client.authenticate(&parent_token).await;
    let bad_token = expired_token(OTHER);
    let mut refused = Client::connect(ws).await;
    let reply = refused
        .request(json!({"action": "ping", "auth_token": bad_token, "request_id": "b"}))
        .await;
    assert_error_reply(&reply, "b", "failed to authenticate token");
    drop(refused);
    let started = std::time::Instant::now();
    // Each sends an unmasked frame right behind its upgrade: closed 1002.
    let mut broken = WS_UPGRADE_REQUEST.as_bytes().to_vec();
    broken.extend_from_slice(&[0x81, 0x02, b'{', b'}']);
    let answers = futures_util::future::join_all(
        (0..BROKEN).map(|_| raw_exchange(ws, &broken, Duration::from_secs(1))),
    )
    .await;
    let flood_took = started.elapsed();
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 101"), "{answer:?}");
    }
    client.sync().await;

    process.signal(libc::SIGTERM);
    assert_eq!(client.expect_close().await, 1001);
    assert_eq!(process.exit_code().await, Some(0));
    let mut log = Vec::new();
    while let Some(line) = process.stderr.recv().await {
        log.push(line);
    }

    let lines: Vec<serde_json::Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line.get(field).is_some(), "no {field}: {line}");
        }
    }
    let with_message = |message: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };
    let opened = with_message("socket opened");
    assert_eq!(opened.len(), BROKEN + 2, "{log:#?}");
    let ids: std::collections::BTreeSet<&str> = opened
        .iter()
        .map(|l| l["socket"].as_str().expect("a socket id"))
        .collect();
    assert_eq!(ids.len(), BROKEN + 2, "one id per socket");
    // A line logged while a socket's frame is answered names the socket too.
    let token_refused = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("token refused")
        })
        .unwrap_or_else(|| panic!("no refused token logged: {log:#?}"));
    assert!(
        ids.contains(token_refused["span"]["socket"].as_str().unwrap_or_default()),
        "{token_refused}"
    );

    // At most one warning per ten seconds, however many sockets broke the protocol.
    let warned = with_message("closed a socket that sent a broken frame");
    assert!(!warned.is_empty(), "{log:#?}");
    assert!(
        warned.len() as u64 <= 1 + flood_took.as_secs() / 10,
        "{warned:#?}"
    );
    let first = warned[0];
    assert_eq!(first["level"], "WARN");
    assert_eq!(first["code"], 1002);
    assert!(ids.contains(first["socket"].as_str().unwrap()), "{first}");
    // Every socket's end is logged at debug, with its id.
    let ended: std::collections::BTreeSet<&str> = with_message("socket closed")
        .iter()
        .map(|l| l["socket"].as_str().expect("a socket id"))
        .collect();
    assert_eq!(ended, ids);

    for token in [&parent_token, &bad_token] {
        let signature = token.rsplit('.').next().unwrap();
        for line in &log {
            assert!(!line.contains(signature), "a token in the log: {line}");
        }
    }
}

/// SIGUSR1 drains: every socket closed with 1001 over `drain_duration`, new ones answered 503,
/// and the node serves on until SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_drains_on_sigusr1() {
    let dir = tempfile::tempdir().unwrap();
    let (mut process, _, _) = serve_with_auth(dir.path(), &["--drain-duration", "200ms"], &[]);
    let (ws, rest) = process.listening().await;
    let mut clients = Vec::new();
    for account in [PARENT, CHILD] {
        let mut client = Client::connect(ws).await;
        client.authenticate(&token(account)).await;
        clients.push(client);
    }

    process.signal(libc::SIGUSR1);
    let logged = process.line_containing("draining").await;
    assert!(logged.contains("sockets=2"), "{logged}");
    for client in &mut clients {
        assert_eq!(client.expect_close().await, 1001);
    }
    let refused = raw_exchange(ws, WS_UPGRADE_REQUEST.as_bytes(), Duration::from_secs(2)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let ready = http
        .get(format!("http://{rest}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    process.signal(libc::SIGTERM);
    assert_eq!(process.exit_code().await, Some(0));
}
