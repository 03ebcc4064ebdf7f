//! Log lines that a flood cannot multiply: one line per cause per [`LOG_EVERY`], saying how many
//! were left out since the last. A client sending bad frames, or a publisher sending bad events,
//! costs the log a line every ten seconds, whatever its rate.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// One cause's limit: keep it in a `static`, one per cause.
pub struct LogLimit(Mutex<Option<(Instant, u64)>>);

impl LogLimit {
    pub const fn new() -> Self {
        Self(parking_lot::const_mutex(None))
    }

    /// Calls `log` with how many lines were left out since the last it let through, or not at
    /// all while the last is more recent than [`LOG_EVERY`].
    pub fn note(&self, log: impl FnOnce(u64)) {
        self.note_at(Instant::now(), log);
    }

    fn note_at(&self, now: Instant, log: impl FnOnce(u64)) {
        let mut last = self.0.lock();
        match &mut *last {
            Some((at, suppressed)) if now.duration_since(*at) < LOG_EVERY => *suppressed += 1,
            _ => {
                let suppressed = (*last).map_or(0, |(_, suppressed)| suppressed);
                *last = Some((now, 0));
                drop(last);
                log(suppressed);
            }
        }
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_counting_the_rest() {
        let limit = LogLimit::new();
        let start = Instant::now();
        let mut logged = Vec::new();
        for i in 0..1000 {
            limit.note_at(start + Duration::from_millis(i), |left_out| {
                logged.push(left_out)
            });
        }
        assert_eq!(logged, vec![0]);
        limit.note_at(start + LOG_EVERY + Duration::from_millis(1), |left_out| {
            logged.push(left_out)
        });
        assert_eq!(logged, vec![0, 999]);
    }
}
