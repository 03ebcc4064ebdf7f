//! Switchyard's edges: everything that touches a socket, a clock or a file. The fabric itself
//! (sessions, supervisor, bindings, routing) is the `switchyard-actors` crate.
//!
//! - [`config`]: settings from defaults < TOML < env < flags.
//! - [`auth`]: JWT verification, the account directory, minting tokens.
//! - [`ws`]: the websocket listener and each connection's reader/writer loop.
//! - [`http`]: the REST API (warp).
//! - [`bus`]: where events come from: the embedded bus, or RabbitMQ (cluster mode).
//! - [`node`]: starts and stops a whole node; [`lifecycle`]: serving, draining, stopping.
//! - [`logging`]: the log's format and filter.
//! - [`heap`]: the allocator's own figures, when the binary's allocator gives them.

// What is public is reachable from here; the rest says pub(crate). Unused dependencies are
// reported outside unit tests (which do not use every dev-dependency).
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod auth;
mod bus;
pub mod cli;
pub mod config;
pub mod heap;
mod http;
pub mod lifecycle;
pub mod logging;
pub mod node;
#[doc(hidden)]
pub mod readme;
mod secret;
pub mod serve;
mod tcp;
pub mod tls;
mod ws;

#[cfg(test)]
mod fuzz;

pub use switchyard_actors as actors;

// The binary's allocator and its figures (main.rs): dependencies of the package that this
// library does not use.
#[cfg(feature = "jemalloc")]
use tikv_jemalloc_ctl as _;
#[cfg(feature = "jemalloc")]
use tikv_jemalloc_sys as _;
#[cfg(feature = "jemalloc")]
use tikv_jemallocator as _;
