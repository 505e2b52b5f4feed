//! What the uplink's tests and benchmark share: captures with stand-in images.

use chrono::{TimeDelta, Utc};
use vod_core::{Capture, CaptureImage, VehicleId};

/// Vehicle `sequence`'s capture, detected a minute ago, with `images` stand-in images of
/// `bytes` bytes each (not JPEG: the uplink carries bytes, whatever they are), distinct for
/// every vehicle and image.
pub fn capture(sequence: u32, images: u32, bytes: usize) -> Capture {
    let detected_utc = Utc::now() - TimeDelta::seconds(60);
    Capture {
        vehicle_id: VehicleId::new(detected_utc, sequence, 7),
        lane: format!("lane-{}", sequence % 2 + 1).into(),
        camera: format!("cam-{}", sequence % 2 + 1).into(),
        detected_utc,
        images: (0..images)
            .map(|burst_index| CaptureImage {
                burst_index,
                captured_utc: detected_utc
                    + TimeDelta::milliseconds(20 + 40 * i64::from(burst_index)),
                width: 1280,
                height: 1024,
                jpeg: (0..bytes)
                    .map(|i| (i as u32 ^ sequence.wrapping_mul(31) ^ burst_index) as u8)
                    .collect(),
            })
            .collect(),
        occupancy: None,
        test: false,
    }
}
