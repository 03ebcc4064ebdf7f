//! A worker runs a share of the run's clients. It is the same code whether it runs in the
//! coordinating process or in a child process (`switchyard loadgen --worker`, when one process's
//! open-file limit cannot hold every socket): then its spec and commands arrive as JSON lines on
//! stdin and its reports leave as JSON lines on stdout.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{self, ClientError, Ended, Endpoint, Socket};
use super::own_cpu::own_cpu_seconds;
use super::tally::{Latencies, Snapshot, Tally};
use super::tls::Trust;

/// How often a worker reports its counters.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long leaving clients get to finish their close handshakes.
const LEAVE_WAIT: Duration = Duration::from_secs(15);
/// A churn slot whose connection failed waits this long before the next try.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Everything a worker needs. Tokens travel over the child's stdin, never its command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerSpec {
    /// The nodes, which clients take in turn ([`WorkerSpec::node_of`]).
    pub(crate) ws_urls: Vec<String>,
    /// `--ca-file`, for wss:// nodes.
    #[serde(default)]
    pub(crate) ca_file: Option<std::path::PathBuf>,
    /// Run-wide index of this worker's first client, and how many clients it runs.
    pub(crate) first: usize,
    pub(crate) count: usize,
    pub(crate) accounts: Vec<String>,
    /// One token for every client, or one per account.
    pub(crate) tokens: Vec<String>,
    pub(crate) bindings: Vec<String>,
    /// How far a socket's events may come out of stamp order ([`crate::tally::SeqWindow`]).
    #[serde(default)]
    pub(crate) reorder_window: usize,
    pub(crate) subscribe: bool,
    /// Source addresses 127.0.0.1 … 127.0.0.N that clients take in turn; 0 binds none.
    pub(crate) source_addresses: u32,
    pub(crate) concurrency: usize,
    pub(crate) connect_timeout_ms: u64,
    /// Churn: each client leaves after this long and a new one takes its place.
    pub(crate) churn_hold_ms: Option<u64>,
}

impl WorkerSpec {
    fn account_of(&self, client: usize) -> usize {
        (self.first + client) % self.accounts.len()
    }

    /// The node of client `client`: the run's clients take the nodes in turn, one round of
    /// accounts at a time, so that every account's subscribers are spread over every node
    /// (client i: account i mod A, node (i div A) mod N).
    fn node_of(&self, client: usize) -> usize {
        (self.first + client) / self.accounts.len() % self.ws_urls.len()
    }

    fn token_of(&self, account: usize) -> &str {
        &self.tokens[account % self.tokens.len()]
    }

    fn source_of(&self, client: usize) -> Option<IpAddr> {
        (self.source_addresses > 0).then(|| {
            let offset = ((self.first + client) % self.source_addresses as usize) as u32;
            IpAddr::V4(Ipv4Addr::from(
                u32::from(Ipv4Addr::new(127, 0, 0, 1)) + offset,
            ))
        })
    }
}

/// Coordinator → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub(crate) enum ToWorker {
    /// Publishing is over: wait (at most `drain_ms`) for what should still arrive, then leave.
    Finish {
        published_per_account: Vec<u64>,
        drain_ms: u64,
    },
}

/// Worker → coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub(crate) enum FromWorker {
    Progress {
        snapshot: Snapshot,
    },
    /// Every client has connected and subscribed, or failed (churn: the slots have started).
    Ready {
        snapshot: Snapshot,
        /// Sockets subscribed per account (index into the run's accounts).
        subscribed_per_account: Vec<u64>,
        /// The CPU seconds of the worker's process so far (a child's: the coordinator's own
        /// count includes it only once reaped).
        #[serde(default)]
        cpu_s: f64,
    },
    /// The node answered a subscription with an error: the run's setup is wrong.
    Refused {
        reason: String,
    },
    /// The run cannot be measured (a bad URL, a dead worker).
    Fatal {
        message: String,
    },
    Done {
        snapshot: Snapshot,
        latencies: Latencies,
        /// Stamped deliveries its subscribers should have received.
        expected: u64,
        /// How long it waited, after publishing ended, for the last of them.
        drained_ms: u64,
        /// As in `Ready`, once its clients have left.
        #[serde(default)]
        cpu_s: f64,
    },
}

struct Shared {
    spec: WorkerSpec,
    /// One per node, as `spec.ws_urls`.
    endpoints: Vec<Endpoint>,
    tally: Tally,
    handshakes: Semaphore,
    /// The node's error reply to the first refused subscription.
    refused: OnceLock<String>,
    settled: AtomicUsize,
    wake: Notify,
}

