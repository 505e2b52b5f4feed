//! A budget of log lines for input that can go bad many times a second (a scanner's telegrams,
//! a camera's buffers, bus messages): one line per interval at most, which tells how many
//! went unlogged before it. The counters count every one; the log only samples them.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LogBudget {
    every: Duration,
    last_line: Option<Instant>,
    unlogged: u64,
}

impl LogBudget {
    /// At most one line every `every`.
    pub fn new(every: Duration) -> LogBudget {
        LogBudget {
            every,
            last_line: None,
            unlogged: 0,
        }
    }

    /// Whether one more occurrence at `now` may be logged; `Some(n)` with the occurrences
    /// left unlogged since the last line, `None` to stay silent.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last_line {
            Some(at) if now.saturating_duration_since(at) < self.every => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_tells_how_many_went_unlogged() {
        let mut budget = LogBudget::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(budget.allow(start), Some(0), "the first is logged");
        let silent = (1..=1000)
            .filter(|i| budget.allow(start + Duration::from_millis(*i)).is_some())
            .count();
        assert_eq!(silent, 0, "a thousand more within the interval are not");
        assert_eq!(budget.allow(start + Duration::from_secs(10)), Some(1000));
        assert_eq!(budget.allow(start + Duration::from_secs(11)), None);
        assert_eq!(budget.allow(start + Duration::from_secs(25)), Some(1));
    }
}
