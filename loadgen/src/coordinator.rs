//! One run, start to end: check the node can be measured at all, read its figures, set the
//! workers' clients up, hold, publish or churn, let the workers finish, and add it all up.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::amqp::AmqpPublisher;
use super::args::Scenario;
use super::client::{self, ClientError};
use super::node_probe::{NodeFigures, NodeProbe, ProbeError};
use super::own_cpu::{own_and_children_cpu_seconds, own_cpu_seconds};
use super::plan::{Plan, PublishVia};
use super::progress::Progress;
use super::publisher::{PublishError, Published, Publisher, Sink};
use super::report::{
    Churn, Connections, Cpu, Events, LatencyFigures, Memory, NodeConnections, NodeSamples, Report,
    RestFigures, rate,
};
use super::rest_client::RestError;
use super::rest_load::{LearnError, Pace, Queried, RestLoad};
use super::tally::{Latencies, Snapshot};
use super::worker::{FromWorker, ToWorker, Workers};

/// How often the node's memory is sampled while clients are held, for its peak.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Beyond the drain timeout, how long workers get to close their clients and report.
const FINISH_GRACE: Duration = Duration::from_secs(30);
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadgenError {
    #[error(
        "cannot reach the node's websocket port at {addr}: {reason}; is `switchyard serve` running?"
    )]
    Unreachable { addr: SocketAddr, reason: String },
    #[error("the node refused the subscription: {0} (check --token, --account-id and --binding)")]
    Refused(String),
    #[error("a first test client could not connect and subscribe: {0}")]
    FirstClient(String),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("publishing failed: {0}")]
    Publish(PublishError),
    #[error("cannot publish through RabbitMQ at {url}: {reason}")]
    Broker { url: String, reason: String },
    #[error(
        "publishing refused: {0} (publishing needs a token of a superduper account: --publish-token)"
    )]
    PublishRefused(RestError),
    #[error("the publisher stopped: {0}")]
    PublisherStopped(String),
    #[error("cannot list the run's sockets to query them: {0}")]
    ListSockets(#[from] LearnError),
    #[error("the REST queries stopped: {0}")]
    QueriesStopped(String),
    #[error("cannot start worker processes: {0}")]
    Spawn(std::io::Error),
    #[error("worker {worker}: {message}")]
    Worker { worker: usize, message: String },
    #[error("the workers did not finish within {0:?} of being told to")]
    Stuck(Duration),
}

/// What the workers have reported so far: each one's latest counters, whether it is ready, and
/// its final figures once done.
struct Reported {
    latest: Vec<Snapshot>,
    /// Once a worker is ready: its sockets subscribed per account.
    ready: Vec<Option<Vec<u64>>>,
    /// Each worker process's CPU seconds when it was ready.
    ready_cpu_s: Vec<f64>,
    done: Vec<Option<Done>>,
}

struct Done {
    latencies: Latencies,
    expected: u64,
    drained_ms: u64,
    cpu_s: f64,
}

impl Reported {
    fn new(workers: usize) -> Reported {
        Reported {
            latest: vec![Snapshot::default(); workers],
            ready: vec![None; workers],
            ready_cpu_s: vec![0.0; workers],
            done: (0..workers).map(|_| None).collect(),
        }
    }

    fn total(&self) -> Snapshot {
        let mut total = Snapshot::default();
        for snapshot in &self.latest {
            total.add(snapshot);
        }
        total
    }

    fn all_ready(&self) -> bool {
        self.ready.iter().all(Option::is_some)
    }

    /// Sockets subscribed per account, over every ready worker.
    fn subscribed_per_account(&self) -> Vec<u64> {
        let mut total: Vec<u64> = Vec::new();
        for counts in self.ready.iter().flatten() {
            total.resize(total.len().max(counts.len()), 0);
            for (sum, count) in total.iter_mut().zip(counts) {
                *sum += count;
            }
        }
        total
    }

    fn all_done(&self) -> bool {
        self.done.iter().all(Option::is_some)
    }

    /// CPU seconds the worker processes spent from ready to done.
    fn workers_cpu_s(&self) -> f64 {
        let done = self.done.iter().flatten().map(|d| d.cpu_s);
        done.sum::<f64>() - self.ready_cpu_s.iter().sum::<f64>()
    }
}

