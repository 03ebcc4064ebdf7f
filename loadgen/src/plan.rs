//! From flags to a run: every value checked (one line naming the flag when bad), tokens minted or
//! taken, accounts chosen, clients spread over source addresses and worker processes.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use switchyard_actors::account::AccountId;

use super::amqp::AmqpTarget;
use super::args::{LoadgenArgs, RestQuery, Scenario};
use super::client::Endpoint;
use super::credentials::{CredentialError, NodeCredentials};
use super::events::{Template, TemplateError};
use super::rest_client::RestTarget;
use super::tally::reorder_window;
use super::tls::Trust;
use super::worker::WorkerSpec;

/// Open files a worker keeps for itself (stdio, the runtime, the REST connection).
const RESERVED_FILES: u64 = 256;
/// Worker processes one run may start: more is a typo, not a load test of one node.
const MAX_WORKERS: usize = 64;
/// Padding per event: far beyond any KAZOO event, short of exhausting memory by typo.
const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Minted tokens outlive any sensible run.
const MINTED_TTL: Duration = Duration::from_secs(24 * 3600);
/// Events per second when --rate is not given, for the scenarios that publish by default.
const DEFAULT_RATE: f64 = 100.0;
/// The most source addresses a run spreads over (all of 127.0.0.0/8 but the first and last).
const MAX_SOURCE_ADDRESSES: u64 = (1 << 24) - 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlanError {
    #[error("--{flag}: {reason}")]
    Flag { flag: &'static str, reason: String },
    #[error(transparent)]
    Binding(#[from] TemplateError),
    #[error("{0}")]
    Tokens(String),
}

fn bad(flag: &'static str, reason: impl Into<String>) -> PlanError {
    PlanError::Flag {
        flag,
        reason: reason.into(),
    }
}

/// A checked run. Tokens are here but never in [`Settings`], which is what the report shows.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) settings: Settings,
    pub(crate) scenario: Scenario,
    /// The nodes' websocket endpoints, in --ws-url order.
    pub(crate) endpoints: Vec<Endpoint>,
    /// `--ca-file`, which the workers read again.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    /// The first node's REST API: publishing (through REST) and the rest scenario's queries.
    pub(crate) rest: RestTarget,
    /// Every --http-url: the nodes whose /metrics the run reads (and sums).
    pub(crate) probed: Vec<RestTarget>,
    pub(crate) publish_via: PublishVia,
    /// True when the scenario publishes.
    pub(crate) publishes: bool,
    pub(crate) accounts: Vec<AccountId>,
    pub(crate) templates: Vec<Template>,
    pub(crate) duration: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) settle: Duration,
    pub(crate) padding: String,
    pub(crate) subscriber_tokens: Vec<String>,
    /// Present when the scenario publishes through REST.
    pub(crate) publish_token: Option<String>,
    pub(crate) node_pid: Option<u32>,
    pub(crate) output: PathBuf,
    pub(crate) quiet: bool,
    /// The rest scenario's queries, cycled over.
    pub(crate) rest_queries: Vec<RestQuery>,
    workers: usize,
    hold: Duration,
    connect_timeout: Duration,
}

/// How the run publishes (--publish-via).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublishVia {
    /// `POST /v2/events` to the first node.
    Rest,
    /// Straight to RabbitMQ, as KAZOO publishes.
    Amqp(AmqpTarget),
}

impl PublishVia {
    fn parse(raw: &str) -> Result<PublishVia, PlanError> {
        if raw == "rest" {
            return Ok(PublishVia::Rest);
        }
        AmqpTarget::parse(raw)
            .map(PublishVia::Amqp)
            .map_err(|reason| bad("publish-via", reason))
    }

    /// What the report says: "rest", or the broker's URL with its password hidden.
    fn shown(&self) -> String {
        match self {
            PublishVia::Rest => "rest".into(),
            PublishVia::Amqp(target) => target.shown.clone(),
        }
    }
}

