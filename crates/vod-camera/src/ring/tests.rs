//! The ring's choice of frame for a trigger, on synthetic timelines.

use std::time::{Duration, Instant};

use super::FrameRing;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A ring holding frames every 33 ms from `t0`, labelled by their index.
fn ring_at_30_fps(t0: Instant, frames: u64, capacity: usize) -> FrameRing<u64> {
    let mut ring = FrameRing::new(capacity);
    for i in 0..frames {
        assert!(ring.push(t0 + ms(33 * i), i));
    }
    ring
}

#[test]
fn the_frame_nearest_the_trigger_is_taken() {
    let t0 = Instant::now();
    let ring = ring_at_30_fps(t0, 10, 16);
    assert_eq!(ring.nearest(t0 + ms(100), ms(50)).map(|f| f.1), Some(3)); // 99 ms
    assert_eq!(ring.nearest(t0 + ms(115), ms(50)).map(|f| f.1), Some(3)); // 99 vs 132
    assert_eq!(ring.nearest(t0 + ms(117), ms(50)).map(|f| f.1), Some(4)); // 132 is 15 away
    assert_eq!(ring.nearest(t0, ms(50)).map(|f| f.1), Some(0));
}

#[test]
fn a_tie_goes_to_the_earlier_frame() {
    let t0 = Instant::now();
    let mut ring = FrameRing::new(4);
    ring.push(t0, "a");
    ring.push(t0 + ms(20), "b");
    assert_eq!(ring.nearest(t0 + ms(10), ms(50)).map(|f| f.1), Some("a"));
}

#[test]
fn no_frame_within_the_tolerance_is_none() {
    let t0 = Instant::now();
    let ring = ring_at_30_fps(t0, 3, 16);
    assert_eq!(ring.nearest(t0 + ms(500), ms(50)), None);
    assert_eq!(FrameRing::<u64>::new(4).nearest(t0, ms(50)), None);
}

#[test]
fn the_oldest_frames_are_forgotten() {
    let t0 = Instant::now();
    let ring = ring_at_30_fps(t0, 10, 4);
    assert_eq!(ring.len(), 4);
    // Frame 0 is gone; the oldest left is frame 6 at 198 ms, too far from t0.
    assert_eq!(ring.nearest(t0, ms(50)), None);
    assert_eq!(ring.nearest(t0 + ms(200), ms(50)).map(|f| f.1), Some(6));
}

#[test]
fn coverage_tells_whether_a_later_frame_could_still_be_nearer() {
    let t0 = Instant::now();
    let ring = ring_at_30_fps(t0, 4, 16); // newest at 99 ms
    assert!(ring.covers(t0 + ms(99)));
    assert!(!ring.covers(t0 + ms(100)));
    assert!(!FrameRing::<u64>::new(2).covers(t0));
}

#[test]
fn a_frame_stamped_before_the_newest_is_refused() {
    let t0 = Instant::now();
    let mut ring = FrameRing::new(4);
    assert!(ring.push(t0 + ms(10), 1));
    assert!(!ring.push(t0, 0));
    assert_eq!(ring.len(), 1);
    assert!(!ring.is_empty());
}