struct Run<'a> {
    progress: &'a Progress,
    workers: Workers,
    reported: Reported,
    probe: NodeProbe,
    rss_peak: Option<u64>,
    /// The publisher's running count, for the progress display.
    published: Option<Arc<AtomicU64>>,
    /// The rest scenario's running count of queries, for the progress display.
    queried: Option<Arc<AtomicU64>>,
}

/// What the timed phase of a run did.
#[derive(Default)]
struct Exercised {
    published: Option<Published>,
    queried: Option<Queried>,
}

impl Run<'_> {
    fn record(&mut self, worker: usize, report: FromWorker) -> Result<(), LoadgenError> {
        match report {
            FromWorker::Progress { snapshot } => self.reported.latest[worker] = snapshot,
            FromWorker::Ready {
                snapshot,
                subscribed_per_account,
                cpu_s,
            } => {
                self.reported.latest[worker] = snapshot;
                self.reported.ready_cpu_s[worker] = cpu_s;
                self.reported.ready[worker] = Some(subscribed_per_account);
            }
            FromWorker::Refused { reason } => return Err(LoadgenError::Refused(reason)),
            FromWorker::Fatal { message } => return Err(LoadgenError::Worker { worker, message }),
            FromWorker::Done {
                snapshot,
                latencies,
                expected,
                drained_ms,
                cpu_s,
            } => {
                self.reported.latest[worker] = snapshot;
                self.reported.done[worker] = Some(Done {
                    latencies,
                    expected,
                    drained_ms,
                    cpu_s,
                });
            }
        }
        Ok(())
    }

    fn note_peak(&mut self, figures: &NodeFigures) {
        if let Some(rss) = figures.rss_bytes {
            self.rss_peak = Some(self.rss_peak.unwrap_or(0).max(rss));
        }
    }

    /// Follows the workers' reports (recording them, showing progress, sampling the node's
    /// memory) until `until` ends (`Some` of its output) or what they reported satisfies
    /// `enough` (`None`). `position` places the progress bar.
    async fn follow_workers_until<T>(
        &mut self,
        until: impl Future<Output = T>,
        enough: impl Fn(&Reported) -> bool,
        position: impl Fn(&Reported, Duration) -> u64,
    ) -> Result<Option<T>, LoadgenError> {
        let mut until = pin!(until);
        let mut sampling = tokio::time::interval(SAMPLE_EVERY);
        let started = Instant::now();
        loop {
            if enough(&self.reported) {
                return Ok(None);
            }
            tokio::select! {
                output = &mut until => return Ok(Some(output)),
                report = self.workers.reports.recv() => {
                    let Some((worker, report)) = report else {
                        return Err(LoadgenError::Worker {
                            worker: 0,
                            message: "every worker stopped reporting".into(),
                        });
                    };
                    self.record(worker, report)?;
                    let published = self.published.as_ref().map(|p| p.load(Relaxed));
                    let queried = self.queried.as_ref().map(|q| q.load(Relaxed));
                    self.progress.show(&self.reported.total(), published, queried);
                    self.progress.set_position(position(&self.reported, started.elapsed()));
                }
                _ = sampling.tick() => {
                    let figures = self.probe.read().await?;
                    self.note_peak(&figures);
                }
            }
        }
    }
}