/// The exact settings of a run, as the JSON report records them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Settings {
    pub(crate) scenario: Scenario,
    /// The nodes the clients are spread over, in turn.
    pub(crate) ws_urls: Vec<String>,
    /// The nodes whose figures the report gives (summed): every node, or the first only.
    pub(crate) http_urls: Vec<String>,
    /// "rest" (POST /v2/events to the first node) or the amqp:// URL (password hidden) events
    /// were published to; also set when the scenario does not publish.
    pub(crate) publish_via: String,
    pub(crate) sockets: usize,
    pub(crate) concurrency: usize,
    pub(crate) accounts: usize,
    pub(crate) first_account: String,
    pub(crate) bindings: Vec<String>,
    pub(crate) duration_s: f64,
    pub(crate) rate: f64,
    pub(crate) batch: u32,
    /// POST /v2/events requests in flight at once (REST publishing).
    pub(crate) publish_concurrency: usize,
    pub(crate) payload_bytes: usize,
    pub(crate) drain_timeout_s: f64,
    pub(crate) hold_s: f64,
    pub(crate) settle_s: f64,
    pub(crate) connect_timeout_s: f64,
    pub(crate) rest_concurrency: usize,
    /// Queries per second over all connections; 0: as fast as they are answered.
    pub(crate) rest_rate: u32,
    pub(crate) rest_queries: Vec<RestQuery>,
    pub(crate) sockets_per_address: usize,
    pub(crate) source_addresses: u32,
    pub(crate) workers: usize,
    pub(crate) open_file_limit: u64,
    pub(crate) node_pid: Option<u32>,
    /// Where the tokens came from ("--token", or the file they were minted from).
    pub(crate) tokens: String,
}

impl Plan {
    pub(crate) fn subscribes(&self) -> bool {
        self.scenario != Scenario::Connect
    }

    /// The run's clients, split evenly over its workers.
    pub(crate) fn worker_specs(&self) -> Vec<WorkerSpec> {
        let sockets = self.settings.sockets;
        let per_worker = sockets.div_ceil(self.workers);
        (0..self.workers)
            .map(|w| w * per_worker)
            .take_while(|first| *first < sockets)
            .map(|first| WorkerSpec {
                ws_urls: self.endpoints.iter().map(|e| e.url.clone()).collect(),
                ca_file: self.ca_file.clone(),
                first,
                count: per_worker.min(sockets - first),
                accounts: self.accounts.iter().map(|a| a.to_string()).collect(),
                tokens: self.subscriber_tokens.clone(),
                bindings: self.settings.bindings.clone(),
                reorder_window: reorder_window(
                    self.settings.publish_concurrency,
                    self.settings.batch,
                ),
                subscribe: self.subscribes(),
                source_addresses: self.settings.source_addresses,
                concurrency: self.settings.concurrency,
                connect_timeout_ms: self.connect_timeout.as_millis() as u64,
                churn_hold_ms: (self.scenario == Scenario::Churn)
                    .then_some(self.hold.as_millis() as u64),
            })
            .collect()
    }

    /// True when every subscriber is owed every event published for its account until the
    /// workers are told to finish (not churn, whose clients come and go).
    pub(crate) fn owes_deliveries(&self) -> bool {
        matches!(self.scenario, Scenario::Fanout | Scenario::Rest)
    }

    /// True when the clients run in child processes rather than in this one.
    pub(crate) fn uses_worker_processes(&self) -> bool {
        self.workers > 1
    }
}

/// A duration flag: a number with a unit (`500ms`, `10s`, `5m`, `1h 30m`: what humantime reads),
/// or bare whole seconds (`30`), as the node's own duration settings take them.
fn duration(flag: &'static str, value: &str, allow_zero: bool) -> Result<Duration, PlanError> {
    let value = value.trim();
    let parsed = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(value).map_err(|_| {
            bad(
                flag,
                format!("{value:?} is not a duration (seconds, or a number with a unit: 500ms, 10s, 5m, 1h)"),
            )
        })?,
    };
    if parsed.is_zero() && !allow_zero {
        return Err(bad(flag, "must be greater than 0"));
    }
    Ok(parsed)
}

