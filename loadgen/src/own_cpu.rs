//! The load generator's own CPU time, worker processes included: the node and the load generator
//! share the machine, so every report says where its CPU went.

/// User plus system CPU time of this process and of its children that have ended (been reaped),
/// in seconds.
pub(crate) fn own_and_children_cpu_seconds() -> f64 {
    cpu_seconds(libc::RUSAGE_SELF) + cpu_seconds(libc::RUSAGE_CHILDREN)
}

/// User plus system CPU time of this process alone, in seconds: what a worker process reports,
/// since its coordinator counts it only once reaped.
pub(crate) fn own_cpu_seconds() -> f64 {
    cpu_seconds(libc::RUSAGE_SELF)
}

fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_process() {
        let spin = std::time::Instant::now();
        while spin.elapsed().as_millis() < 20 {}
        assert!(own_cpu_seconds() > 0.0);
        assert!(own_and_children_cpu_seconds() > 0.0);
    }
}
