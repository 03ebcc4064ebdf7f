//! `switchyard loadgen` (SPEC 10): drives websocket clients, published events and REST queries
//! against a node and measures what it does with them. The `switchyard` binary's `loadgen`
//! subcommand calls [`command`]; this crate depends on no server code.
//!
//! - [`args`]: the flags; [`plan`]: flags checked and resolved into a run, with tokens from
//!   [`credentials`] (implemented by the server, which knows its own files).
//! - [`coordinator`]: one run, phase by phase; [`worker`]: a share of the clients, in this
//!   process or a child; [`client`]: one websocket client, which reads event frames through
//!   [`event_frame`] (a scan, not a parse); [`tally`]: what clients count.
//! - [`publisher`] and [`events`]: stamped events through `POST /v2/events`, or through
//!   RabbitMQ as KAZOO publishes them ([`amqp`]);
//!   [`rest_client`]: the HTTP client under it and [`node_probe`] (`/metrics`, `/proc`);
//!   [`rest_load`]: the rest scenario's queries; [`node_url`]: the node's URLs; [`own_cpu`]: the
//!   load generator's own CPU time.
//! - [`report`]: the JSON report and the summary; [`progress`]: the live display.

// What is public is reachable from here; the rest says pub(crate). Unused dependencies are
// reported outside unit tests (which do not use every dev-dependency).
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod amqp;
mod args;
mod client;
mod coordinator;
mod credentials;
mod event_frame;
mod events;
mod node_probe;
mod node_url;
mod own_cpu;
mod plan;
mod progress;
mod publisher;
mod report;
mod rest_client;
mod rest_load;
mod tally;
mod tls;
mod worker;

use std::time::Duration;

pub use args::LoadgenArgs;
pub use credentials::{Cause, CredentialError, NodeCredentials};

/// Exit statuses of `switchyard loadgen` (also in its `--help`).
pub(crate) mod exit {
    pub(crate) const COMPLETE: u8 = 0;
    pub(crate) const FAILED: u8 = 1;
    pub(crate) const BAD_FLAG: u8 = 2;
    pub(crate) const INCOMPLETE: u8 = 3;
}

/// Runs the subcommand, with tokens minted through `credentials` unless given; the exit status.
pub fn command(args: &LoadgenArgs, credentials: &dyn NodeCredentials) -> u8 {
    let open_file_limit = raise_open_file_limit();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(exit::FAILED, &error),
    };
    let status = if args.worker {
        match runtime.block_on(worker::serve_stdio()) {
            Ok(()) => exit::COMPLETE,
            Err(error) => fail(exit::FAILED, &error),
        }
    } else {
        coordinate(args, open_file_limit, credentials, &runtime)
    };
    // A worker's stdin reader may still be blocked in a read: do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    status
}

fn coordinate(
    args: &LoadgenArgs,
    open_file_limit: u64,
    credentials: &dyn NodeCredentials,
    runtime: &tokio::runtime::Runtime,
) -> u8 {
    let plan = match plan::plan(args, open_file_limit, credentials) {
        Ok(plan) => plan,
        Err(error) => return fail(exit::BAD_FLAG, &error),
    };
    // Find out now, not after the run, that the report cannot be written.
    if let Err(error) = std::fs::write(&plan.output, b"") {
        let message = format!("--output {}: {error}", plan.output.display());
        return fail(exit::BAD_FLAG, &message);
    }
    let progress = progress::Progress::new(plan.quiet);
    let outcome = runtime.block_on(coordinator::run(&plan, &progress));
    progress.finish();
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            let _ = std::fs::remove_file(&plan.output);
            return fail(exit::FAILED, &error);
        }
    };
    print!("{}", report.summary());
    if let Err(error) = report.write_json(&plan.output) {
        let message = format!("--output {}: {error}", plan.output.display());
        return fail(exit::FAILED, &message);
    }
    println!("  report       {}", plan.output.display());
    if report.complete {
        exit::COMPLETE
    } else {
        exit::INCOMPLETE
    }
}

fn fail(status: u8, error: &dyn std::fmt::Display) -> u8 {
    eprintln!("switchyard loadgen: {error}");
    status
}

/// Raises this process's soft open-file limit to its hard limit; the limit now in force.
fn raise_open_file_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}