/// Runs the worker until it is told to finish (or its coordinator goes away).
pub(crate) async fn run(
    spec: WorkerSpec,
    mut commands: mpsc::Receiver<ToWorker>,
    reports: mpsc::UnboundedSender<FromWorker>,
) {
    let endpoints = Trust::new(spec.ca_file.as_deref()).and_then(|trust| {
        spec.ws_urls
            .iter()
            .map(|u| Endpoint::parse(u, &trust))
            .collect()
    });
    let endpoints = match endpoints {
        Ok(endpoints) => endpoints,
        Err(message) => {
            let _ = reports.send(FromWorker::Fatal { message });
            return;
        }
    };
    let shared = Arc::new(Shared {
        tally: Tally::new(spec.accounts.len(), spec.ws_urls.len()),
        handshakes: Semaphore::new(spec.concurrency.max(1)),
        endpoints,
        refused: OnceLock::new(),
        settled: AtomicUsize::new(0),
        wake: Notify::new(),
        spec,
    });
    let (stop, stopped) = watch::channel(false);
    let mut clients = JoinSet::new();
    for client in 0..shared.spec.count {
        let (shared, stopped) = (shared.clone(), stopped.clone());
        match shared.spec.churn_hold_ms {
            Some(hold) => {
                clients.spawn(churn(shared, client, stopped, Duration::from_millis(hold)))
            }
            None => clients.spawn(hold_one(shared, client, stopped)),
        };
    }
    let is_churn = shared.spec.churn_hold_ms.is_some();
    let mut ready = false;
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    let mut published = Vec::new();
    let mut drained = Duration::ZERO;
    loop {
        if let Some(reason) = shared.refused.get() {
            let reason = reason.clone();
            let _ = reports.send(FromWorker::Refused { reason });
            break;
        }
        if !ready && (is_churn || shared.settled.load(Relaxed) == shared.spec.count) {
            ready = true;
            let snapshot = shared.tally.snapshot();
            let subscribed_per_account = shared.tally.subscribed_per_account();
            let _ = reports.send(FromWorker::Ready {
                snapshot,
                subscribed_per_account,
                cpu_s: own_cpu_seconds(),
            });
        }
        tokio::select! {
            _ = progress.tick() => {
                let snapshot = shared.tally.snapshot();
                let _ = reports.send(FromWorker::Progress { snapshot });
            }
            () = shared.wake.notified() => {}
            command = commands.recv() => match command {
                Some(ToWorker::Finish { published_per_account, drain_ms }) => {
                    let patience = Duration::from_millis(drain_ms);
                    let draining = Instant::now();
                    drain(&shared, &published_per_account, patience, &reports).await;
                    drained = draining.elapsed();
                    published = published_per_account;
                    break;
                }
                None => break,
            },
        }
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(LEAVE_WAIT, async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    clients.abort_all();
    let _ = reports.send(FromWorker::Done {
        snapshot: shared.tally.snapshot(),
        latencies: shared.tally.latencies(),
        expected: shared.tally.expected(&published),
        drained_ms: drained.as_millis() as u64,
        cpu_s: own_cpu_seconds(),
    });
}

/// Waits until every expected delivery has arrived, or `patience` has passed, still reporting.
async fn drain(
    shared: &Shared,
    published_per_account: &[u64],
    patience: Duration,
    reports: &mpsc::UnboundedSender<FromWorker>,
) {
    let expected = shared.tally.expected(published_per_account);
    let deadline = Instant::now() + patience;
    let mut last_report = Instant::now();
    while shared.tally.received.load(Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            let snapshot = shared.tally.snapshot();
            let _ = reports.send(FromWorker::Progress { snapshot });
        }
    }
}

/// Connects and subscribes client `client`, within the handshake limit and the connect timeout.
async fn open(shared: &Shared, client: usize) -> Result<Socket, ClientError> {
    let spec = &shared.spec;
    let _permit = shared.handshakes.acquire().await;
    shared.tally.attempted.fetch_add(1, Relaxed);
    let account = spec.account_of(client);
    let attempt = async {
        let endpoint = &shared.endpoints[spec.node_of(client)];
        let mut socket = client::connect(endpoint, spec.source_of(client)).await?;
        shared.tally.connected.fetch_add(1, Relaxed);
        if spec.subscribe {
            let request_id = format!("loadgen-{}", spec.first + client);
            client::subscribe(
                &mut socket,
                spec.token_of(account),
                &spec.accounts[account],
                &spec.bindings,
                &request_id,
            )
            .await?;
        }
        Ok(socket)
    };
    let timeout = Duration::from_millis(spec.connect_timeout_ms);
    let outcome = tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::Failed(format!(
                "no connection and subscription within {}ms",
                spec.connect_timeout_ms
            )))
        });
    match &outcome {
        Ok(_) if spec.subscribe => {
            shared.tally.subscribed.fetch_add(1, Relaxed);
            shared.tally.subscribed_per_account[account].fetch_add(1, Relaxed);
        }
        Ok(_) => {}
        Err(error) => {
            shared.tally.fail(error.to_string());
            if let ClientError::Refused(reason) = error {
                let _ = shared.refused.set(reason.clone());
                shared.wake.notify_one();
            }
        }
    }
    outcome
}

