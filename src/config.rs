//! Settings: built-in defaults < TOML file (`--config`) < `SWITCHYARD_<KEY>` env < flags.
//!
//! Every raw value, whatever its source, goes through the same parser, so a bad value gives the
//! same one-line error naming the key, where it came from and what is wrong with it. An empty
//! `accounts_file` or `jwt_public_keys` clears what a lower layer set.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use switchyard_actors::limits::Limits;
use switchyard_actors::outbox::SlowConsumerPolicy;

use crate::cli::ServeArgs;

/// Where events travel between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusSetting {
    /// In-process: one node alone.
    Embedded,
    /// RabbitMQ at this `amqp://` URL.
    Amqp(String),
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub ws_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub bus: BusSetting,
    pub node_name: String,
    pub secret_file: PathBuf,
    /// The account directory; created with one superduper account when missing. `None`: no
    /// directory, every token acts on its own account only.
    pub accounts_file: Option<PathBuf>,
    /// PEM files of RS256 public keys (tokens issued by KAZOO).
    pub jwt_public_keys: Vec<PathBuf>,
    pub max_connections_per_ip: usize,
    pub max_frame_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// How long a REST handler waits for the fabric before answering 503.
    pub query_timeout: Duration,
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ws_listen: SocketAddr::from(([127, 0, 0, 1], 5555)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            bus: BusSetting::Embedded,
            node_name: "switchyard@localhost".to_string(),
            secret_file: PathBuf::from(".switchyard/secret"),
            accounts_file: Some(PathBuf::from(".switchyard/accounts.json")),
            jwt_public_keys: Vec::new(),
            max_connections_per_ip: 1000,
            max_frame_bytes: 65536,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(10),
            query_timeout: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

/// Where a raw value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Env(var) => f.write_str(var),
            Origin::Flag(flag) => f.write_str(flag),
        }
    }
}

/// A setting refused at start. Displays as one line (SPEC 1).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {reason}", path.display())]
    ReadFile { path: PathBuf, reason: String },
    /// Syntax errors and unknown keys.
    #[error("config file {}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    #[error("invalid value for {key} (from {origin}): {problem}")]
    Invalid {
        key: &'static str,
        origin: Origin,
        problem: String,
    },
}

impl Settings {
    /// Settings from `args`, the config file they name and the process environment.
    pub fn load(args: &ServeArgs) -> Result<Settings, ConfigError> {
        // vars() panics on a non-UTF-8 variable anywhere in the environment; ours must be text.
        let env = std::env::vars_os().filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            k.starts_with(ENV_PREFIX)
                .then(|| (k, v.to_string_lossy().into_owned()))
        });
        Self::load_from(args, env)
    }

    /// [`Settings::load`] with the environment given (for tests).
    pub fn load_from(
        args: &ServeArgs,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        load_layers(args, env.into_iter())
    }
}

fn load_layers(
    args: &ServeArgs,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = env.filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();

    let mut settings = Settings::default();
    if let Some(host) = hostname() {
        settings.node_name = format!("switchyard@{host}");
    }

    let config = match (&args.config, env.get(CONFIG_ENV)) {
        (Some(path), _) => Some((path.as_str(), Origin::Flag("--config"))),
        (None, Some(path)) => Some((path.as_str(), Origin::Env(CONFIG_ENV.to_string()))),
        (None, None) => None,
    };
    if let Some((path, origin)) = config {
        let path = path.trim();
        if path.is_empty() {
            return Err(ConfigError::Invalid {
                key: "config",
                origin,
                problem: "empty file name".to_string(),
            });
        }
        apply_file(&mut settings, &PathBuf::from(path))?;
    }

    for key in Key::ALL {
        if let Some(value) = env.get(&key.env_var()) {
            let raw = if key == Key::JwtPublicKeys {
                Raw::Many(value.split(',').map(str::to_string).collect())
            } else {
                Raw::One(value.clone())
            };
            apply(&mut settings, key, raw, &Origin::Env(key.env_var()))?;
        }
    }

    for key in Key::ALL {
        if let Some(raw) = flag_value(args, key) {
            apply(&mut settings, key, raw, &Origin::Flag(key.flag()))?;
        }
    }

    Ok(settings)
}

