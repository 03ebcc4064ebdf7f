//! The websocket edge (SPEC 3, 7): a listener that admits sockets through tokio-tungstenite's
//! server handshake with small buffers, and one task per socket that moves frames between the
//! socket and its session actor.

mod connection;
mod listener;

pub(crate) use listener::{WsOptions, serve};
