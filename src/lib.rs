//! Switchyard's edges: everything that touches a socket, a clock or a file. The fabric itself
//! (sessions, supervisor, bindings, routing) is the `switchyard-actors` crate.
//!
//! - [`config`]: settings from defaults < TOML < env < flags.
//! - [`auth`]: JWT verification, the account directory, minting tokens.
//! - [`ws`]: the websocket listener and each connection's reader/writer loop.
//! - [`http`]: the REST API (warp).
//! - [`bus`]: where events come from: the embedded bus (and, later, RabbitMQ).
//! - [`node`]: starts and stops a whole node.

pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod http;
pub mod node;
pub mod secret;
pub mod serve;
pub mod ws;

pub use switchyard_actors as actors;