const ENV_PREFIX: &str = "SWITCHYARD_";
const CONFIG_ENV: &str = "SWITCHYARD_CONFIG";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    WsListen,
    HttpListen,
    Bus,
    NodeName,
    SecretFile,
    AccountsFile,
    JwtPublicKeys,
    MaxConnectionsPerIp,
    MaxConnectionsPerAccount,
    MaxBindingsPerSocket,
    RateLimitBurst,
    RateLimitPerSecond,
    MaxFrameBytes,
    OutboundQueueFrames,
    OutboundQueueBytes,
    SlowConsumerPolicy,
    PingInterval,
    IdleTimeout,
    ShutdownGrace,
    QueryTimeout,
}

impl Key {
    const ALL: [Key; 20] = [
        Key::WsListen,
        Key::HttpListen,
        Key::Bus,
        Key::NodeName,
        Key::SecretFile,
        Key::AccountsFile,
        Key::JwtPublicKeys,
        Key::MaxConnectionsPerIp,
        Key::MaxConnectionsPerAccount,
        Key::MaxBindingsPerSocket,
        Key::RateLimitBurst,
        Key::RateLimitPerSecond,
        Key::MaxFrameBytes,
        Key::OutboundQueueFrames,
        Key::OutboundQueueBytes,
        Key::SlowConsumerPolicy,
        Key::PingInterval,
        Key::IdleTimeout,
        Key::ShutdownGrace,
        Key::QueryTimeout,
    ];

    /// (TOML key, flag)
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Key::WsListen => ("ws_listen", "--ws-listen"),
            Key::HttpListen => ("http_listen", "--http-listen"),
            Key::Bus => ("bus", "--bus"),
            Key::NodeName => ("node_name", "--node-name"),
            Key::SecretFile => ("secret_file", "--secret-file"),
            Key::AccountsFile => ("accounts_file", "--accounts-file"),
            Key::JwtPublicKeys => ("jwt_public_keys", "--jwt-public-key"),
            Key::MaxConnectionsPerIp => ("max_connections_per_ip", "--max-connections-per-ip"),
            Key::MaxConnectionsPerAccount => (
                "max_connections_per_account",
                "--max-connections-per-account",
            ),
            Key::MaxBindingsPerSocket => ("max_bindings_per_socket", "--max-bindings-per-socket"),
            Key::RateLimitBurst => ("rate_limit_burst", "--rate-limit-burst"),
            Key::RateLimitPerSecond => ("rate_limit_per_second", "--rate-limit-per-second"),
            Key::MaxFrameBytes => ("max_frame_bytes", "--max-frame-bytes"),
            Key::OutboundQueueFrames => ("outbound_queue_frames", "--outbound-queue-frames"),
            Key::OutboundQueueBytes => ("outbound_queue_bytes", "--outbound-queue-bytes"),
            Key::SlowConsumerPolicy => ("slow_consumer_policy", "--slow-consumer-policy"),
            Key::PingInterval => ("ping_interval", "--ping-interval"),
            Key::IdleTimeout => ("idle_timeout", "--idle-timeout"),
            Key::ShutdownGrace => ("shutdown_grace", "--shutdown-grace"),
            Key::QueryTimeout => ("query_timeout", "--query-timeout"),
        }
    }

    fn name(self) -> &'static str {
        self.names().0
    }

    fn flag(self) -> &'static str {
        self.names().1
    }

    fn env_var(self) -> String {
        format!("{ENV_PREFIX}{}", self.name().to_ascii_uppercase())
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }
}

enum Raw {
    One(String),
    Many(Vec<String>),
}

fn flag_value(args: &ServeArgs, key: Key) -> Option<Raw> {
    let one = match key {
        Key::WsListen => &args.ws_listen,
        Key::HttpListen => &args.http_listen,
        Key::Bus => &args.bus,
        Key::NodeName => &args.node_name,
        Key::SecretFile => &args.secret_file,
        Key::AccountsFile => &args.accounts_file,
        Key::JwtPublicKeys => {
            return (!args.jwt_public_key.is_empty())
                .then(|| Raw::Many(args.jwt_public_key.clone()));
        }
        Key::MaxConnectionsPerIp => &args.max_connections_per_ip,
        Key::MaxConnectionsPerAccount => &args.max_connections_per_account,
        Key::MaxBindingsPerSocket => &args.max_bindings_per_socket,
        Key::RateLimitBurst => &args.rate_limit_burst,
        Key::RateLimitPerSecond => &args.rate_limit_per_second,
        Key::MaxFrameBytes => &args.max_frame_bytes,
        Key::OutboundQueueFrames => &args.outbound_queue_frames,
        Key::OutboundQueueBytes => &args.outbound_queue_bytes,
        Key::SlowConsumerPolicy => &args.slow_consumer_policy,
        Key::PingInterval => &args.ping_interval,
        Key::IdleTimeout => &args.idle_timeout,
        Key::ShutdownGrace => &args.shutdown_grace,
        Key::QueryTimeout => &args.query_timeout,
    };
    one.clone().map(Raw::One)
}

