//! Which captures the image quota forces out: a pure choice over the oldest captures.

use sqlx::FromRow;

/// One of the oldest captures with images, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct EvictionCandidate {
    pub capture_id: i64,
    pub detected_at_ms: i64,
    pub image_bytes: u64,
    /// A job (an upload) still waits for this capture.
    pub pending: bool,
}

/// The captures to delete to free `excess_bytes`: the oldest ones that no job waits for, and
/// only if those are not enough, the oldest of those still waiting. Returns them in the order
/// taken; fewer than needed when the candidates run out.
pub fn choose_evictions(
    candidates: &[EvictionCandidate],
    excess_bytes: u64,
) -> Vec<EvictionCandidate> {
    let mut chosen = Vec::new();
    let mut freed = 0u64;
    for pending in [false, true] {
        for candidate in candidates.iter().filter(|c| c.pending == pending) {
            if freed >= excess_bytes {
                return chosen;
            }
            freed += candidate.image_bytes;
            chosen.push(*candidate);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(capture_id: i64, image_bytes: u64, pending: bool) -> EvictionCandidate {
        EvictionCandidate {
            capture_id,
            detected_at_ms: capture_id * 1_000,
            image_bytes,
            pending,
        }
    }

    fn ids(chosen: &[EvictionCandidate]) -> Vec<i64> {
        chosen.iter().map(|c| c.capture_id).collect()
    }

    const OLDEST_FIRST: [EvictionCandidate; 5] = [
        EvictionCandidate {
            capture_id: 1,
            detected_at_ms: 1_000,
            image_bytes: 100,
            pending: true,
        },
        EvictionCandidate {
            capture_id: 2,
            detected_at_ms: 2_000,
            image_bytes: 100,
            pending: false,
        },
        EvictionCandidate {
            capture_id: 3,
            detected_at_ms: 3_000,
            image_bytes: 100,
            pending: true,
        },
        EvictionCandidate {
            capture_id: 4,
            detected_at_ms: 4_000,
            image_bytes: 100,
            pending: false,
        },
        EvictionCandidate {
            capture_id: 5,
            detected_at_ms: 5_000,
            image_bytes: 100,
            pending: false,
        },
    ];

    #[test]
    fn uploaded_captures_go_first_oldest_first() {
        assert_eq!(ids(&choose_evictions(&OLDEST_FIRST, 150)), [2, 4]);
        assert_eq!(ids(&choose_evictions(&OLDEST_FIRST, 300)), [2, 4, 5]);
    }

    #[test]
    fn pending_captures_go_only_when_the_quota_forces_them() {
        assert_eq!(ids(&choose_evictions(&OLDEST_FIRST, 301)), [2, 4, 5, 1]);
        assert_eq!(
            ids(&choose_evictions(&OLDEST_FIRST, 10_000)),
            [2, 4, 5, 1, 3]
        );
    }

    #[test]
    fn nothing_goes_when_nothing_is_over() {
        assert!(choose_evictions(&OLDEST_FIRST, 0).is_empty());
        assert!(choose_evictions(&[], 500).is_empty());
        assert_eq!(
            ids(&choose_evictions(&[candidate(9, 0, false)], 1)),
            [9],
            "a zero-byte capture is taken but frees nothing"
        );
    }
}
