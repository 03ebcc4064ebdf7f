//! The websocket edge (SPEC 3, 7): a listener that admits sockets (bounded per address and in
//! all, counted from `accept`) through our own opening handshake, and one task per socket that
//! moves frames between the socket and its session actor.

mod admission;
mod connection;
mod ended;
mod handshake;
mod listener;
mod reader;
mod transport;
mod writer;

pub(crate) use admission::AdmissionLimits;
pub(crate) use listener::{WsOptions, serve};
#[cfg(test)]
pub(crate) use reader::{FrameError, Incoming, Reader};
