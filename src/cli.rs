//! The command line (SPEC 1). `serve` flags are taken as raw strings: parsing, validation and the
//! one-line error for a bad value live in [`crate::config`], which layers them over the config
//! file and the environment. Their help states the defaults of [`config::Settings::default`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use clap::{Arg, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::Serialize;

use crate::config;
pub use switchyard_loadgen::LoadgenArgs;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A real-time event fabric for telecom platforms, wire-compatible with KAZOO websockets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: websockets on --ws-listen, REST on --http-listen.
    ///
    /// Settings, lowest to highest precedence: built-in defaults, the TOML file given with
    /// --config, SWITCHYARD_<KEY> environment variables (e.g. SWITCHYARD_WS_LISTEN;
    /// SWITCHYARD_JWT_PUBLIC_KEYS is comma-separated), these flags. Durations: 500ms, 30s, 5m,
    /// 1h, 1h 30m; a bare number is seconds. A bad value stops the node with one line naming it.
    Serve(ServeArgs),
    /// Print a token (HS256, signed with the node's secret) for an account.
    Token(TokenArgs),
    /// Drive load against a node and measure it: connect, idle, fanout, churn or rest.
    ///
    /// Clients are spread over source addresses 127.0.0.x and, when one process's open-file
    /// limit is not enough, over worker processes. Prints a summary and writes every figure and
    /// the exact settings as JSON.
    Loadgen(LoadgenArgs),
}

/// The command line as the binary parses it: [`Cli`], with each `serve` flag's help ending in
/// its default as [`config::Settings::default`] has it, so that help and code cannot disagree.
pub fn command() -> clap::Command {
    let defaults = config::default_texts();
    Cli::command().mut_subcommand("serve", |serve| {
        serve.mut_args(|arg| with_default(arg, &defaults))
    })
}

/// The process's arguments through [`command`]; exits on `--help` or a usage error.
pub fn parse() -> Cli {
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|error| error.exit())
}

fn with_default(arg: Arg, defaults: &BTreeMap<String, String>) -> Arg {
    let Some(default) = defaults.get(arg.get_id().as_str()) else {
        return arg;
    };
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    arg.help(format!("{help} [default: {default}]"))
}

/// `serve` flags, as typed; see [`crate::config`]. Each field is named as its setting's key, and
/// serializes (when given) as that key's value in the flags layer.
#[derive(Debug, Default, Clone, Args, Serialize)]
pub struct ServeArgs {
    /// TOML file of settings; keys are the snake_case setting names, e.g. ws_listen = "0.0.0.0:5555"
    /// [env: SWITCHYARD_CONFIG] [default: none]
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<String>,

    /// Address:port for websocket clients; any path upgrades
    #[arg(long, value_name = "ADDR:PORT")]
    pub ws_listen: Option<String>,

    /// Address:port for the REST API
    #[arg(long, value_name = "ADDR:PORT")]
    pub http_listen: Option<String>,

    /// Event bus: "embedded" (this node alone) or an amqp://user:password@host:port/vhost
    /// RabbitMQ URL (cluster mode: KAZOO's exchanges, every node of the vhost one fabric)
    #[arg(long, value_name = "embedded|URL")]
    pub bus: Option<String>,

    /// This node's name in the cluster
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// HS256 signing secret; created (mode 0600) with a random secret if absent
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<String>,

    /// Account directory (JSON: parents and superduper accounts), reread on SIGHUP; created
    /// with one superduper "master" account if absent; "" for none (each token then acts on
    /// its own account only)
    #[arg(long, value_name = "FILE")]
    pub accounts_file: Option<String>,

    /// PEM file of an RS256 public key whose tokens are accepted (e.g. KAZOO's); repeat for
    /// several keys
    #[arg(long = "jwt-public-key", value_name = "FILE")]
    pub jwt_public_keys: Vec<String>,

    /// Websocket connections allowed from one IP address, counted from accept; more are refused
    /// with HTTP 429
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<String>,

    /// Authenticated sockets allowed per account
    #[arg(long, value_name = "N")]
    pub max_connections_per_account: Option<String>,

