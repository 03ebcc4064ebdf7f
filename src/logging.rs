//! The node's log: lines to stderr as text for people or JSON for collectors (`log_format`),
//! filtered by `SWITCHYARD_LOG` or `RUST_LOG` (`info` by default). Lines about a socket carry
//! its id as `socket`; no line carries a token.

use std::fmt;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line per event, `key=value` fields; coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the fields.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{value:?} is not \"text\" or \"json\"")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// ractor wraps every actor's task in an INFO span (`Actor{id}`). At one actor per socket that
/// is a slot of the span registry, kept at its peak, and formatted fields per socket, entered
/// at every poll of the task; the sessions log with their socket's id instead. Whatever the
/// filter says, those spans are off.
const RACTOR_SPANS_OFF: &str = "ractor::actor=warn";

/// Installs the node's logger; call once, before the node starts.
pub fn init(format: LogFormat) {
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logger
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logger.json().flatten_event(true).init(),
    }
}

/// `SWITCHYARD_LOG`, else `RUST_LOG`, else `info`; and ractor's spans off.
fn filter() -> EnvFilter {
    EnvFilter::try_from_env("SWITCHYARD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        // lapin logs every closed channel as an error, the probe of an absent exchange included;
        // what matters of its errors reaches the bus link as results, which it logs.
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=off"))
        .add_directive(RACTOR_SPANS_OFF.parse().expect("a valid directive"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ractors_actor_spans_are_off_and_the_nodes_lines_are_not() {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let actor = tracing::span!(target: "ractor::actor", tracing::Level::INFO, "Actor");
            assert!(actor.is_disabled());
            let ours = tracing::span!(target: "switchyard::ws", tracing::Level::ERROR, "ours");
            assert!(!ours.is_disabled());
        });
    }

    #[test]
    fn formats_read_back_what_they_write() {
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(format.to_string().parse::<LogFormat>(), Ok(format));
        }
        assert_eq!(
            "JSON".parse::<LogFormat>(),
            Err("\"JSON\" is not \"text\" or \"json\"".to_string())
        );
    }
}