impl Run<'_> {
    /// The timed phase: holds, publishes, churns or queries for the plan's duration (connect has
    /// none). The publisher and the queries run side by side when the plan has both.
    async fn exercise(
        &mut self,
        plan: &Plan,
        publisher: Option<Publisher>,
    ) -> Result<Exercised, LoadgenError> {
        let timed = plan.duration;
        let name = match plan.scenario {
            Scenario::Connect => return Ok(Exercised::default()),
            Scenario::Idle => "holding",
            Scenario::Fanout => "publishing",
            Scenario::Churn => "churning",
            Scenario::Rest => "querying",
        };
        let queries = match plan.scenario {
            Scenario::Rest => Some(self.learn_sockets(plan).await?),
            _ => None,
        };
        self.queried = queries.as_ref().map(|q| q.sent.clone());
        self.progress.phase(name, tenths(timed));
        let rate = plan.settings.rate;
        let publishing = publisher.map(|p| tokio::spawn(p.run(rate, timed)));
        let querying = queries.map(|q| tokio::spawn(q.run(timed)));
        // Idle, and churn without publishing, have no task: the phase is the duration itself.
        let phase_over = tokio::time::sleep(timed);
        let phase = async {
            let published = match publishing {
                Some(task) => Some(published(task.await)?),
                None => None,
            };
            let queried = match querying {
                Some(task) => Some(
                    task.await
                        .map_err(|e| LoadgenError::QueriesStopped(e.to_string()))?,
                ),
                None => None,
            };
            phase_over.await;
            Ok(Exercised { published, queried })
        };
        let timeline = |_: &Reported, elapsed: Duration| tenths(elapsed);
        self.follow_workers_until(phase, |_| false, timeline)
            .await?
            .expect("only the phase ends this wait")
    }

    /// Tells the workers to finish and waits until they have: they first wait (at most the drain
    /// timeout) for the deliveries still owed, then leave. Churn clients come and go: nobody waits
    /// for what a client that already left would have received.
    async fn finish_workers(
        &mut self,
        plan: &Plan,
        published: Option<&Published>,
    ) -> Result<(), LoadgenError> {
        let (published_per_account, drain) = match published {
            Some(published) if plan.owes_deliveries() => {
                (published.per_account.clone(), plan.drain_timeout)
            }
            _ => (Vec::new(), Duration::ZERO),
        };
        self.workers
            .tell_all(ToWorker::Finish {
                published_per_account,
                drain_ms: drain.as_millis() as u64,
            })
            .await;
        let patience = plan.drain_timeout + FINISH_GRACE;
        self.progress.phase("finishing", tenths(patience));
        let timeline = |_: &Reported, elapsed: Duration| tenths(elapsed);
        let gave_up = self
            .follow_workers_until(tokio::time::sleep(patience), Reported::all_done, timeline)
            .await?;
        match gave_up {
            Some(()) => Err(LoadgenError::Stuck(patience)),
            None => Ok(()),
        }
    }

    /// The rest scenario's queries, once a first list of each account has told them the ids of
    /// its sockets.
    async fn learn_sockets(&self, plan: &Plan) -> Result<RestLoad, LoadgenError> {
        let accounts: Vec<String> = plan.accounts.iter().map(|a| a.to_string()).collect();
        let held = self.reported.subscribed_per_account();
        let queries = RestLoad::learn(
            plan.rest.clone(),
            &accounts,
            &plan.subscriber_tokens,
            &held,
            plan.rest_queries.clone(),
            Pace {
                concurrency: plan.settings.rest_concurrency,
                rate: plan.settings.rest_rate,
            },
        );
        Ok(queries.await?)
    }
}

/// What the publisher did, or why it stopped short.
fn published(
    outcome: Result<Published, tokio::task::JoinError>,
) -> Result<Published, LoadgenError> {
    let outcome = outcome.map_err(|e| LoadgenError::PublisherStopped(e.to_string()))?;
    match outcome.error {
        Some(error) => Err(LoadgenError::Publish(error)),
        None => Ok(outcome),
    }
}

fn tenths(elapsed: Duration) -> u64 {
    (elapsed.as_millis() / 100) as u64
}