fn apply_file(settings: &mut Settings, path: &PathBuf) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
        path: path.clone(),
        reason: io_reason(&e),
    })?;
    let file_error = |problem: String| ConfigError::File {
        path: path.clone(),
        problem,
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        let message = one_line(e.message());
        file_error(match e.span() {
            Some(span) => format!("{}: {message}", line_col(&text, span.start)),
            None => message,
        })
    })?;
    let origin = Origin::File(path.clone());
    for (name, value) in table {
        let Some(key) = Key::from_name(&name) else {
            return Err(file_error(format!("unknown key {name:?}")));
        };
        let invalid = |problem: &str| ConfigError::Invalid {
            key: key.name(),
            origin: origin.clone(),
            problem: problem.to_string(),
        };
        let raw = match value {
            toml::Value::String(s) => Raw::One(s),
            toml::Value::Integer(i) => Raw::One(i.to_string()),
            toml::Value::Float(f) => Raw::One(f.to_string()),
            toml::Value::Boolean(b) => Raw::One(b.to_string()),
            toml::Value::Array(items) => Raw::Many(
                items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s),
                        _ => Err(invalid("expected an array of strings")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(_) | toml::Value::Datetime(_) => {
                return Err(invalid("expected a string or a number"));
            }
        };
        apply(settings, key, raw, &origin)?;
    }
    Ok(())
}

fn apply(settings: &mut Settings, key: Key, raw: Raw, origin: &Origin) -> Result<(), ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        key: key.name(),
        origin: origin.clone(),
        problem,
    };
    let value = match raw {
        Raw::Many(items) if key == Key::JwtPublicKeys => {
            settings.jwt_public_keys = items
                .iter()
                .map(|item| item.trim())
                .filter(|item| !item.is_empty())
                .map(PathBuf::from)
                .collect();
            return Ok(());
        }
        Raw::Many(_) => return Err(invalid("expected a single value, not a list".to_string())),
        Raw::One(_) if key == Key::JwtPublicKeys => {
            return Err(invalid("expected an array of file names".to_string()));
        }
        Raw::One(value) => value,
    };
    let value = value.trim();
    let limits = &mut settings.limits;
    match key {
        Key::WsListen => settings.ws_listen = parse_addr(value).map_err(invalid)?,
        Key::HttpListen => settings.http_listen = parse_addr(value).map_err(invalid)?,
        Key::Bus => settings.bus = parse_bus(value).map_err(invalid)?,
        Key::NodeName => settings.node_name = parse_node_name(value).map_err(invalid)?,
        Key::SecretFile => settings.secret_file = parse_path(value).map_err(invalid)?,
        Key::AccountsFile => {
            settings.accounts_file = (!value.is_empty()).then(|| PathBuf::from(value));
        }
        Key::JwtPublicKeys => unreachable!("handled above"),
        Key::MaxConnectionsPerIp => {
            settings.max_connections_per_ip = parse_count(value).map_err(invalid)?;
        }
        Key::MaxConnectionsPerAccount => {
            limits.max_connections_per_account = parse_count(value).map_err(invalid)?;
        }
        Key::MaxBindingsPerSocket => {
            limits.max_bindings_per_socket = parse_count(value).map_err(invalid)?;
        }
        Key::RateLimitBurst => limits.rate.burst = parse_count(value).map_err(invalid)?,
        Key::RateLimitPerSecond => limits.rate.per_second = parse_count(value).map_err(invalid)?,
        Key::MaxFrameBytes => settings.max_frame_bytes = parse_count(value).map_err(invalid)?,
        Key::OutboundQueueFrames => {
            limits.outbox.max_frames = parse_count(value).map_err(invalid)?
        }
        Key::OutboundQueueBytes => limits.outbox.max_bytes = parse_count(value).map_err(invalid)?,
        Key::SlowConsumerPolicy => limits.outbox.policy = parse_policy(value).map_err(invalid)?,
        Key::PingInterval => {
            settings.ping_interval = parse_duration(value, false).map_err(invalid)?
        }
        Key::IdleTimeout => {
            settings.idle_timeout = parse_duration(value, false).map_err(invalid)?
        }
        // 0 is meaningful here: close every socket and exit without waiting.
        Key::ShutdownGrace => {
            settings.shutdown_grace = parse_duration(value, true).map_err(invalid)?
        }
        Key::QueryTimeout => {
            settings.query_timeout = parse_duration(value, false).map_err(invalid)?
        }
    }
    Ok(())
}

fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    // SocketAddr does no name lookup; "localhost" is the one name people write here.
    let literal = match value.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => value.to_string(),
    };
    literal
        .parse()
        .map_err(|_| format!("{value:?} is not an address:port (e.g. 127.0.0.1:5555)"))
}

fn parse_bus(value: &str) -> Result<BusSetting, String> {
    if value.eq_ignore_ascii_case("embedded") {
        return Ok(BusSetting::Embedded);
    }
    let lower = value.to_ascii_lowercase();
    let rest = ["amqp://", "amqps://"]
        .into_iter()
        .find_map(|scheme| lower.strip_prefix(scheme));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
            Ok(BusSetting::Amqp(value.to_string()))
        }
        Some(_) => Err(format!("{:?} names no host", redact_url(value))),
        None => Err(format!(
            "{:?} is neither \"embedded\" nor an amqp:// or amqps:// URL",
            redact_url(value)
        )),
    }
}

fn parse_node_name(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("empty node name".to_string())
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("{value:?} contains whitespace"))
    } else {
        Ok(value.to_string())
    }
}

fn parse_path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        Err("empty file name".to_string())
    } else {
        Ok(PathBuf::from(value))
    }
}

/// A whole number > 0 (every count here is a limit or a size, where 0 would lock everyone out).
fn parse_count<T: std::str::FromStr + Default + PartialEq>(value: &str) -> Result<T, String> {
    let parsed: T = value
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number in range"))?;
    if parsed == T::default() {
        return Err("must be greater than 0".to_string());
    }
    Ok(parsed)
}

fn parse_policy(value: &str) -> Result<SlowConsumerPolicy, String> {
    match value {
        "disconnect" => Ok(SlowConsumerPolicy::Disconnect),
        "drop_oldest" | "drop-oldest" => Ok(SlowConsumerPolicy::DropOldest),
        _ => Err(format!(
            "{value:?} is not \"disconnect\" or \"drop_oldest\""
        )),
    }
}

/// Seconds, or a whole number with a unit: `500ms`, `30s`, `5m`, `1h`.
pub(crate) fn parse_duration(value: &str, allow_zero: bool) -> Result<Duration, String> {
    let bad = || format!("{value:?} is not a duration (seconds, or a number with ms, s, m or h)");
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let number: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit.trim_start() {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs),
        "h" => number.checked_mul(3600).map(Duration::from_secs),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if duration.is_zero() && !allow_zero {
        return Err("must be greater than 0".to_string());
    }
    Ok(duration)
}

/// The URL with any `user:password@` replaced, so an error or a log line never shows a password.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &url[scheme_end + at..]),
        None => url.to_string(),
    }
}