    /// Bindings one socket may hold
    #[arg(long, value_name = "N")]
    pub max_bindings_per_socket: Option<String>,

    /// The longest id (any word) a binding may hold; longer ones are refused
    #[arg(long, value_name = "BYTES")]
    pub max_binding_id_bytes: Option<String>,

    /// The bytes of binding strings one socket may hold, and one frame may name, so that every
    /// reply stays far below max_frame_bytes
    #[arg(long, value_name = "BYTES")]
    pub max_binding_bytes_per_socket: Option<String>,

    /// Requests a socket may send in a burst before rate limiting
    #[arg(long, value_name = "N")]
    pub rate_limit_burst: Option<String>,

    /// Requests per second a socket's rate limit refills
    #[arg(long, value_name = "N")]
    pub rate_limit_per_second: Option<String>,

    /// Largest websocket frame accepted from a client; larger closes with 1009
    #[arg(long, value_name = "BYTES")]
    pub max_frame_bytes: Option<String>,

    /// How long a socket's oldest unsent frame may wait; past it the socket is a slow consumer
    /// (a client that keeps reading is never cut for a burst it drains within it)
    #[arg(long, value_name = "DURATION")]
    pub max_lag: Option<String>,

    /// Bytes queued for one socket; past it the socket is a slow consumer
    #[arg(long, value_name = "BYTES")]
    pub outbound_queue_bytes: Option<String>,

    /// Bytes queued over every socket of the node; past it the sockets holding the most are
    /// treated as slow consumers until the node is back under
    #[arg(long, value_name = "BYTES")]
    pub max_queued_bytes: Option<String>,

    /// What to do with a slow consumer: "disconnect" (close 1008 "slow consumer") or
    /// "drop_oldest" (drop its frames older than max_lag or beyond the byte bounds)
    #[arg(long, value_name = "POLICY")]
    pub slow_consumer_policy: Option<String>,

    /// How often the server pings each socket
    #[arg(long, value_name = "DURATION")]
    pub ping_interval: Option<String>,

    /// Close an idle socket (1001) after this long
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,

    /// On SIGTERM/SIGINT, how long to wait for sockets to close (each is sent 1001, and REST
    /// answers 503 for new work meanwhile); 0 does not wait
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,

    /// On SIGUSR1 (or POST /v2/drain without a duration), how long to take closing every
    /// socket, a few at a time; new sockets are answered 503 meanwhile
    #[arg(long, value_name = "DURATION")]
    pub drain_duration: Option<String>,

    /// How long a REST request waits for an answer from the fabric before a 503
    #[arg(long, value_name = "DURATION")]
    pub query_timeout: Option<String>,

    /// REST connections open at once; more are answered 503 and closed
    #[arg(long, value_name = "N")]
    pub max_rest_connections: Option<String>,

    /// Websockets open at once, handshakes included; more are answered 503 (the default is what
    /// the open-file limit leaves for them)
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,

    /// Websocket handshakes under way at once; past it the oldest gives way
    #[arg(long, value_name = "N")]
    pub max_handshakes: Option<String>,

    /// Log lines as "text" or "json" (one object per line); SWITCHYARD_LOG or RUST_LOG filter
    /// them, as in "info,switchyard::ws=debug"
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// PEM certificate chain: both listeners then speak TLS only (wss://, https://); reread on
    /// SIGHUP, for new connections
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub tls_cert_file: Option<String>,

    /// PEM private key of the TLS certificate; reread with it
    #[arg(long = "tls-key", value_name = "FILE")]
    pub tls_key_file: Option<String>,
}

/// The README's table of settings: each `serve` setting with its flag, its variable, its default
/// and the flag's own help, so that the documentation cannot drift from the settings.
pub fn settings_table() -> String {
    let defaults = config::documented_defaults();
    let mut table =
        String::from("| key | flag, variable | default | meaning |\n|---|---|---|---|\n");
    for arg in ServeArgs::augment_args(clap::Command::new("serve")).get_arguments() {
        let key = arg.get_id().as_str();
        let (Some(default), Some(long)) = (defaults.get(key), arg.get_long()) else {
            continue;
        };
        let default = match default.as_str() {
            "none" => "none".to_string(),
            text if text.contains(' ') && !text.contains('{') => text.to_string(),
            text => format!("`{text}`"),
        };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let help = help.replace('\n', " ").replace('|', "\\|");
        let env = format!("SWITCHYARD_{}", key.to_uppercase());
        table.push_str(&format!(
            "| `{key}` | `--{long}`, `{env}` | {default} | {help} |\n"
        ));
    }
    table
}

