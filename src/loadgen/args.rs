//! `switchyard loadgen` flags, as typed. [`super::plan`] checks them and resolves tokens,
//! accounts and source addresses.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
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
}

#[derive(Debug, Clone, Args)]
#[command(after_long_help = "\
Exit status: 0 the run completed with no failed connection and no lost event; 1 the run could \
not be made (node unreachable, token refused, subscription refused, a worker died); 2 a bad flag; \
3 the run completed but some connections failed or some events were lost.

Tokens: with --token, every subscriber uses it (and publishes with it unless --publish-token is \
given). Without it, tokens are minted from --secret-file: one per subscriber account, and one for \
the first superduper account of --accounts-file to publish with. Run from a node's directory, the \
defaults find the files `switchyard serve` created. Tokens never appear in the output.")]
pub struct LoadgenArgs {
    /// What to measure
    #[arg(long, value_enum, default_value_t = Scenario::Fanout)]
    pub scenario: Scenario,

    /// The node's websocket URL
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:5555/")]
    pub ws_url: String,

    /// The node's REST base URL (publishing and /metrics)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8000")]
    pub http_url: String,

    /// Websocket clients to open (churn: clients alive at once)
    #[arg(short = 'n', long, value_name = "N", default_value_t = 1000)]
    pub sockets: usize,

    /// Handshakes in flight at once, per worker
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub concurrency: usize,

    /// Accounts the sockets are spread over, round robin (generated ids)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        conflicts_with = "account_id"
    )]
    pub accounts: usize,

    /// Use this account instead of generated ones; repeat for several
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account_id: Vec<String>,

    /// Binding every subscriber holds; repeat for several. Events are published for each in turn
    #[arg(long, value_name = "BINDING", default_value = "call.CHANNEL_CREATE.*")]
    pub binding: Vec<String>,

    /// How long to hold (idle), publish (fanout) or churn (churn)
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub duration: String,

    /// Events published per second (fanout: at least 1; churn: 0 publishes nothing)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub rate: u32,

    /// Events per POST /v2/events
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub batch: u32,

    /// Padding added to each event's payload, to test bigger events
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub payload_bytes: usize,

    /// Fanout: after the last publish, how long to wait for deliveries still on their way
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub drain_timeout: String,

    /// Churn: how long each client stays subscribed before it leaves
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub hold: String,

    /// Churn: how long to let the node settle before reading its figures again
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub settle: String,

    /// Give up on one connection (TCP, handshake and subscribe reply) after this long
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub connect_timeout: String,

    /// Sockets per source address: clients bind to 127.0.0.1, 127.0.0.2, … so that a node's
    /// per-IP limit and the 28k ephemeral ports per address do not cap the run (loopback nodes
    /// only; 0 binds no source address)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub sockets_per_address: usize,

    /// Worker processes holding the sockets; "auto" uses as many as this process's open-file
    /// limit requires
    #[arg(long, value_name = "N|auto", default_value = "auto")]
    pub workers: String,

    /// Token every subscriber uses (default: minted per account from --secret-file)
    #[arg(
        long,
        value_name = "JWT",
        env = "SWITCHYARD_LOADGEN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Token to publish with; must belong to a superduper account (default: --token, or minted
    /// for the first superduper account of --accounts-file)
    #[arg(long, value_name = "JWT", hide_env_values = true)]
    pub publish_token: Option<String>,

    /// The node's HS256 secret, to mint tokens when --token is not given
    #[arg(long, value_name = "FILE", default_value = ".switchyard/secret")]
    pub secret_file: PathBuf,

    /// The node's account directory, to find a superduper account to publish as
    #[arg(long, value_name = "FILE", default_value = ".switchyard/accounts.json")]
    pub accounts_file: PathBuf,

    /// The node's process id: its memory and CPU time are read from /proc/PID (default: the
    /// process_resident_memory_bytes and process_cpu_seconds_total of its /metrics)
    #[arg(long, value_name = "PID")]
    pub node_pid: Option<u32>,

    /// Where to write every figure and the exact settings as JSON
    #[arg(long, value_name = "FILE", default_value = "loadgen-report.json")]
    pub output: PathBuf,

    /// No progress bar
    #[arg(long)]
    pub quiet: bool,

    /// Internal: run as a worker process of another loadgen (spec on stdin, figures on stdout)
    #[arg(long, hide = true)]
    pub worker: bool,
}
