//! The newest log lines of the process, kept in memory for the web page (and the bus): a
//! bounded ring that the logger feeds and a reader asks by level.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::Level;

/// One log line as the logger wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    #[serde(serialize_with = "level_name")]
    pub level: Level,
    pub target: String,
    /// The message and its fields, `key=value`.
    pub text: String,
}

fn level_name<S: serde::Serializer>(level: &Level, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(level.as_str())
}

/// The last `capacity` lines; clones share them.
#[derive(Debug, Clone)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    capacity: usize,
}

impl LogRing {
    pub fn new(capacity: usize) -> LogRing {
        LogRing {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&self, line: LogLine) {
        let mut lines = self.lock();
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The newest lines at `level` or more severe, at most `limit`, newest first.
    pub fn recent(&self, level: Level, limit: usize) -> Vec<LogLine> {
        self.lock()
            .iter()
            .rev()
            .filter(|line| line.level <= level)
            .take(limit)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<LogLine>> {
        // Every change is one push or pop: a panic elsewhere cannot leave it half done.
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: Level, text: &str) -> LogLine {
        LogLine {
            at: Utc::now(),
            level,
            target: "vod".into(),
            text: text.into(),
        }
    }

    #[test]
    fn keeps_the_newest_lines_and_filters_by_severity() {
        let ring = LogRing::new(3);
        for (level, text) in [
            (Level::INFO, "a"),
            (Level::WARN, "b"),
            (Level::DEBUG, "c"),
            (Level::ERROR, "d"),
        ] {
            ring.push(line(level, text));
        }
        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(
            texts(ring.recent(Level::TRACE, 10)),
            ["d", "c", "b"],
            "a fell out"
        );
        assert_eq!(texts(ring.recent(Level::WARN, 10)), ["d", "b"]);
        assert_eq!(texts(ring.recent(Level::TRACE, 1)), ["d"]);
    }
}