/// Checks `args` for a process allowed `open_file_limit` open files; tokens come from
/// `credentials` unless given.
pub(crate) fn plan(
    args: &LoadgenArgs,
    open_file_limit: u64,
    credentials: &dyn NodeCredentials,
) -> Result<Plan, PlanError> {
    let trust = Trust::new(args.ca_file.as_deref()).map_err(|r| bad("ca-file", r))?;
    let endpoints = args
        .ws_url
        .iter()
        .map(|raw| Endpoint::parse(raw, &trust).map_err(|r| bad("ws-url", r)))
        .collect::<Result<Vec<_>, _>>()?;
    let probed = args
        .http_url
        .iter()
        .map(|raw| RestTarget::parse(raw, &trust).map_err(|r| bad("http-url", r)))
        .collect::<Result<Vec<_>, _>>()?;
    if probed.len() != 1 && probed.len() != endpoints.len() {
        return Err(bad(
            "http-url",
            format!(
                "given {} times for {} --ws-url: give it once (the first node's) or once per \
                 --ws-url, in the same order",
                probed.len(),
                endpoints.len()
            ),
        ));
    }
    if args.node_pid.is_some() && probed.len() > 1 {
        return Err(bad(
            "node-pid",
            "reads one node's process; with several --http-url, each node's memory and CPU come \
             from its /metrics",
        ));
    }
    let rest = probed[0].clone();
    let publish_via = PublishVia::parse(&args.publish_via)?;
    if args.sockets == 0 {
        return Err(bad("sockets", "must be at least 1"));
    }
    if args.concurrency == 0 {
        return Err(bad("concurrency", "must be at least 1"));
    }
    if args.batch == 0 {
        return Err(bad("batch", "must be at least 1"));
    }
    if args.publish_concurrency == 0 {
        return Err(bad("publish-concurrency", "must be at least 1"));
    }
    if args.publish_concurrency > 1 && matches!(publish_via, PublishVia::Amqp(_)) {
        return Err(bad(
            "publish-concurrency",
            "applies to REST publishing only: through RabbitMQ, publishes are already sent \
             without waiting for their confirms (up to 10000 in flight)",
        ));
    }
    if args.payload_bytes > MAX_PAYLOAD_BYTES {
        return Err(bad(
            "payload-bytes",
            format!("at most {MAX_PAYLOAD_BYTES} (1 MiB)"),
        ));
    }
    let run_length = duration(
        "duration",
        &args.duration,
        args.scenario == Scenario::Connect,
    )?;
    let drain_timeout = duration("drain-timeout", &args.drain_timeout, true)?;
    let hold = duration("hold", &args.hold, false)?;
    let settle = duration("settle", &args.settle, true)?;
    let connect_timeout = duration("connect-timeout", &args.connect_timeout, false)?;
    let rate = args.rate.unwrap_or(match args.scenario {
        Scenario::Rest => 0.0,
        _ => DEFAULT_RATE,
    });
    // Slower than one event in 100 s is a typo, and would not fit a publishing period.
    if !(rate == 0.0 || rate.is_finite() && rate >= 0.01) {
        return Err(bad("rate", "must be 0 or 0.01 events per second or more"));
    }
    let publishes = match args.scenario {
        Scenario::Fanout if rate == 0.0 => {
            return Err(bad("rate", "fanout publishes: must be more than 0"));
        }
        Scenario::Fanout => true,
        Scenario::Churn | Scenario::Rest => rate > 0.0,
        Scenario::Connect | Scenario::Idle => false,
    };
    if args.rest_concurrency == 0 {
        return Err(bad("rest-concurrency", "must be at least 1"));
    }
    let mut rest_queries = if args.rest_query.is_empty() {
        RestQuery::ALL.to_vec()
    } else {
        args.rest_query.clone()
    };
    // A kind named twice is still one kind: cycling over it twice would only skew the mix.
    let mut seen = std::collections::BTreeSet::new();
    rest_queries.retain(|kind| seen.insert(*kind));
    let templates = args
        .binding
        .iter()
        .map(|b| Template::for_binding(b))
        .collect::<Result<Vec<_>, _>>()?;

    let capacity = open_file_limit.saturating_sub(RESERVED_FILES).max(1);
    let workers = match args.workers.as_str() {
        "auto" => (args.sockets as u64).div_ceil(capacity) as usize,
        given => {
            let workers: usize =
                given.parse().ok().filter(|w| *w > 0).ok_or_else(|| {
                    bad("workers", format!("{given:?} is not \"auto\" or a count"))
                })?;
            let per_worker = args.sockets.div_ceil(workers) as u64;
            if per_worker > capacity {
                return Err(bad(
                    "workers",
                    format!(
                        "{workers} would hold {per_worker} sockets each, more than the open-file \
                         limit of {open_file_limit} allows; use more workers, or auto"
                    ),
                ));
            }
            workers.min(args.sockets)
        }
    };
    if workers > MAX_WORKERS {
        return Err(bad(
            "workers",
            format!(
                "{} sockets need {workers} worker processes of {capacity} sockets each; at most \
                 {MAX_WORKERS}",
                args.sockets
            ),
        ));
    }

    let spreads = args.sockets_per_address > 0
        && endpoints
            .iter()
            .all(|e| e.addr.is_ipv4() && e.addr.ip().is_loopback());
    let source_addresses = if spreads {
        let needed = (args.sockets as u64).div_ceil(args.sockets_per_address as u64);
        if needed > MAX_SOURCE_ADDRESSES {
            return Err(bad(
                "sockets-per-address",
                "needs more than 127.0.0.0/8 holds",
            ));
        }
        needed as u32
    } else {
        0
    };

    // Through RabbitMQ, publishing needs no token.
    let publishes_by_rest = publishes && publish_via == PublishVia::Rest;
    let (accounts, subscriber_tokens, publish_token, token_source) =
        tokens_and_accounts(args, publishes_by_rest, credentials)?;

    Ok(Plan {
        settings: Settings {
            scenario: args.scenario,
            ws_urls: endpoints.iter().map(|e| e.url.clone()).collect(),
            http_urls: args.http_url.clone(),
            publish_via: publish_via.shown(),
            sockets: args.sockets,
            concurrency: args.concurrency,
            accounts: accounts.len(),
            first_account: accounts[0].to_string(),
            bindings: args.binding.clone(),
            duration_s: run_length.as_secs_f64(),
            rate,
            batch: args.batch,
            publish_concurrency: args.publish_concurrency,
            payload_bytes: args.payload_bytes,
            drain_timeout_s: drain_timeout.as_secs_f64(),
            hold_s: hold.as_secs_f64(),
            settle_s: settle.as_secs_f64(),
            connect_timeout_s: connect_timeout.as_secs_f64(),
            rest_concurrency: args.rest_concurrency,
            rest_rate: args.rest_rate,
            rest_queries: rest_queries.clone(),
            sockets_per_address: args.sockets_per_address,
            source_addresses,
            workers,
            open_file_limit,
            node_pid: args.node_pid,
            tokens: token_source,
        },
        scenario: args.scenario,
        endpoints,
        ca_file: args.ca_file.clone(),
        rest,
        probed,
        publish_via,
        publishes,
        accounts,
        templates,
        duration: run_length,
        drain_timeout,
        settle,
        padding: "x".repeat(args.payload_bytes),
        subscriber_tokens,
        publish_token,
        node_pid: args.node_pid,
        output: args.output.clone(),
        quiet: args.quiet,
        rest_queries,
        workers,
        hold,
        connect_timeout,
    })
}

