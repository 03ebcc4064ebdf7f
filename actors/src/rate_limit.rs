//! The per-socket token bucket (SPEC 7: burst 100, refill 10 per second).

use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            burst: 100,
            per_second: 10,
        }
    }
}

#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> Self {
        Self::new_at(limit, Instant::now())
    }

    fn new_at(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: now,
        }
    }

    /// Takes one token; false when the bucket is empty.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.refilled_at = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.limit.per_second))
            .min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_at(
            RateLimit {
                burst: 3,
                per_second: 10,
            },
            start,
        );
        assert!((0..3).all(|_| bucket.try_take_at(start)));
        assert!(!bucket.try_take_at(start));
        assert!(!bucket.try_take_at(start + Duration::from_millis(50)));
        assert!(bucket.try_take_at(start + Duration::from_millis(110)));
        assert!(!bucket.try_take_at(start + Duration::from_millis(110)));
    }

    #[test]
    fn refill_is_capped_at_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new_at(
            RateLimit {
                burst: 2,
                per_second: 10,
            },
            start,
        );
        let later = start + Duration::from_secs(60);
        assert!(bucket.try_take_at(later));
        assert!(bucket.try_take_at(later));
        assert!(!bucket.try_take_at(later));
    }
}