/// Receives on an open socket until told to leave (or `until`), keeping `open` right.
async fn hold(
    shared: &Shared,
    client: usize,
    socket: Socket,
    stopped: watch::Receiver<bool>,
    until: Option<Instant>,
) -> Ended {
    let tally = &shared.tally;
    let open_on_node = &tally.open_per_node[shared.spec.node_of(client)];
    tally.open.fetch_add(1, Relaxed);
    open_on_node.fetch_add(1, Relaxed);
    let ended = client::receive(
        socket,
        &shared.spec.bindings,
        shared.spec.reorder_window,
        tally,
        stopped,
        until,
    )
    .await;
    tally.open.fetch_sub(1, Relaxed);
    open_on_node.fetch_sub(1, Relaxed);
    if ended == Ended::ByNode {
        tally.closed_by_node.fetch_add(1, Relaxed);
    }
    ended
}

/// Connect, idle and fanout: one client, held until the run ends.
async fn hold_one(shared: Arc<Shared>, client: usize, stopped: watch::Receiver<bool>) {
    let socket = open(&shared, client).await;
    if shared.settled.fetch_add(1, Relaxed) + 1 == shared.spec.count {
        shared.wake.notify_one();
    }
    if let Ok(socket) = socket {
        hold(&shared, client, socket, stopped, None).await;
    }
}