impl ServeArgs {
    /// Each flag by its setting's key: `"ws_listen"` → `"--ws-listen"`.
    pub fn flag_names() -> HashMap<String, String> {
        ServeArgs::augment_args(clap::Command::new("serve"))
            .get_arguments()
            .filter_map(|arg| Some((arg.get_id().to_string(), format!("--{}", arg.get_long()?))))
            .collect()
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Account id the token speaks for (32 lowercase hex characters)
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account: String,

    /// Lifetime of the token in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub ttl: u64,

    /// The node's HS256 secret file (as --secret-file of serve); never created by this command
    #[arg(long, value_name = "FILE", default_value = ".switchyard/secret")]
    pub secret_file: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    const TABLE_BEGIN: &str =
        "<!-- settings: generated from the serve flags by cli::settings_table -->";
    const TABLE_END: &str = "<!-- settings: end -->";

    /// Fails when a setting's flag, default or help changed and the README did not; with
    /// SWITCHYARD_WRITE_README=1 it writes the new table into the README instead.
    #[test]
    fn the_readme_settings_table_is_generated_from_the_flags() {
        crate::readme::check_block(TABLE_BEGIN, TABLE_END, &settings_table()).unwrap();
    }

    #[test]
    fn every_setting_is_in_the_table() {
        let table = settings_table();
        for key in config::default_texts().keys() {
            assert!(table.contains(&format!("| `{key}` |")), "{key} missing");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_parse_as_raw_strings() {
        let cli = Cli::try_parse_from([
            "switchyard",
            "serve",
            "--ws-listen",
            "0.0.0.0:1",
            "--jwt-public-key",
            "a.pem",
            "--jwt-public-key",
            "b.pem",
            "--idle-timeout",
            "5m",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.ws_listen.as_deref(), Some("0.0.0.0:1"));
        assert_eq!(args.jwt_public_keys, ["a.pem", "b.pem"]);
        assert_eq!(args.idle_timeout.as_deref(), Some("5m"));
        assert_eq!(args.bus, None);
    }

    #[test]
    fn every_serve_flag_states_its_default() {
        let mut cli = command();
        let serve = cli.find_subcommand_mut("serve").unwrap();
        for arg in serve.get_arguments() {
            if arg.get_id() == "help" {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.contains("[default: "), "--{}: {help}", arg.get_id());
            assert_eq!(
                help.matches("[default: ").count(),
                1,
                "--{}: {help}",
                arg.get_id()
            );
        }
    }

    #[test]
    fn serve_help_shows_the_defaults_of_the_code() {
        let defaults = Settings::default();
        let mut cli = command();
        let help = cli
            .find_subcommand_mut("serve")
            .unwrap()
            .render_help()
            .to_string();
        for expected in [
            format!("[default: {}]", defaults.ws_listen),
            format!("[default: {}]", defaults.node_name),
            "[default: embedded]".to_string(),
            "[default: none]".to_string(),
            format!("[default: {}]", defaults.max_bindings_per_socket),
            "[default: 30s]".to_string(),
        ] {
            assert!(help.contains(&expected), "{expected} not in {help}");
        }
    }

    #[test]
    fn token_defaults() {
        let cli = Cli::try_parse_from(["switchyard", "token", "--account", "x"]).unwrap();
        let Command::Token(args) = cli.command else {
            panic!("not token")
        };
        assert_eq!(args.ttl, 3600);
        assert_eq!(args.secret_file, PathBuf::from(".switchyard/secret"));
        assert!(Cli::try_parse_from(["switchyard", "token"]).is_err());
    }
}
