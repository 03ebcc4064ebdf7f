//! `switchyard loadgen` flags, as typed. [`super::plan`] checks them and resolves tokens,
//! accounts and source addresses.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scenario {
    /// Open --sockets sockets as fast as the node accepts them; report the rate and failures.
    Connect,
    /// Hold --sockets subscribed sockets for --duration; report the node's memory per socket.
    Idle,
    /// --sockets subscribers; publish at --rate for --duration; report deliveries per second,
    /// publish-to-receipt latency and losses.
    Fanout,
    /// --sockets slots that connect, subscribe, receive for --hold and leave, over and over,
    /// for --duration; report whether the node's sockets and memory come back to baseline.
    Churn,
    /// --sockets subscribers, then for --duration --rest-concurrency REST queries in flight
    /// (--rest-query); report each kind's rate, latency and failures. With --rate, also
    /// publishes and reports the fan-out as fanout does.
    Rest,
}

/// A REST query of the rest scenario: what an operator's dashboard asks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RestQuery {
    /// GET /v2/accounts/{A}/websockets: every socket of an account
    List,
    /// GET /v2/accounts/{A}/websockets?page_size=100&start_key={ID}: one page, from a random socket
    Page,
    /// GET /v2/accounts/{A}/websockets/{ID}: one random socket
    Socket,
}

impl RestQuery {
    pub(crate) const ALL: [RestQuery; 3] = [RestQuery::List, RestQuery::Page, RestQuery::Socket];

    pub(crate) fn name(self) -> &'static str {
        match self {
            RestQuery::List => "list",
            RestQuery::Page => "page",
            RestQuery::Socket => "socket",
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Exit status: 0 the run completed with no failed connection, no lost event and no failed query; 1 the run could \
not be made (node unreachable, token refused, subscription refused, a worker died); 2 a bad flag; \
3 the run completed but some connections failed, some events were lost, some publishes failed \
(RabbitMQ) or some REST queries failed.

Tokens: with --token, every subscriber uses it (and publishes with it unless --publish-token is \
given). Without it, tokens are minted from --secret-file: one per subscriber account, and one for \
the first superduper account of --accounts-file to publish with. Run from a node's directory, the \
defaults find the files `switchyard serve` created. The rest scenario queries each account with \
its subscribers' token. Tokens never appear in the output. Publishing through RabbitMQ needs no \
token; the broker URL appears in the output with its password hidden.

RabbitMQ (--publish-via amqp://…): each event goes to its KAZOO exchange (callevt, configuration, \
faxes, conference; declared as KAZOO declares them, topic and not durable, when absent) with \
KAZOO's incoming routing key (call.{EVENT}.{CALL_ID} for call events), the payload as the JSON \
body, content type application/json. Publishes are confirmed by the broker; up to 10000 are in \
flight at once, and a nacked or unconfirmed one counts as failed. The node must be in cluster mode \
on that broker and vhost, or nothing is delivered.

Several nodes (--ws-url repeated): client i goes to node (i / accounts) mod nodes, so each \
account's subscribers are spread evenly over the nodes. Each node is reached and tried with a \
first subscriber before the run. The report gives each node's connections.

Rest: a first whole list of each account tells the queries its socket ids. Each answer is checked: \
a whole list must hold exactly the account's sockets of this run, a page the sockets from its \
start_key on (at most 100), a lookup the socket asked for; a wrong answer counts as a failed query, \
by reason.")]
pub struct LoadgenArgs {
    /// What to measure
    #[arg(long, value_enum, default_value_t = Scenario::Fanout)]
    pub(crate) scenario: Scenario,

    /// A node's websocket URL; repeat for several nodes: clients take them in turn, so that
    /// every account's subscribers are spread over every node
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:5555/")]
    pub(crate) ws_url: Vec<String>,

    /// The node's REST base URL (publishing, /metrics, the rest scenario's queries). With
    /// several --ws-url: give it once (the first node's: node figures are then the first node's
    /// only) or once per --ws-url, in the same order (node figures are summed over the nodes).
    /// Publishing and the rest scenario's queries always use the first
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8000")]
    pub(crate) http_url: Vec<String>,

    /// PEM file of certificate authorities (or of the node's self-signed certificate) trusted
    /// for wss:// and https:// URLs, besides the system's
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<std::path::PathBuf>,

    /// How events are published: "rest" (POST /v2/events to the first --http-url), or an
    /// amqp://user:password@host:port/vhost URL: straight to RabbitMQ, as KAZOO publishes them
    /// (its exchanges and routing keys, JSON payload, publisher confirms); for nodes in
    /// cluster mode (`--bus amqp://…`) on that broker
    #[arg(long, value_name = "rest|URL", default_value = "rest")]
    pub(crate) publish_via: String,

    /// Websocket clients to open (churn: clients alive at once)
    #[arg(short = 'n', long, value_name = "N", default_value_t = 1000)]
    pub(crate) sockets: usize,

    /// Handshakes in flight at once, per worker
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub(crate) concurrency: usize,

    /// Accounts the sockets are spread over, round robin (generated ids)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        conflicts_with = "account_id"
    )]
    pub(crate) accounts: usize,