/// Churn: a slot where clients connect, subscribe, receive for `lifetime` and leave, in turn.
async fn churn(
    shared: Arc<Shared>,
    client: usize,
    stopped: watch::Receiver<bool>,
    lifetime: Duration,
) {
    while !*stopped.borrow() {
        match open(&shared, client).await {
            Ok(socket) => {
                let until = Instant::now() + lifetime;
                let held = hold(&shared, client, socket, stopped.clone(), Some(until)).await;
                if held == Ended::Asked {
                    shared.tally.cycles.fetch_add(1, Relaxed);
                }
            }
            Err(ClientError::Refused(_)) => return,
            Err(ClientError::Failed(_)) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}

/// The workers of a run, wherever they run; every report arrives tagged with its worker.
pub(crate) struct Workers {
    commands: Vec<mpsc::Sender<ToWorker>>,
    pub(crate) reports: mpsc::UnboundedReceiver<(usize, FromWorker)>,
    /// Each ends when its worker has ended (a child process: exited and been reaped).
    ended: Vec<tokio::task::JoinHandle<()>>,
    /// Whether the workers are child processes, whose CPU is not (yet) this process's.
    pub(crate) in_children: bool,
}

impl Workers {
    /// One worker, in this process.
    pub(crate) fn in_process(spec: WorkerSpec) -> Workers {
        let (report_tx, reports) = mpsc::unbounded_channel();
        let (command_tx, command_rx) = mpsc::channel(4);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ended = tokio::spawn(run(spec, command_rx, tx));
        tokio::spawn(async move {
            while let Some(report) = rx.recv().await {
                if report_tx.send((0, report)).is_err() {
                    break;
                }
            }
        });
        Workers {
            commands: vec![command_tx],
            reports,
            ended: vec![ended],
            in_children: false,
        }
    }

    /// One child process per spec, running this same executable as `loadgen --worker`.
    pub(crate) fn processes(specs: Vec<WorkerSpec>) -> Result<Workers, std::io::Error> {
        let exe = std::env::current_exe()?;
        let (report_tx, reports) = mpsc::unbounded_channel();
        let mut commands = Vec::new();
        let mut ended = Vec::new();
        for (index, spec) in specs.into_iter().enumerate() {
            let mut child = tokio::process::Command::new(&exe)
                .args(["loadgen", "--worker"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?;
            let mut stdin = child.stdin.take().expect("piped");
            let stdout = child.stdout.take().expect("piped");
            let (command_tx, mut command_rx) = mpsc::channel::<ToWorker>(4);
            let first_line = json_line(&spec);
            tokio::spawn(async move {
                if stdin.write_all(first_line.as_bytes()).await.is_err() {
                    return;
                }
                while let Some(command) = command_rx.recv().await {
                    if stdin
                        .write_all(json_line(&command).as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            let report_tx = report_tx.clone();
            ended.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut done = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let report =
                        serde_json::from_str(&line).unwrap_or_else(|e| FromWorker::Fatal {
                            message: format!("worker {index} sent an unreadable report: {e}"),
                        });
                    done |= matches!(report, FromWorker::Done { .. });
                    let _ = report_tx.send((index, report));
                }
                let status = child.wait().await;
                if !done {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    let message = format!("worker process {index} ended early ({status})");
                    let _ = report_tx.send((index, FromWorker::Fatal { message }));
                }
            }));
            commands.push(command_tx);
        }
        Ok(Workers {
            commands,
            reports,
            ended,
            in_children: true,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.commands.len()
    }

    /// Waits (at most `patience`) for every worker to end: a child's CPU time counts in this
    /// process's `RUSAGE_CHILDREN` only once it has been reaped.
    pub(crate) async fn ended(&mut self, patience: Duration) {
        let all = futures_util::future::join_all(self.ended.drain(..));
        let _ = tokio::time::timeout(patience, all).await;
    }

    pub(crate) async fn tell_all(&self, command: ToWorker) {
        for commands in &self.commands {
            let _ = commands.send(command.clone()).await;
        }
    }
}

fn json_line<T: Serialize>(value: &T) -> String {
    let mut line = serde_json::to_string(value).expect("plain data serialises");
    line.push('\n');
    line
}

/// The child side of [`Workers::processes`]: spec and commands from stdin, reports to stdout.
pub(crate) async fn serve_stdio() -> Result<(), String> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let first = lines
        .next_line()
        .await
        .map_err(|e| format!("reading the worker spec: {e}"))?
        .ok_or("no worker spec on stdin (--worker is for the load generator's own use)")?;
    let spec: WorkerSpec =
        serde_json::from_str(&first).map_err(|e| format!("unreadable worker spec: {e}"))?;
    let (command_tx, command_rx) = mpsc::channel(4);
    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(command) = serde_json::from_str(&line) else {
                break;
            };
            if command_tx.send(command).await.is_err() {
                break;
            }
        }
    });
    let worker = tokio::spawn(run(spec, command_rx, report_tx));
    let mut stdout = tokio::io::stdout();
    while let Some(report) = report_rx.recv().await {
        if stdout
            .write_all(json_line(&report).as_bytes())
            .await
            .is_err()
        {
            break;
        }
        let _ = stdout.flush().await;
    }
    let _ = worker.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(first: usize, source_addresses: u32) -> WorkerSpec {
        WorkerSpec {
            ca_file: None,
            ws_urls: vec!["ws://127.0.0.1:1/".into(), "ws://127.0.0.1:2/".into()],
            first,
            count: 10,
            accounts: vec!["a".into(), "b".into(), "c".into()],
            tokens: vec!["t".into()],
            bindings: vec![],
            reorder_window: 1,
            subscribe: true,
            source_addresses,
            concurrency: 1,
            connect_timeout_ms: 1,
            churn_hold_ms: None,
        }
    }

    #[test]
    fn clients_take_accounts_and_source_addresses_in_turn_across_workers() {
        let second = spec(10, 4);
        assert_eq!(second.account_of(0), 1); // client 10 of the run
        assert_eq!(second.token_of(2), "t");
        assert_eq!(second.source_of(0), Some("127.0.0.3".parse().unwrap()));
        assert_eq!(second.source_of(1), Some("127.0.0.4".parse().unwrap()));
        assert_eq!(second.source_of(2), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(spec(0, 0).source_of(5), None);
    }

    #[test]
    fn clients_take_nodes_in_turn_so_that_each_account_is_on_every_node() {
        // 3 accounts, 2 nodes: clients 0-2 on node 0, 3-5 on node 1, 6-8 on node 0 …
        let first = spec(0, 0);
        let placed: Vec<(usize, usize)> = (0..10)
            .map(|c| (first.account_of(c), first.node_of(c)))
            .collect();
        assert_eq!(
            placed,
            [
                (0, 0),
                (1, 0),
                (2, 0),
                (0, 1),
                (1, 1),
                (2, 1),
                (0, 0),
                (1, 0),
                (2, 0),
                (0, 1)
            ]
        );
        // Across workers: the run-wide index decides.
        assert_eq!(spec(10, 0).node_of(0), 1); // client 10: account 1, round 3
        let mut one_account = spec(0, 0);
        one_account.accounts.truncate(1);
        let nodes: Vec<usize> = (0..4).map(|c| one_account.node_of(c)).collect();
        assert_eq!(nodes, [0, 1, 0, 1]);
    }

    #[test]
    fn messages_are_one_json_line_each() {
        let line = json_line(&ToWorker::Finish {
            published_per_account: vec![1, 2],
            drain_ms: 5,
        });
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let back: ToWorker = serde_json::from_str(&line).unwrap();
        assert!(matches!(back, ToWorker::Finish { drain_ms: 5, .. }));
    }
}
