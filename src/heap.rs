//! The allocator's own figures, when the binary's allocator can give them (jemalloc, set up in
//! `main.rs`): the bytes the program has allocated, and the bytes the allocator keeps resident.
//! Beside the process's resident memory they tell a leak (allocated grows) from memory the
//! allocator keeps for reuse (allocated is back, resident is not).

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub struct HeapFigures {
    /// Bytes in live allocations.
    pub allocated: u64,
    /// Bytes of physical memory the allocator holds: live allocations, free space of its
    /// pages, its own metadata.
    pub resident: u64,
}

static PROBE: OnceLock<fn() -> Option<HeapFigures>> = OnceLock::new();

/// Tells the node how to read the allocator's figures; once, before it serves.
pub fn set_probe(probe: fn() -> Option<HeapFigures>) {
    let _ = PROBE.set(probe);
}

/// The figures now, when a probe was set and it could read them.
pub(crate) fn read() -> Option<HeapFigures> {
    PROBE.get().and_then(|probe| probe())
}
