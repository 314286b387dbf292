//! The one backoff of the core: jittered, capped, exponential. Used between tries of a Kestra API
//! call, after a push that lost the race for the branch, and after a push the network broke, so
//! that writers started together do not retry in lockstep.

use std::time::Duration;

/// How long to wait before try `attempt + 1` (0 = after the first try failed): a random delay
/// between half and all of min(cap, base × 2^attempt).
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
    ceiling.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let (base, cap) = (Duration::from_millis(500), Duration::from_secs(8));
        for attempt in 0..40 {
            let d = backoff(attempt, base, cap);
            assert!(d <= cap && d >= base.mul_f64(0.5), "{attempt}: {d:?}");
        }
        assert!(backoff(0, base, cap) <= base);
        assert!(backoff(5, base, cap) >= cap.mul_f64(0.5));
        let spread: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3, base, cap)).collect();
        assert!(spread.len() > 10, "jittered: {spread:?}");
    }
}
