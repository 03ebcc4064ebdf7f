//! The wall clock, in the units the protocol speaks.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds → gregorian seconds (KAZOO's timestamps count from year 0).
pub const GREGORIAN_OFFSET: u64 = 62_167_219_200;

/// Seconds since 1970-01-01 UTC. A clock before 1970 is a broken host: it reads as 0.
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Seconds since year 0, as KAZOO stamps sockets (SPEC 6).
pub fn gregorian_seconds() -> u64 {
    unix_seconds() + GREGORIAN_OFFSET
}