/// Fails fast, with the reason, when the node cannot be measured at all; the node's figures
/// before the run.
async fn preflight(plan: &Plan, probe: &mut NodeProbe) -> Result<NodeFigures, LoadgenError> {
    for endpoint in &plan.endpoints {
        let addr = endpoint.addr;
        let unreachable = |reason: String| LoadgenError::Unreachable { addr, reason };
        tokio::time::timeout(REACH_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable(format!("no answer within {REACH_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
    }
    let before = probe.read().await?;
    if !plan.subscribes() {
        return Ok(before);
    }
    // A first client on each node.
    for endpoint in &plan.endpoints {
        let account = plan.accounts[0].as_str();
        let attempt = async {
            let mut socket = client::connect(endpoint, None).await?;
            let bindings = &plan.settings.bindings;
            let token = &plan.subscriber_tokens[0];
            client::subscribe(&mut socket, token, account, bindings, "loadgen-check").await?;
            client::leave(&mut socket).await;
            Ok::<_, ClientError>(())
        };
        match tokio::time::timeout(REACH_TIMEOUT * 2, attempt).await {
            Ok(Ok(())) => {}
            Ok(Err(ClientError::Refused(reason))) => return Err(LoadgenError::Refused(reason)),
            Ok(Err(ClientError::Failed(reason))) => return Err(LoadgenError::FirstClient(reason)),
            Err(_) => return Err(LoadgenError::FirstClient("no answer within 10s".into())),
        }
    }
    // The nodes forget those first clients a moment after they left: wait, or the run would
    // start a socket above its baseline.
    let baseline = before.connections().unwrap_or(0);
    node_when(probe, |connections| connections <= baseline).await?;
    Ok(before)
}

/// The node's figures once its connection gauge satisfies `settled`, or after a while anyway:
/// the node counts a session when its actor has started and forgets it when the actor has
/// stopped, a moment after the client's handshake or close.
async fn node_when(
    probe: &mut NodeProbe,
    settled: impl Fn(u64) -> bool,
) -> Result<NodeFigures, LoadgenError> {
    let deadline = Instant::now() + REACH_TIMEOUT;
    loop {
        let figures = probe.read().await?;
        if figures.connections().is_none_or(&settled) || Instant::now() >= deadline {
            return Ok(figures);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn run(plan: &Plan, progress: &Progress) -> Result<Report, LoadgenError> {
    let started_at_unix_s = client::unix_micros() / 1_000_000;
    let run_started = Instant::now();
    let loadgen_cpu_before = own_and_children_cpu_seconds();
    let mut probe = NodeProbe::new(plan.probed.clone(), plan.node_pid);
    let before = preflight(plan, &mut probe).await?;
    let publisher = checked_publisher(plan).await?;
    let workers = start_workers(plan)?;
    let mut run = Run {
        progress,
        reported: Reported::new(workers.len()),
        workers,
        probe,
        rss_peak: before.rss_bytes,
        published: publisher.as_ref().map(|p| p.published.clone()),
        queried: None,
    };

    // Set up every client.
    let setup_started = Instant::now();
    let sockets = plan.settings.sockets as u64;
    progress.phase("connecting", sockets);
    run.follow_workers_until(std::future::pending::<()>(), Reported::all_ready, |b, _| {
        b.total().attempted
    })
    .await?;
    let setup_s = setup_started.elapsed().as_secs_f64();
    let at_setup = run.reported.total();
    // The probed nodes: every node, or only the first.
    let opened = if plan.probed.len() == plan.endpoints.len() {
        at_setup.open
    } else {
        at_setup.open_per_node.first().copied().unwrap_or(0)
    };
    let expected = before.connections().unwrap_or(0) + opened;
    let set_up = node_when(&mut run.probe, |connections| connections >= expected).await?;
    let loadgen_cpu_at_setup = own_cpu_seconds();
    let mut held = set_up.clone();

    // Hold, publish, churn or query.
    let exercised = run.exercise(plan, publisher).await?;
    if plan.scenario != Scenario::Connect {
        held = run.probe.read().await?;
        run.note_peak(&held);
    }
    let held_by_node = held.connections();
    let held_per_node = held.connections_per_node();

    run.finish_workers(plan, exercised.published.as_ref())
        .await?;
    let finished = run.probe.read().await?;
    // Over the same span as the node's publishing figure; worker processes say their own.
    let mut loadgen_exercise_cpu_s = own_cpu_seconds() - loadgen_cpu_at_setup;
    if run.workers.in_children {
        loadgen_exercise_cpu_s += run.reported.workers_cpu_s();
    }
    run.workers.ended(REACH_TIMEOUT).await;
    let loadgen_cpu_s = own_and_children_cpu_seconds() - loadgen_cpu_before;
    let after = if plan.scenario == Scenario::Churn {
        progress.phase("settling", tenths(plan.settle));
        tokio::time::sleep(plan.settle).await;
        // Sockets that are still being torn down are not "not back": give them a moment more.
        let baseline = before.connections().unwrap_or(0);
        Some(node_when(&mut run.probe, |connections| connections <= baseline).await?)
    } else {
        None
    };
    progress.finish();

    Ok(report(
        plan,
        &run,
        Gathered {
            started_at_unix_s,
            elapsed: run_started.elapsed(),
            // Churn never finishes setting up: its clients connect all along.
            setup_s: if plan.scenario == Scenario::Churn {
                plan.duration.as_secs_f64()
            } else {
                setup_s
            },
            at_setup,
            held_by_node,
            held_per_node,
            published: exercised.published,
            queried: exercised.queried,
            before,
            set_up,
            held,
            finished,
            after,
            loadgen_cpu_s,
            loadgen_exercise_cpu_s,
        },
    ))
}

/// The publisher of a run that publishes, once the node has accepted its token (REST) or the
/// broker its connection, with the exchanges declared (RabbitMQ).
async fn checked_publisher(plan: &Plan) -> Result<Option<Publisher>, LoadgenError> {
    if !plan.publishes {
        return Ok(None);
    }
    let published = Arc::new(AtomicU64::new(0));
    let sink = match &plan.publish_via {
        PublishVia::Rest => {
            let token = plan
                .publish_token
                .clone()
                .expect("a token to publish through REST");
            Sink::rest(plan.rest.clone(), token, plan.settings.publish_concurrency)
        }
        PublishVia::Amqp(target) => {
            let mut exchanges: Vec<&'static str> =
                plan.templates.iter().map(|t| t.exchange()).collect();
            exchanges.sort_unstable();
            exchanges.dedup();
            let amqp =
                AmqpPublisher::connect(target, &exchanges, plan.accounts.len(), published.clone())
                    .await
                    .map_err(|reason| LoadgenError::Broker {
                        url: target.shown.clone(),
                        reason,
                    })?;
            Sink::Amqp(Box::new(amqp))
        }
    };
    let mut publisher = Publisher::new(
        sink,
        published,
        plan.accounts.clone(),
        plan.templates.clone(),
        plan.padding.clone(),
        plan.settings.batch,
    );
    publisher.check().await.map_err(|error| match error {
        RestError::Status { status, .. } if status == 401 || status == 403 => {
            LoadgenError::PublishRefused(error)
        }
        other => LoadgenError::Publish(other.into()),
    })?;
    Ok(Some(publisher))
}

/// The run's workers: in this process, or one child process each.
fn start_workers(plan: &Plan) -> Result<Workers, LoadgenError> {
    let mut specs = plan.worker_specs();
    if plan.uses_worker_processes() {
        Workers::processes(specs).map_err(LoadgenError::Spawn)
    } else {
        Ok(Workers::in_process(specs.remove(0)))
    }
}

/// The figures `run` gathered along the way.
struct Gathered {
    started_at_unix_s: u64,
    elapsed: Duration,
    setup_s: f64,
    at_setup: Snapshot,
    held_by_node: Option<u64>,
    /// Each probed node's count (one entry for a single node).
    held_per_node: Vec<Option<u64>>,
    published: Option<Published>,
    queried: Option<Queried>,
    before: NodeFigures,
    set_up: NodeFigures,
    held: NodeFigures,
    /// Once every client has left.
    finished: NodeFigures,
    after: Option<NodeFigures>,
    loadgen_cpu_s: f64,
    /// The load generator from set-up until every client had left.
    loadgen_exercise_cpu_s: f64,
}

fn report(plan: &Plan, run: &Run<'_>, gathered: Gathered) -> Report {
    let clients = run.reported.total();
    let done: Vec<&Done> = run.reported.done.iter().flatten().collect();
    let latency = Latencies::merge(done.iter().map(|d| d.latencies.clone()));
    // Churn clients connect all through the run: rates are over all of it.
    let at_setup = if plan.scenario == Scenario::Churn {
        &clients
    } else {
        &gathered.at_setup
    };
    let connections = Connections {
        attempted: clients.attempted,
        connected: clients.connected,
        failed: clients.failed,
        failures: clients.failures.clone(),
        setup_s: gathered.setup_s,
        connect_rate_per_s: rate(at_setup.connected, gathered.setup_s),
        subscribed: clients.subscribed,
        subscribe_rate_per_s: rate(at_setup.subscribed, gathered.setup_s),
        held_by_node: gathered.held_by_node,
        closed_by_node: clients.closed_by_node,
        per_node: per_node(plan, at_setup, &gathered.held_per_node),
    };
    let events = gathered.published.as_ref().map(|published| {
        let publish_s = published.elapsed.as_secs_f64();
        let drained_s = done.iter().map(|d| d.drained_ms).max().unwrap_or(0) as f64 / 1e3;
        let expected = done.iter().map(|d| d.expected).sum::<u64>();
        let delivery_s = publish_s + drained_s;
        Events {
            target_rate_per_s: plan.settings.rate,
            published: published.events,
            failed: published.failed,
            failures: published.failures.clone(),
            batches: published.batches,
            publish_s,
            publish_rate_per_s: rate(published.events, publish_s),
            deliveries: clients.deliveries,
            delivery_s,
            delivery_rate_per_s: rate(clients.deliveries, delivery_s),
            // Churn clients come and go: their workers are told of no publishes, so owe nothing.
            expected,
            received: clients.received,
            lost: expected.saturating_sub(clients.received),
            duplicates: clients.duplicates,
            extra: clients.extra,
            unstamped: clients.unstamped,
            unreadable: clients.unreadable,
        }
    });
    let memory = match plan.scenario {
        Scenario::Churn => None,
        _ => Memory::of(
            &gathered.before,
            &gathered.held,
            run.rss_peak.unwrap_or(0),
            at_setup.connected,
        ),
    };
    let churn = gathered.after.as_ref().map(|after| {
        Churn::of(
            &clients,
            plan.duration.as_secs_f64(),
            &gathered.before,
            after,
            run.rss_peak,
        )
    });
    let cpu_between =
        |from: &NodeFigures, to: &NodeFigures| Some(to.cpu_seconds? - from.cpu_seconds?);
    let node_publishing_s = gathered
        .published
        .as_ref()
        .and_then(|_| cpu_between(&gathered.set_up, &gathered.finished));
    let loadgen_publishing_s = gathered
        .published
        .as_ref()
        .map(|_| gathered.loadgen_exercise_cpu_s);
    // Churn's CPU also pays for its connections: only fanout's is the cost of deliveries.
    let per_delivery = |seconds: Option<f64>| {
        seconds
            .filter(|_| plan.scenario == Scenario::Fanout && clients.deliveries > 0)
            .map(|s| s * 1e6 / clients.deliveries as f64)
    };
    let cpu = Cpu {
        node_s: cpu_between(&gathered.before, &gathered.finished),
        node_publishing_s,
        node_us_per_delivery: per_delivery(node_publishing_s),
        loadgen_s: gathered.loadgen_cpu_s,
        loadgen_publishing_s,
        loadgen_us_per_delivery: per_delivery(loadgen_publishing_s),
    };
    let mut report = Report {
        settings: plan.settings.clone(),
        started_at_unix_s: gathered.started_at_unix_s,
        elapsed_s: gathered.elapsed.as_secs_f64(),
        complete: false,
        problems: Vec::new(),
        connections,
        events,
        latency_us: LatencyFigures::of(&latency),
        memory,
        churn,
        rest: gathered
            .queried
            .as_ref()
            .map(|queried| RestFigures::of(queried, plan.settings.rest_concurrency)),
        cpu,
        clients,
        node: NodeSamples {
            before: gathered.before,
            held: gathered.held,
            after: gathered.after,
        },
    };
    report.find_problems();
    report
}

/// With several nodes: each node's sockets, as the run opened them and as the node counts them
/// (when its figures are read).
fn per_node(plan: &Plan, at_setup: &Snapshot, held: &[Option<u64>]) -> Vec<NodeConnections> {
    if plan.endpoints.len() < 2 {
        return Vec::new();
    }
    plan.endpoints
        .iter()
        .enumerate()
        .map(|(node, endpoint)| NodeConnections {
            ws_url: endpoint.url.clone(),
            open: at_setup.open_per_node.get(node).copied().unwrap_or(0),
            held_by_node: held.get(node).copied().flatten(),
        })
        .collect()
}