impl fmt::Display for BusSetting {
    /// For logs: the URL without its credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusSetting::Embedded => f.write_str("embedded"),
            BusSetting::Amqp(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// The host's name, for the default node name.
pub fn hostname() -> Option<String> {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    from_proc.or_else(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return None;
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
        (!name.is_empty()).then_some(name)
    })
}

/// An io::Error's text without the "(os error N)" tail.
pub(crate) fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn line_col(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {col}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn with_config(file: &tempfile::NamedTempFile) -> ServeArgs {
        ServeArgs {
            config: Some(file.path().display().to_string()),
            ..ServeArgs::default()
        }
    }

    fn same(a: &Settings, b: &Settings) {
        assert_eq!(format!("{a:#?}"), format!("{b:#?}"));
    }

    fn default_settings() -> Settings {
        Settings {
            node_name: format!("switchyard@{}", hostname().unwrap()),
            ..Settings::default()
        }
    }

    /// Every setting, changed from its default; the raw forms are below.
    fn everything() -> Settings {
        let mut s = Settings {
            ws_listen: "0.0.0.0:5556".parse().unwrap(),
            http_listen: "[::1]:8001".parse().unwrap(),
            bus: BusSetting::Amqp("amqp://guest:guest@rabbit:5672/".to_string()),
            node_name: "sy@test".to_string(),
            secret_file: PathBuf::from("/etc/sy/secret"),
            accounts_file: Some(PathBuf::from("/etc/sy/accounts.json")),
            jwt_public_keys: vec![PathBuf::from("/k1.pem"), PathBuf::from("/k2.pem")],
            max_connections_per_ip: 11,
            max_frame_bytes: 16,
            ping_interval: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::ZERO,
            query_timeout: Duration::from_secs(2),
            ..Settings::default()
        };
        s.limits.max_connections_per_account = 12;
        s.limits.max_bindings_per_socket = 13;
        s.limits.rate.burst = 14;
        s.limits.rate.per_second = 15;
        s.limits.outbox.max_frames = 17;
        s.limits.outbox.max_bytes = 18;
        s.limits.outbox.policy = SlowConsumerPolicy::DropOldest;
        s
    }

    const EVERYTHING_TOML: &str = r#"
ws_listen = "0.0.0.0:5556"
http_listen = "[::1]:8001"
bus = "amqp://guest:guest@rabbit:5672/"
node_name = "sy@test"
secret_file = "/etc/sy/secret"
accounts_file = "/etc/sy/accounts.json"
jwt_public_keys = ["/k1.pem", "/k2.pem"]
max_connections_per_ip = 11
max_connections_per_account = 12
max_bindings_per_socket = 13
rate_limit_burst = 14
rate_limit_per_second = 15
max_frame_bytes = 16
outbound_queue_frames = 17
outbound_queue_bytes = 18
slow_consumer_policy = "drop_oldest"
ping_interval = "500ms"
idle_timeout = "5m"
shutdown_grace = 0
query_timeout = 2
"#;

    #[test]
    fn defaults_with_nothing_configured() {
        let s = Settings::load_from(&ServeArgs::default(), no_env()).unwrap();
        same(&s, &default_settings());
        assert!(s.node_name.starts_with("switchyard@"));
        assert_ne!(s.node_name, "switchyard@");
    }

    #[test]
    fn every_key_from_the_file() {
        let file = toml_file(EVERYTHING_TOML);
        same(
            &Settings::load_from(&with_config(&file), no_env()).unwrap(),
            &everything(),
        );
    }

    #[test]
    fn every_key_from_the_environment() {
        let vars = env(&[
            ("SWITCHYARD_WS_LISTEN", "0.0.0.0:5556"),
            ("SWITCHYARD_HTTP_LISTEN", "[::1]:8001"),
            ("SWITCHYARD_BUS", "amqp://guest:guest@rabbit:5672/"),
            ("SWITCHYARD_NODE_NAME", "sy@test"),
            ("SWITCHYARD_SECRET_FILE", "/etc/sy/secret"),
            ("SWITCHYARD_ACCOUNTS_FILE", "/etc/sy/accounts.json"),
            ("SWITCHYARD_JWT_PUBLIC_KEYS", "/k1.pem, /k2.pem"),
            ("SWITCHYARD_MAX_CONNECTIONS_PER_IP", "11"),
            ("SWITCHYARD_MAX_CONNECTIONS_PER_ACCOUNT", "12"),
            ("SWITCHYARD_MAX_BINDINGS_PER_SOCKET", "13"),
            ("SWITCHYARD_RATE_LIMIT_BURST", "14"),
            ("SWITCHYARD_RATE_LIMIT_PER_SECOND", "15"),
            ("SWITCHYARD_MAX_FRAME_BYTES", "16"),
            ("SWITCHYARD_OUTBOUND_QUEUE_FRAMES", "17"),
            ("SWITCHYARD_OUTBOUND_QUEUE_BYTES", " 18 "),
            ("SWITCHYARD_SLOW_CONSUMER_POLICY", "drop_oldest"),
            ("SWITCHYARD_PING_INTERVAL", "500ms"),
            ("SWITCHYARD_IDLE_TIMEOUT", "5m"),
            ("SWITCHYARD_SHUTDOWN_GRACE", "0"),
            ("SWITCHYARD_QUERY_TIMEOUT", "2s"),
            // Not settings: ignored.
            ("SWITCHYARD_LOG", "debug"),
            ("SWITCHYARD_NO_SUCH_THING", "x"),
            ("WS_LISTEN", "nope"),
        ]);
        same(
            &Settings::load_from(&ServeArgs::default(), vars).unwrap(),
            &everything(),
        );
    }

    fn all_flags() -> ServeArgs {
        let s = |v: &str| Some(v.to_string());
        ServeArgs {
            config: None,
            ws_listen: s("0.0.0.0:5556"),
            http_listen: s("[::1]:8001"),
            bus: s("amqp://guest:guest@rabbit:5672/"),
            node_name: s("sy@test"),
            secret_file: s("/etc/sy/secret"),
            accounts_file: s("/etc/sy/accounts.json"),
            jwt_public_key: vec!["/k1.pem".to_string(), "/k2.pem".to_string()],
            max_connections_per_ip: s("11"),
            max_connections_per_account: s("12"),
            max_bindings_per_socket: s("13"),
            rate_limit_burst: s("14"),
            rate_limit_per_second: s("15"),
            max_frame_bytes: s("16"),
            outbound_queue_frames: s("17"),
            outbound_queue_bytes: s("18"),
            slow_consumer_policy: s("drop-oldest"),
            ping_interval: s("500ms"),
            idle_timeout: s("300"),
            shutdown_grace: s("0s"),
            query_timeout: s("2"),
        }
    }

    #[test]
    fn every_key_from_flags() {
        same(
            &Settings::load_from(&all_flags(), no_env()).unwrap(),
            &everything(),
        );
    }

    #[test]
    fn every_layer_overrides_the_one_below() {
        let file = toml_file(EVERYTHING_TOML);
        // File over defaults: checked by every_key_from_the_file. Env over file:
        let vars = env(&[
            ("SWITCHYARD_WS_LISTEN", "127.0.0.2:1"),
            ("SWITCHYARD_HTTP_LISTEN", "127.0.0.2:2"),
            ("SWITCHYARD_JWT_PUBLIC_KEYS", "/env.pem"),
            ("SWITCHYARD_RATE_LIMIT_BURST", "99"),
            ("SWITCHYARD_IDLE_TIMEOUT", "7"),
        ]);
        let mut args = with_config(&file);
        let s = Settings::load_from(&args, vars.clone()).unwrap();
        assert_eq!(s.ws_listen.to_string(), "127.0.0.2:1");
        assert_eq!(s.http_listen.to_string(), "127.0.0.2:2");
        assert_eq!(s.jwt_public_keys, [PathBuf::from("/env.pem")]);
        assert_eq!(s.limits.rate.burst, 99);
        assert_eq!(s.idle_timeout, Duration::from_secs(7));
        assert_eq!(
            s.limits.rate.per_second, 15,
            "file value where env is silent"
        );

        // Flags over env.
        args.ws_listen = Some("127.0.0.3:1".to_string());
        args.jwt_public_key = vec!["/flag.pem".to_string()];
        args.idle_timeout = Some("1h".to_string());
        let s = Settings::load_from(&args, vars).unwrap();
        assert_eq!(s.ws_listen.to_string(), "127.0.0.3:1");
        assert_eq!(
            s.http_listen.to_string(),
            "127.0.0.2:2",
            "env value where flags are silent"
        );
        assert_eq!(s.jwt_public_keys, [PathBuf::from("/flag.pem")]);
        assert_eq!(s.idle_timeout, Duration::from_secs(3600));
        assert_eq!(s.limits.rate.burst, 99);
    }

    #[test]
    fn empty_lists_and_accounts_file_clear_lower_layers() {
        let file = toml_file(EVERYTHING_TOML);
        let vars = env(&[
            ("SWITCHYARD_ACCOUNTS_FILE", ""),
            ("SWITCHYARD_JWT_PUBLIC_KEYS", ""),
        ]);
        let s = Settings::load_from(&with_config(&file), vars).unwrap();
        assert_eq!(s.accounts_file, None);
        assert!(s.jwt_public_keys.is_empty());
    }

    #[test]
    fn config_file_from_env_and_flag() {
        let from_env = toml_file("ws_listen = \"127.0.0.9:9\"");
        let from_flag = toml_file("http_listen = \"127.0.0.9:8\"");
        let vars = env(&[("SWITCHYARD_CONFIG", &from_env.path().display().to_string())]);
        let s = Settings::load_from(&ServeArgs::default(), vars.clone()).unwrap();
        assert_eq!(s.ws_listen.to_string(), "127.0.0.9:9");
        let s = Settings::load_from(&with_config(&from_flag), vars).unwrap();
        assert_eq!(
            s.ws_listen,
            Settings::default().ws_listen,
            "--config replaces it"
        );
        assert_eq!(s.http_listen.to_string(), "127.0.0.9:8");
    }

    fn flag_error(set: impl FnOnce(&mut ServeArgs)) -> String {
        let mut args = ServeArgs::default();
        set(&mut args);
        Settings::load_from(&args, no_env())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_bad_value_gives_one_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "ws_listen",
                "nope",
                "\"nope\" is not an address:port (e.g. 127.0.0.1:5555)",
            ),
            (
                "ws_listen",
                "127.0.0.1",
                "\"127.0.0.1\" is not an address:port (e.g. 127.0.0.1:5555)",
            ),
            (
                "http_listen",
                "1.2.3.4:99999",
                "\"1.2.3.4:99999\" is not an address:port (e.g. 127.0.0.1:5555)",
            ),
            (
                "bus",
                "kafka://x",
                "\"kafka://x\" is neither \"embedded\" nor an amqp:// or amqps:// URL",
            ),
            ("bus", "amqp://", "\"amqp://\" names no host"),
            ("node_name", "", "empty node name"),
            ("node_name", "a b", "\"a b\" contains whitespace"),
            ("secret_file", " ", "empty file name"),
            ("max_connections_per_ip", "0", "must be greater than 0"),
            (
                "max_connections_per_ip",
                "-1",
                "\"-1\" is not a whole number in range",
            ),
            (
                "max_connections_per_account",
                "lots",
                "\"lots\" is not a whole number in range",
            ),
            ("max_bindings_per_socket", "0", "must be greater than 0"),
            ("rate_limit_burst", "0", "must be greater than 0"),
            (
                "rate_limit_burst",
                "4294967296",
                "\"4294967296\" is not a whole number in range",
            ),
            ("rate_limit_per_second", "0", "must be greater than 0"),
            (
                "rate_limit_per_second",
                "1.5",
                "\"1.5\" is not a whole number in range",
            ),
            ("max_frame_bytes", "0", "must be greater than 0"),
            ("outbound_queue_frames", "0", "must be greater than 0"),
            (
                "outbound_queue_bytes",
                "1MiB",
                "\"1MiB\" is not a whole number in range",
            ),
            (
                "slow_consumer_policy",
                "block",
                "\"block\" is not \"disconnect\" or \"drop_oldest\"",
            ),
            ("ping_interval", "0", "must be greater than 0"),
            (
                "ping_interval",
                "soon",
                "\"soon\" is not a duration (seconds, or a number with ms, s, m or h)",
            ),
            ("idle_timeout", "0ms", "must be greater than 0"),
            (
                "idle_timeout",
                "5d",
                "\"5d\" is not a duration (seconds, or a number with ms, s, m or h)",
            ),
            (
                "shutdown_grace",
                "-1",
                "\"-1\" is not a duration (seconds, or a number with ms, s, m or h)",
            ),
            (
                "query_timeout",
                "",
                "\"\" is not a duration (seconds, or a number with ms, s, m or h)",
            ),
            (
                "query_timeout",
                "99999999999999999999h",
                "\"99999999999999999999h\" is not a duration (seconds, or a number with ms, s, m or h)",
            ),
        ];
        for &(name, value, problem) in cases {
            let key = Key::from_name(name).unwrap();

            let vars = env(&[(&key.env_var(), value)]);
            let err = Settings::load_from(&ServeArgs::default(), vars).unwrap_err();
            let expected = format!(
                "invalid value for {name} (from {}): {problem}",
                key.env_var()
            );
            assert_eq!(err.to_string(), expected);

            let raw = Raw::One(value.to_string());
            let mut s = Settings::default();
            let err = apply(&mut s, key, raw, &Origin::Flag(key.flag())).unwrap_err();
            let expected = format!("invalid value for {name} (from {}): {problem}", key.flag());
            assert_eq!(err.to_string(), expected);
            assert!(!expected.contains('\n'));
        }
    }

    #[test]
    fn bad_flag_names_the_flag() {
        assert_eq!(
            flag_error(|a| a.ws_listen = Some("nope".to_string())),
            "invalid value for ws_listen (from --ws-listen): \"nope\" is not an address:port (e.g. 127.0.0.1:5555)"
        );
        assert_eq!(
            flag_error(|a| a.config = Some(String::new())),
            "invalid value for config (from --config): empty file name"
        );
    }

    #[test]
    fn bad_file_value_names_the_file() {
        let file = toml_file("max_frame_bytes = 0\n");
        let err = Settings::load_from(&with_config(&file), no_env()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value for max_frame_bytes (from config file {}): must be greater than 0",
                file.path().display()
            )
        );
    }

    fn file_error(text: &str) -> (String, String) {
        let file = toml_file(text);
        let err = Settings::load_from(&with_config(&file), no_env()).unwrap_err();
        (err.to_string(), file.path().display().to_string())
    }

    #[test]
    fn unknown_key_in_the_file() {
        let (err, path) = file_error("ws_listen = \"127.0.0.1:1\"\nfoo = 1\n");
        assert_eq!(err, format!("config file {path}: unknown key \"foo\""));
        let (err, path) = file_error("[limits]\nburst = 1\n");
        assert_eq!(err, format!("config file {path}: unknown key \"limits\""));
    }

    #[test]
    fn wrong_types_in_the_file() {
        let (err, path) = file_error("jwt_public_keys = \"/k.pem\"\n");
        assert_eq!(
            err,
            format!(
                "invalid value for jwt_public_keys (from config file {path}): expected an array of file names"
            )
        );
        let (err, path) = file_error("jwt_public_keys = [1]\n");
        assert_eq!(
            err,
            format!(
                "invalid value for jwt_public_keys (from config file {path}): expected an array of strings"
            )
        );
        let (err, path) = file_error("ws_listen = [\"a\"]\n");
        assert_eq!(
            err,
            format!(
                "invalid value for ws_listen (from config file {path}): expected a single value, not a list"
            )
        );
        let (err, path) = file_error("bus = { url = \"x\" }\n");
        assert_eq!(
            err,
            format!(
                "invalid value for bus (from config file {path}): expected a string or a number"
            )
        );
        let (err, _) = file_error("max_frame_bytes = true\n");
        assert!(
            err.ends_with(": \"true\" is not a whole number in range"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_is_one_line_with_a_position() {
        let (err, path) = file_error("ws_listen = \"127.0.0.1:1\"\nbus = \n");
        assert!(
            err.starts_with(&format!("config file {path}: line 2, column ")),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn unreadable_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("x.toml");
        let args = ServeArgs {
            config: Some(missing.display().to_string()),
            ..ServeArgs::default()
        };
        let err = Settings::load_from(&args, no_env()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read config file {}: No such file or directory",
                missing.display()
            )
        );
        let args = ServeArgs {
            config: Some(dir.path().display().to_string()),
            ..ServeArgs::default()
        };
        let err = Settings::load_from(&args, no_env()).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read config file "),
            "{err}"
        );
    }

    #[test]
    fn durations() {
        let ok = |s: &str| parse_duration(s, false).unwrap();
        assert_eq!(ok("30"), Duration::from_secs(30));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("10 s"), Duration::from_secs(10));
        assert_eq!(parse_duration("0", true).unwrap(), Duration::ZERO);
        assert!(parse_duration("1.5s", false).is_err());
        assert!(parse_duration("s", false).is_err());
    }

    #[test]
    fn addresses_and_bus() {
        assert_eq!(
            parse_addr("localhost:80").unwrap().to_string(),
            "127.0.0.1:80"
        );
        assert_eq!(parse_bus("embedded").unwrap(), BusSetting::Embedded);
        assert_eq!(parse_bus("EMBEDDED").unwrap(), BusSetting::Embedded);
        assert_eq!(
            parse_bus("amqps://h").unwrap(),
            BusSetting::Amqp("amqps://h".to_string())
        );
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("amqp://u:p@host:5672/vh"),
            "amqp://***@host:5672/vh"
        );
        assert_eq!(redact_url("amqp://host/vh@x"), "amqp://host/vh@x");
        assert_eq!(redact_url("amqp://a@b@host"), "amqp://***@host");
        assert_eq!(redact_url("embedded"), "embedded");
        let bus = BusSetting::Amqp("amqp://guest:hunter2@rabbit".to_string());
        assert_eq!(bus.to_string(), "amqp://***@rabbit");
        let err = flag_error(|a| a.bus = Some("amqq://guest:hunter2@rabbit".to_string()));
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("amqq://***@rabbit"), "{err}");
    }
}