type Credentials = (Vec<AccountId>, Vec<String>, Option<String>, String);

/// The subscribers' accounts and tokens, and the publishing token when the run publishes.
fn tokens_and_accounts(
    args: &LoadgenArgs,
    publishes: bool,
    credentials: &dyn NodeCredentials,
) -> Result<Credentials, PlanError> {
    let given_accounts = args
        .account_id
        .iter()
        .map(|raw| {
            AccountId::parse(raw).map_err(|_| {
                bad(
                    "account-id",
                    format!("{raw:?} is not an account id (32 lowercase hex characters)"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if given_accounts.is_empty() && args.accounts == 0 {
        return Err(bad("accounts", "must be at least 1"));
    }
    if given_accounts.len().max(args.accounts) > args.sockets {
        return Err(bad(
            "accounts",
            "more accounts than --sockets would leave some without a subscriber",
        ));
    }

    if let Some(token) = &args.token {
        let accounts = if !given_accounts.is_empty() {
            given_accounts
        } else if args.accounts == 1 {
            vec![account_of_token(credentials, token)?]
        } else {
            generated_accounts(args.accounts)
        };
        let publish_token = publishes.then(|| args.publish_token.clone().unwrap_or(token.clone()));
        return Ok((
            accounts,
            vec![token.clone()],
            publish_token,
            "--token".into(),
        ));
    }

    let accounts = if given_accounts.is_empty() {
        generated_accounts(args.accounts)
    } else {
        given_accounts
    };
    let minted = |account: &AccountId| {
        credentials
            .mint(&args.secret_file, account, MINTED_TTL)
            .map_err(|e| match e {
                CredentialError::Secret(e) => PlanError::Tokens(format!(
                    "no --token given, and tokens cannot be minted: {e} (pass --token, or \
                     --secret-file with the node's secret)"
                )),
                other => PlanError::Tokens(other.to_string()),
            })
    };
    let tokens = accounts.iter().map(minted).collect::<Result<Vec<_>, _>>()?;
    let publish_token = match (&args.publish_token, publishes) {
        (_, false) => None,
        (Some(token), true) => Some(token.clone()),
        (None, true) => Some(minted(&publisher_account(
            credentials,
            &args.accounts_file,
        )?)?),
    };
    let source = format!("minted from {}", args.secret_file.display());
    Ok((accounts, tokens, publish_token, source))
}

/// The first superduper account of the node's directory: only such an account may publish.
fn publisher_account(
    credentials: &dyn NodeCredentials,
    accounts_file: &std::path::Path,
) -> Result<AccountId, PlanError> {
    credentials
        .first_superduper(accounts_file)
        .map_err(|e| {
            PlanError::Tokens(format!(
                "no account to publish as: {e} (pass --publish-token, or --accounts-file with \
                 the node's directory)"
            ))
        })?
        .ok_or_else(|| {
            PlanError::Tokens(format!(
                "no superduper account in {} to publish as (pass --publish-token)",
                accounts_file.display()
            ))
        })
}

/// Fresh ids for this run, so that runs against one node never share accounts.
fn generated_accounts(count: usize) -> Vec<AccountId> {
    let run: u32 = rand::random();
    (0..count)
        .map(|i| AccountId::parse(&format!("{run:08x}{i:024x}")).expect("32 lowercase hex"))
        .collect()
}

/// The account a token claims, read without checking it (the node checks it).
fn account_of_token(
    credentials: &dyn NodeCredentials,
    token: &str,
) -> Result<AccountId, PlanError> {
    credentials.account_of(token).ok_or_else(|| {
        bad(
            "token",
            "has no readable account_id claim; pass --account-id for the account to subscribe to",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::testing::{FakeCredentials, MASTER, token_of};
    use clap::Parser;

    const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: LoadgenArgs,
    }

    /// The flags of `switchyard loadgen --token T …extra`, T a token of ACCOUNT.
    fn args(extra: &[&str]) -> LoadgenArgs {
        let token = token_of(&AccountId::parse(ACCOUNT).unwrap());
        let argv = [&["loadgen", "--token", &token][..], extra].concat();
        Command::try_parse_from(argv).unwrap().args
    }

    fn plan_with(args: &LoadgenArgs, open_file_limit: u64) -> Result<Plan, PlanError> {
        plan(args, open_file_limit, &FakeCredentials)
    }

    #[test]
    fn durations_take_units_or_bare_seconds() {
        let ok = |value| duration("d", value, false).unwrap();
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1s"), Duration::from_secs(1));
        assert_eq!(ok("30"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h 30m"), Duration::from_secs(5400));
        assert_eq!(duration("d", "0s", true).unwrap(), Duration::ZERO);
        assert_eq!(duration("d", "0", true).unwrap(), Duration::ZERO);
        assert_eq!(
            duration("d", "0", false).unwrap_err().to_string(),
            "--d: must be greater than 0"
        );
        let soon = duration("duration", "soon", false).unwrap_err().to_string();
        assert!(
            soon.starts_with("--duration: \"soon\" is not a duration"),
            "{soon}"
        );
        assert!(duration("d", "s", false).is_err());
    }

    #[test]
    fn clients_split_evenly_over_workers() {
        let plan = plan_with(&args(&["-n", "25", "--workers", "3"]), 20_000).unwrap();
        let specs = plan.worker_specs();
        let shares: Vec<(usize, usize)> = specs.iter().map(|s| (s.first, s.count)).collect();
        assert_eq!(shares, [(0, 9), (9, 9), (18, 7)]);
        assert!(plan.uses_worker_processes());
    }

    #[test]
    fn auto_takes_as_many_workers_as_the_file_limit_needs() {
        let plan = plan_with(&args(&["-n", "30000"]), 20_000).unwrap();
        assert_eq!(plan.settings.workers, 2);
        let plan = plan_of(&["-n", "100"]);
        assert_eq!(plan.settings.workers, 1);
        assert!(!plan.uses_worker_processes());
    }

    fn plan_of(extra: &[&str]) -> Plan {
        plan_with(&args(extra), 20_000).unwrap()
    }

    #[test]
    fn source_addresses_only_for_a_loopback_node() {
        assert_eq!(plan_of(&["-n", "2500"]).settings.source_addresses, 3);
        assert_eq!(
            plan_of(&["-n", "2500", "--sockets-per-address", "0"])
                .settings
                .source_addresses,
            0
        );
        let elsewhere = ["-n", "2500", "--ws-url", "ws://10.1.2.3:5555/"];
        assert_eq!(plan_of(&elsewhere).settings.source_addresses, 0);
    }

    #[test]
    fn a_token_alone_subscribes_to_its_own_account_and_is_never_in_the_settings() {
        let plan = plan_of(&[]);
        assert_eq!(plan.accounts.len(), 1);
        assert_eq!(plan.accounts[0].as_str(), ACCOUNT);
        assert_eq!(plan.settings.tokens, "--token");
        let settings = serde_json::to_string(&plan.settings).unwrap();
        assert!(!settings.contains(&plan.subscriber_tokens[0]));
        assert_eq!(plan.publish_token, Some(plan.subscriber_tokens[0].clone()));
        assert_eq!(plan_of(&["--scenario", "idle"]).publish_token, None);
    }

    #[test]
    fn rest_publishes_only_when_given_a_rate_and_asks_every_kind_by_default() {
        let quiet = plan_of(&["--scenario", "rest"]);
        assert_eq!(quiet.settings.rate, 0.0);
        assert_eq!(quiet.publish_token, None);
        assert_eq!(quiet.rest_queries, RestQuery::ALL);
        assert!(quiet.owes_deliveries());
        let publishing = plan_of(&["--scenario", "rest", "--rate", "5", "--rest-query", "page"]);
        assert!(publishing.publish_token.is_some());
        assert_eq!(publishing.rest_queries, [RestQuery::Page]);
        assert_eq!(plan_of(&[]).settings.rate, 100.0);
        assert_eq!(plan_of(&["--rate", "2.5"]).settings.rate, 2.5);
        let zero = plan_with(
            &args(&["--scenario", "rest", "--rest-concurrency", "0"]),
            20_000,
        );
        assert_eq!(
            zero.unwrap_err().to_string(),
            "--rest-concurrency: must be at least 1"
        );
    }

    #[test]
    fn generated_accounts_are_distinct_ids() {
        let plan = plan_of(&["--accounts", "3"]);
        assert_eq!(plan.accounts.len(), 3);
        assert_ne!(plan.accounts[0], plan.accounts[1]);
        assert_eq!(
            plan.accounts[0].as_str()[..8],
            plan.accounts[2].as_str()[..8]
        );
    }

    #[test]
    fn without_a_token_each_account_gets_a_minted_one_and_a_superduper_publishes() {
        let minted = |extra: &[&str]| {
            let argv = [&["loadgen", "-n", "4", "--accounts", "2"][..], extra].concat();
            plan_with(&Command::try_parse_from(argv).unwrap().args, 20_000)
        };
        let plan = minted(&[]).unwrap();
        let tokens: Vec<String> = plan.accounts.iter().map(token_of).collect();
        assert_eq!(plan.subscriber_tokens, tokens);
        let master = AccountId::parse(MASTER).unwrap();
        assert_eq!(plan.publish_token, Some(token_of(&master)));
        assert_eq!(plan.settings.tokens, "minted from .switchyard/secret");
        let missing = minted(&["--secret-file", "missing"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "no --token given, and tokens cannot be minted: secret file missing does not exist \
             (pass --token, or --secret-file with the node's secret)"
        );
    }

    #[test]
    fn publish_via_is_rest_by_default_or_an_amqp_url_that_needs_no_token() {
        let rest = plan_of(&[]);
        assert_eq!(rest.publish_via, PublishVia::Rest);
        assert_eq!(rest.settings.publish_via, "rest");
        assert_eq!(
            plan_of(&["--publish-via", "rest"]).publish_via,
            PublishVia::Rest
        );

        // Without --token: subscribers' tokens are minted, but no account is needed to publish.
        let argv = [
            "loadgen",
            "--accounts-file",
            "missing",
            "--publish-via",
            "amqp://guest:pa55word@127.0.0.1:5672/%2f",
        ];
        let amqp = plan_with(&Command::try_parse_from(argv).unwrap().args, 20_000).unwrap();
        assert!(matches!(amqp.publish_via, PublishVia::Amqp(_)));
        assert!(amqp.publishes);
        assert_eq!(amqp.publish_token, None);
        assert_eq!(
            amqp.settings.publish_via,
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        let settings = serde_json::to_string(&amqp.settings).unwrap();
        assert!(!settings.contains("pa55word"));
        assert!(!plan_of(&["--scenario", "idle"]).publishes);
    }

    #[test]
    fn publish_concurrency_is_one_by_default_at_least_one_and_rest_only() {
        let error = |argv: &[&str]| plan_with(&args(argv), 20_000).unwrap_err().to_string();
        let plan = plan_of(&[]);
        assert_eq!(plan.settings.publish_concurrency, 1);
        assert!(plan.worker_specs().iter().all(|s| s.reorder_window == 1));
        let plan = plan_of(&["--publish-concurrency", "8", "--batch", "1"]);
        assert_eq!(plan.settings.publish_concurrency, 8);
        assert!(plan.worker_specs().iter().all(|s| s.reorder_window == 64));
        assert_eq!(
            error(&["--publish-concurrency", "0"]),
            "--publish-concurrency: must be at least 1"
        );
        let amqp = ["--publish-via", "amqp://guest:guest@127.0.0.1:5672/%2f"];
        assert!(
            error(&[&amqp[..], &["--publish-concurrency", "2"]].concat())
                .starts_with("--publish-concurrency: applies to REST publishing only")
        );
        let one = plan_of(&[&amqp[..], &["--publish-concurrency", "1"]].concat());
        assert!(matches!(one.publish_via, PublishVia::Amqp(_)));
    }

    #[test]
    fn publish_via_refuses_other_schemes_by_name() {
        let error = |value: &str| {
            plan_with(&args(&["--publish-via", value]), 20_000)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("http://127.0.0.1:15672/"),
            "--publish-via: \"http://127.0.0.1:15672/\" is not \"rest\" or an amqp:// URL"
        );
        assert!(error("amqps://u:pw@h/").starts_with("--publish-via: \"amqps://u:***@h/\""));
        assert!(error("REST").starts_with("--publish-via: \"REST\" is not"));
        assert!(error("amqp://").contains("names no host"));
    }

    #[test]
    fn several_nodes_take_the_http_url_once_or_once_each() {
        let two = [
            "--ws-url",
            "ws://127.0.0.1:5555/",
            "--ws-url",
            "ws://127.0.0.2:5556/",
        ];
        let plan = plan_of(&two);
        assert_eq!(plan.endpoints.len(), 2);
        assert_eq!(plan.probed.len(), 1);
        assert_eq!(
            plan.settings.ws_urls,
            ["ws://127.0.0.1:5555/", "ws://127.0.0.2:5556/"]
        );
        assert_eq!(plan.worker_specs()[0].ws_urls, plan.settings.ws_urls);
        let each = [
            &two[..],
            &["--http-url", "http://127.0.0.1:8000"],
            &["--http-url", "http://127.0.0.1:8001"],
        ]
        .concat();
        let plan = plan_of(&each);
        assert_eq!(plan.probed.len(), 2);
        assert_eq!(plan.rest.addr, "127.0.0.1:8000".parse().unwrap());
        let three = [&each[..], &["--http-url", "http://127.0.0.1:8002"]].concat();
        let error = plan_with(&args(&three), 20_000).unwrap_err().to_string();
        assert!(
            error.starts_with("--http-url: given 3 times for 2 --ws-url"),
            "{error}"
        );
        let pid = [&each[..], &["--node-pid", "1"]].concat();
        let error = plan_with(&args(&pid), 20_000).unwrap_err().to_string();
        assert!(error.starts_with("--node-pid: reads one node"), "{error}");
        let bad = plan_with(
            &args(&[&two[..], &["--ws-url", "http://x/"]].concat()),
            20_000,
        );
        assert!(bad.unwrap_err().to_string().starts_with("--ws-url: "));
        // Source addresses only when every node is on loopback.
        let far = [
            "-n",
            "2500",
            "--ws-url",
            "ws://127.0.0.1:1/",
            "--ws-url",
            "ws://10.1.2.3:1/",
        ];
        assert_eq!(plan_of(&far).settings.source_addresses, 0);
        assert_eq!(
            plan_of(&[&two[..], &["-n", "2500"]].concat())
                .settings
                .source_addresses,
            3
        );
    }

    #[test]
    fn a_token_without_a_readable_account_needs_account_id() {
        let argv = ["loadgen", "--token", "opaque"];
        let error = plan_with(&Command::try_parse_from(argv).unwrap().args, 20_000);
        assert!(
            error
                .unwrap_err()
                .to_string()
                .starts_with("--token: has no readable account_id claim"),
        );
    }
}
