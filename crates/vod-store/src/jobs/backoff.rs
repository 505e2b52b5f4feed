//! Retry policy: exponential backoff with jitter, as a pure function of the attempt number.

/// How long a failed job waits before its next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt, before jitter.
    pub base_ms: u64,
    /// No delay is longer than this, jitter included.
    pub max_ms: u64,
}

/// The delay after failed attempt number `attempt` (1 for the first): `base_ms * 2^(attempt-1)`,
/// capped at `max_ms`, of which the upper half is jitter drawn from `jitter_seed`. The jitter
/// spreads the retries of jobs that failed together (an uplink outage) instead of sending them
/// back all at once; the seed makes the delay reproducible for a given job and attempt.
pub fn retry_delay_ms(policy: RetryPolicy, attempt: u32, jitter_seed: u64) -> u64 {
    let doublings = attempt.saturating_sub(1);
    let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    let capped = policy.base_ms.saturating_mul(factor).min(policy.max_ms);
    let fixed = capped - capped / 2;
    let jitter_span = capped / 2;
    fixed + splitmix64(jitter_seed) % (jitter_span + 1)
}

/// SplitMix64: a well-mixed 64-bit hash of the seed (Steele, Lea and Flood, 2014).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        base_ms: 1_000,
        max_ms: 600_000,
    };

    #[test]
    fn delay_doubles_per_attempt_within_its_jitter_band() {
        for attempt in 1..=9 {
            let nominal = 1_000u64 << (attempt - 1);
            for seed in 0..200 {
                let delay = retry_delay_ms(POLICY, attempt, seed);
                assert!(
                    (nominal / 2..=nominal).contains(&delay),
                    "attempt {attempt}, seed {seed}: {delay} ms"
                );
            }
        }
    }

    #[test]
    fn delay_is_capped_even_for_huge_attempt_numbers() {
        for attempt in [11, 12, 40, 64, 65, 1_000, u32::MAX] {
            for seed in 0..50 {
                let delay = retry_delay_ms(POLICY, attempt, seed);
                assert!((300_000..=600_000).contains(&delay), "{attempt}: {delay}");
            }
        }
    }

    #[test]
    fn jitter_spreads_jobs_that_failed_together() {
        let delays: std::collections::BTreeSet<u64> = (0..100)
            .map(|job_id| retry_delay_ms(POLICY, 5, job_id))
            .collect();
        assert!(delays.len() > 90, "{} distinct delays", delays.len());
        let spread = delays.last().unwrap() - delays.first().unwrap();
        assert!(spread > 6_000, "spread {spread} ms of a 8000 ms band");
    }

    #[test]
    fn attempt_zero_and_zero_base_do_not_underflow() {
        assert!(retry_delay_ms(POLICY, 0, 1) <= 1_000);
        let zero = RetryPolicy {
            base_ms: 0,
            max_ms: 0,
        };
        assert_eq!(retry_delay_ms(zero, 3, 7), 0);
    }
}
