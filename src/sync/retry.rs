//! Retrying transient failures: exponential backoff with jitter, never sooner than the
//! source's `Retry-After`.

use std::time::Duration;

use rand::Rng;

/// How a connector's transient failures are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay; each retry doubles it.
    pub base: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Attempts in all (the first try included) before the run fails.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(60),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 = the first retry): the exponential step with
    /// "equal jitter" (half fixed, half random, so retries from many hubs spread out), and at
    /// least what the source asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        let half = step / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        let backoff = half + Duration::from_millis(jitter);
        retry_after
            .map_or(backoff, |r| r.max(backoff))
            .min(self.max_delay.max(retry_after.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_capped_and_honour_retry_after() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_attempts: 8,
        };
        for attempt in 1..=10 {
            let d = p.delay(attempt, None);
            let step =
                (Duration::from_millis(100) * 2u32.pow(attempt - 1)).min(Duration::from_secs(2));
            assert!(
                d >= step / 2 && d <= step + Duration::from_millis(1),
                "attempt {attempt}: {d:?}"
            );
        }
        assert!(p.delay(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
    }
}