    /// Use this account instead of generated ones; repeat for several
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub(crate) account_id: Vec<String>,

    /// Binding every subscriber holds; repeat for several. Events are published for each in turn
    #[arg(long, value_name = "BINDING", default_value = "call.CHANNEL_CREATE.*")]
    pub(crate) binding: Vec<String>,

    /// How long to hold (idle), publish (fanout), churn (churn) or query (rest)
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) duration: String,

    /// Events published per second, fractions allowed (2.5: a batch every 0.4 s at --batch 1)
    /// (fanout: more than 0, default 100; churn: default 100, 0 publishes nothing; rest:
    /// default 0, which publishes nothing)
    #[arg(long, value_name = "N")]
    pub(crate) rate: Option<f64>,

    /// Events published at once, per tick: one POST /v2/events, or that many AMQP publishes
    /// sent without waiting for their confirms
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) batch: u32,

    /// REST publishing: POST /v2/events requests in flight at once, each on a kept-alive
    /// connection of its own. Events are still stamped in order at --rate; 1 waits for each
    /// answer before the next. Not with --publish-via amqp://… (it keeps confirms in flight)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) publish_concurrency: usize,

    /// Padding added to each event's payload, to test bigger events
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(crate) payload_bytes: usize,

    /// Fanout: after the last publish, how long to wait for deliveries still on their way
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) drain_timeout: String,

    /// Rest: queries in flight at once, each on a kept-alive connection of its own
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) rest_concurrency: usize,

    /// Rest: queries per second over all connections, as polling dashboards ask; 0 asks again
    /// as soon as each answer is in
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) rest_rate: u32,

    /// Rest: the queries to cycle over; repeat for several (default: all three)
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) rest_query: Vec<RestQuery>,

    /// Churn: how long each client stays subscribed before it leaves
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub(crate) hold: String,

    /// Churn: how long to let the node settle before reading its figures again
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub(crate) settle: String,

    /// Give up on one connection (TCP, handshake and subscribe reply) after this long
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) connect_timeout: String,

    /// Sockets per source address: clients bind to 127.0.0.1, 127.0.0.2, … so that a node's
    /// per-IP limit and the 28k ephemeral ports per address do not cap the run (loopback nodes
    /// only; 0 binds no source address)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub(crate) sockets_per_address: usize,

    /// Worker processes holding the sockets; "auto" uses as many as this process's open-file
    /// limit requires
    #[arg(long, value_name = "N|auto", default_value = "auto")]
    pub(crate) workers: String,

    /// Token every subscriber uses (default: minted per account from --secret-file)
    #[arg(
        long,
        value_name = "JWT",
        env = "SWITCHYARD_LOADGEN_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Token to publish with; must belong to a superduper account (default: --token, or minted
    /// for the first superduper account of --accounts-file)
    #[arg(long, value_name = "JWT", hide_env_values = true)]
    pub(crate) publish_token: Option<String>,

    /// The node's HS256 secret, to mint tokens when --token is not given
    #[arg(long, value_name = "FILE", default_value = ".switchyard/secret")]
    pub(crate) secret_file: PathBuf,

    /// The node's account directory, to find a superduper account to publish as
    #[arg(long, value_name = "FILE", default_value = ".switchyard/accounts.json")]
    pub(crate) accounts_file: PathBuf,

    /// The node's process id: its memory and CPU time are read from /proc/PID (default: the
    /// process_resident_memory_bytes and process_cpu_seconds_total of its /metrics); one node
    /// only (not with several --http-url)
    #[arg(long, value_name = "PID")]
    pub(crate) node_pid: Option<u32>,

    /// Where to write every figure and the exact settings as JSON
    #[arg(long, value_name = "FILE", default_value = "loadgen-report.json")]
    pub(crate) output: PathBuf,

    /// No progress bar
    #[arg(long)]
    pub(crate) quiet: bool,

    /// Internal: run as a worker process of another loadgen (spec on stdin, figures on stdout)
    #[arg(long, hide = true)]
    pub(crate) worker: bool,
}
