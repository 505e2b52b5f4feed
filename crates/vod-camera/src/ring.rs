//! The timestamped ring of a free-running camera: the newest frames are kept, and a trigger
//! takes the frame whose timestamp lies nearest the moment it asked for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A fixed number of the newest items, each with the instant it was captured.
#[derive(Debug)]
pub struct FrameRing<T> {
    capacity: usize,
    entries: VecDeque<(Instant, T)>,
}

impl<T: Clone> FrameRing<T> {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        FrameRing {
            capacity,
            entries: VecDeque::with_capacity(capacity),
        }
    }

    /// Adds a frame, forgetting the oldest when full. Frames arrive in capture order; one
    /// stamped before the newest held (a clock step) replaces nothing and is dropped.
    pub fn push(&mut self, captured_at: Instant, item: T) -> bool {
        if self
            .entries
            .back()
            .is_some_and(|(newest, _)| captured_at < *newest)
        {
            return false;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((captured_at, item));
        true
    }

    /// Whether a frame captured at or after `at` is held, so that no later frame can be
    /// nearer to `at` than the ones already here.
    pub fn covers(&self, at: Instant) -> bool {
        self.entries.back().is_some_and(|(newest, _)| *newest >= at)
    }

    /// The frame nearest `at`, if one lies within `tolerance` of it; on a tie, the earlier.
    pub fn nearest(&self, at: Instant, tolerance: Duration) -> Option<(Instant, T)> {
        let distance = |t: Instant| t.checked_duration_since(at).unwrap_or_else(|| at - t);
        self.entries
            .iter()
            .min_by_key(|(t, _)| distance(*t))
            .filter(|(t, _)| distance(*t) <= tolerance)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests;
