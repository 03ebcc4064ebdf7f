//! The Switchyard fabric: everything between "a client sent a frame" / "the bus delivered an
//! event" and "these bytes go to that socket". Nothing here opens a socket, speaks HTTP or reads a
//! file: the edges (the root crate's `src/`) feed this crate plain values and messages.
//!
//! - [`protocol`]: client frames in (parse, validate), replies and event frames out.
//! - [`bindings`]: the catalogue; a client binding → its internal (AMQP topic) bindings.
//! - [`event`]: a KAZOO bus message → a normalised [`event::Event`] with its delivered routing key.
//! - [`topic`]: an AMQP topic pattern index (a word trie with `*` and `#`).
//! - [`router`]: event → matching subscriptions → each socket's [`outbox::Outbox`].
//! - [`session`]: one actor per websocket: auth state, bindings, the step order of a frame.
//! - [`supervisor`]: tracks every session per account, answers queries, cleans up on exit.

// What is public is reachable from here; the rest says pub(crate). Unused dependencies are
// reported outside unit tests (which do not use every dev-dependency).
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod account;
pub mod authority;
pub mod bindings;
pub mod clock;
pub mod description;
pub mod drain;
pub mod encoding;
pub mod event;
pub mod exchange;
pub mod fabric;
pub mod frame;
pub mod id;
pub mod limits;
pub mod log_limit;
pub mod metrics;
pub mod month;
pub mod outbox;
pub mod protocol;
pub mod rate_limit;
pub mod router;
pub mod session;
mod shrink;
pub mod supervisor;
pub mod topic;
