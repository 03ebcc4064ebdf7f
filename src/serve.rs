//! `switchyard serve`: a node that runs until SIGTERM or SIGINT, rereads the account directory
//! and its TLS certificate on SIGHUP, drains on SIGUSR1, and tells the operator how to mint a
//! token.

use tokio::signal::unix::{SignalKind, signal};

use crate::config::Settings;
use crate::node::{Node, StartError};

pub async fn run(settings: Settings) -> Result<(), StartError> {
    let secret_file = settings.secret_file.clone();
    let drain_duration = settings.drain_duration;
    let node = Node::start(settings).await?;
    tracing::info!(
        websockets = %node.ws_addr(),
        rest = %node.http_addr(),
        "switchyard is listening"
    );
    let directory = node.authority().directory();
    let token = format!("{} token", this_binary());
    match directory.superduper_accounts().first() {
        Some(master) => tracing::info!(
            "mint a token of superduper account {master} (it may subscribe to any account and \
             publish) with: {token} --account {master} --secret-file {}",
            secret_file.display()
        ),
        None => tracing::info!(
            "mint a token with: {token} --account {{ACCOUNT_ID}} --secret-file {} \
             (no account is superduper, so nobody may publish: see --accounts-file)",
            secret_file.display()
        ),
    }

    let (mut terminate, mut interrupt, mut hangup, mut drain) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
    ) {
        (Ok(terminate), Ok(interrupt), Ok(hangup), Ok(drain)) => {
            (terminate, interrupt, hangup, drain)
        }
        _ => {
            tracing::error!("cannot install signal handlers; stopping");
            node.shutdown();
            node.stopped().await;
            return Ok(());
        }
    };
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                match node.reload_directory() {
                    Ok(()) => tracing::info!("account directory reloaded"),
                    Err(error) => tracing::error!(%error, "account directory not reloaded; keeping the old one"),
                }
                match node.reload_tls() {
                    Ok(true) => tracing::info!("TLS certificate reloaded, for new connections"),
                    Ok(false) => {}
                    Err(error) => tracing::error!(%error, "TLS certificate not reloaded; keeping the old one"),
                }
            }
            _ = drain.recv() => match node.lifecycle().drain(drain_duration).await {
                Ok(sockets) => tracing::info!(sockets, over = %humantime::format_duration(drain_duration),
                    "draining: new sockets are refused, the open ones closed a few at a time"),
                Err(error) => tracing::warn!(%error, "not draining"),
            },
        }
    }
    tracing::info!("shutting down: closing every socket");
    node.shutdown();
    node.stopped().await;
    tracing::info!("stopped");
    Ok(())
}

/// How to run this very binary from the node's directory, so that the command the log suggests
/// works as printed: `switchyard` when the PATH finds this binary under that name, else its
/// path, relative when it lies under the current directory (`./target/release/switchyard`
/// after `cargo run --release`).
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|exe| exe.canonicalize()) else {
        return "switchyard".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| dir.join("switchyard").canonicalize().ok().as_ref() == Some(&exe))
    });
    if on_path {
        return "switchyard".to_string();
    }
    let cwd = std::env::current_dir().and_then(|dir| dir.canonicalize());
    let shown = match cwd.as_ref().map(|cwd| exe.strip_prefix(cwd)) {
        Ok(Ok(relative)) => format!("./{}", relative.display()),
        _ => exe.display().to_string(),
    };
    if shown.contains(char::is_whitespace) {
        format!("'{shown}'")
    } else {
        shown
    }
}
