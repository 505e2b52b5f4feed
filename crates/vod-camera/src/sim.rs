//! The simulated camera: renders a side view of the passing vehicle whose windows show
//! occupants cut from real photographs, so the whole chain from trigger to stored image runs
//! without hardware, and the seat rows occupied are known to measure accuracy against.

use std::sync::Arc;

use chrono::Utc;
use opencv::core::{Mat, Point, Rect, Scalar, Size, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;
use vod_core::{Frame, TriggerCommand, VehicleId};

use crate::{Camera, CameraError, FrameTimes, frame_of};

/// A photo's name, its PNG bytes, and the head-and-shoulders region (x, y, width, height).
type Photo = (&'static str, &'static [u8], (i32, i32, i32, i32));

/// The photos occupants are cut from (see assets/occupants/PROVENANCE.md).
const PHOTOS: [Photo; 2] = [
    (
        "astronaut",
        include_bytes!("../assets/occupants/astronaut.png"),
        (70, 0, 330, 400),
    ),
    (
        "camera",
        include_bytes!("../assets/occupants/camera.png"),
        (90, 40, 280, 340),
    ),
];

/// One occupant the simulated camera drew: the ground truth for a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOccupant {
    /// Seat row, 1 = front.
    pub row: u8,
    /// Where the occupant's picture lies in the frame.
    pub bbox: Rect,
    pub photo: &'static str,
}

/// What the simulated camera shows of one vehicle in one frame of its burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimScene {
    /// The occupied seat rows, front first; the same for every frame of a vehicle.
    pub occupied_rows: Vec<u8>,
    pub occupants: Vec<SimOccupant>,
}

#[derive(Debug)]
pub struct SimCamera {
    name: Arc<str>,
    width: u32,
    height: u32,
    /// Head-and-shoulders crops of the photos, BGR.
    photos: Vec<(&'static str, Mat)>,
}

impl SimCamera {
    pub fn new(name: Arc<str>, width: u32, height: u32) -> Result<Self, CameraError> {
        let render_error = |source| CameraError::Render {
            camera: name.to_string(),
            source,
        };
        let photos = PHOTOS
            .iter()
            .map(|(photo, png, (x, y, w, h))| {
                let bytes = opencv::core::Vector::<u8>::from_slice(png);
                let image = opencv::imgcodecs::imdecode(&bytes, opencv::imgcodecs::IMREAD_COLOR)?;
                let mut crop = Mat::default();
                image.roi(Rect::new(*x, *y, *w, *h))?.copy_to(&mut crop)?;
                Ok((*photo, crop))
            })
            .collect::<opencv::Result<Vec<_>>>()
            .map_err(render_error)?;
        Ok(SimCamera {
            name,
            width,
            height,
            photos,
        })
    }

    /// The ground truth for `vehicle` in frame `burst_index`, without rendering it.
    pub fn scene(&self, vehicle: VehicleId, burst_index: u32) -> SimScene {
        let layout = Layout::new(self.width as i32, self.height as i32, burst_index);
        let mut rng = SplitMix(vehicle.0.as_u128() as u64 ^ (vehicle.0.as_u128() >> 64) as u64);
        // The driver is always there; the rear row is taken half of the time.
        let rear = rng.next().is_multiple_of(2);
        let mut occupants = Vec::new();
        for (row, window) in [(1u8, layout.front_window), (2u8, layout.rear_window)] {
            let photo_index = (rng.next() % self.photos.len() as u64) as usize;
            let scale = 0.80 + 0.15 * rng.unit();
            let shift = rng.unit();
            if row == 2 && !rear || window.height < 16 {
                continue;
            }
            let (photo, crop) = &self.photos[photo_index];
            let aspect = f64::from(crop.cols()) / f64::from(crop.rows());
            let h = (f64::from(window.height) * scale) as i32;
            let w = ((f64::from(h) * aspect) as i32).min(window.width);
            let x = window.x + ((f64::from(window.width - w)) * shift) as i32;
            let y = window.y + window.height - h;
            occupants.push(SimOccupant {
                row,
                bbox: Rect::new(x, y, w, h),
                photo,
            });
        }
        SimScene {
            occupied_rows: occupants.iter().map(|o| o.row).collect(),
            occupants,
        }
    }

    fn render(&self, trigger: &TriggerCommand, burst_index: u32) -> opencv::Result<Mat> {
        let (w, h) = (self.width as i32, self.height as i32);
        let layout = Layout::new(w, h, burst_index);
        let mut image =
            Mat::new_rows_cols_with_default(h, w, Vec3b::opencv_type(), Scalar::all(0.0))?;
        filled(&mut image, Rect::new(0, 0, w, layout.road_y), sky())?;
        filled(&mut image, Rect::new(0, layout.road_y, w, h), road())?;
        let id = trigger.vehicle_id.0.as_bytes();
        let mut paint_rng = SplitMix(trigger.vehicle_id.0.as_u128() as u64 ^ 0x5EED);
        let mut channel = || 40.0 + 200.0 * paint_rng.unit();
        let paint = Scalar::new(channel(), channel(), channel(), 0.0);
        filled(&mut image, layout.body, paint)?;
        filled(&mut image, layout.cabin, paint)?;
        let glass = Scalar::new(70.0, 60.0, 50.0, 0.0);
        filled(&mut image, layout.front_window, glass)?;
        filled(&mut image, layout.rear_window, glass)?;
        let scene = self.scene(trigger.vehicle_id, burst_index);
        let mut rng = SplitMix(id[15] as u64 | (u64::from(id[14]) << 8));
        for occupant in &scene.occupants {
            let Some((_, crop)) = self.photos.iter().find(|(p, _)| *p == occupant.photo) else {
                continue;
            };
            let mut scaled = Mat::default();
            let size = Size::new(occupant.bbox.width, occupant.bbox.height);
            imgproc::resize(crop, &mut scaled, size, 0.0, 0.0, imgproc::INTER_AREA)?;
            if rng.next().is_multiple_of(2) {
                let mut flipped = Mat::default();
                opencv::core::flip(&scaled, &mut flipped, 1)?;
                scaled = flipped;
            }
            // Seen through tinted glass: a little darker, a little of the tint.
            let mut tinted = Mat::default();
            scaled.convert_to(&mut tinted, -1, 0.75 + 0.2 * rng.unit(), 0.0)?;
            let mut target = image.roi_mut(occupant.bbox)?;
            let mut blended = Mat::default();
            opencv::core::add_weighted(&tinted, 0.9, &target, 0.1, 0.0, &mut blended, -1)?;
            blended.copy_to(&mut target)?;
        }
        for wheel_x in layout.wheels_x {
            imgproc::circle(
                &mut image,
                Point::new(wheel_x, layout.body.y + layout.body.height),
                layout.body.height / 2,
                Scalar::all(20.0),
                imgproc::FILLED,
                imgproc::LINE_AA,
                0,
            )?;
        }
        let label = format!("{} {} #{}", self.name, trigger.vehicle_id, burst_index);
        imgproc::put_text(
            &mut image,
            &label,
            Point::new(10, h - 20),
            imgproc::FONT_HERSHEY_SIMPLEX,
            f64::from(h) / 1200.0,
            Scalar::all(255.0),
            2,
            imgproc::LINE_AA,
            false,
        )?;
        Ok(image)
    }
}

/// Where the parts of the vehicle lie in a `w` x `h` frame: the vehicle fills most of the
/// width, so that occupants are large enough for the detectors, and moves right by 1/40 of
/// the width per burst frame.
struct Layout {
    road_y: i32,
    body: Rect,
    cabin: Rect,
    front_window: Rect,
    rear_window: Rect,
    wheels_x: [i32; 2],
}

impl Layout {
    fn new(w: i32, h: i32, burst_index: u32) -> Self {
        let x0 = w / 40 + burst_index.min(4) as i32 * w / 40;
        let body_w = w * 17 / 20;
        let road_y = h * 4 / 5;
        let body = Rect::new(x0, road_y - h / 4, body_w, h / 5);
        let cabin_h = h * 9 / 20;
        let cabin = Rect::new(x0 + body_w / 10, body.y - cabin_h, body_w * 8 / 10, cabin_h);
        let window_w = cabin.width * 9 / 20;
        let window_h = cabin_h * 17 / 20;
        let window_y = cabin.y + cabin_h / 10;
        // The driver sits on the right: the vehicle drives to the right of the frame.
        let rear_window = Rect::new(cabin.x + cabin.width / 30, window_y, window_w, window_h);
        let front_window = Rect::new(
            cabin.x + cabin.width - window_w - cabin.width / 30,
            window_y,
            window_w,
            window_h,
        );
        Layout {
            road_y,
            body,
            cabin,
            front_window,
            rear_window,
            wheels_x: [x0 + body_w / 5, x0 + body_w * 4 / 5],
        }
    }
}

/// A small deterministic generator (SplitMix64), so each vehicle id always looks the same.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sky() -> Scalar {
    Scalar::new(200.0, 170.0, 140.0, 0.0)
}

fn road() -> Scalar {
    Scalar::new(80.0, 80.0, 80.0, 0.0)
}

fn filled(image: &mut Mat, rect: Rect, colour: Scalar) -> opencv::Result<()> {
    imgproc::rectangle(image, rect, colour, imgproc::FILLED, imgproc::LINE_8, 0)
}

impl Camera for SimCamera {
    fn grab(&mut self, trigger: &TriggerCommand, burst_index: u32) -> Result<Frame, CameraError> {
        let image = self
            .render(trigger, burst_index)
            .map_err(|source| CameraError::Render {
                camera: self.name.to_string(),
                source,
            })?;
        let times = FrameTimes {
            captured_utc: Utc::now(),
            device_timestamp_ns: None,
        };
        frame_of(&self.name, trigger, burst_index, &image, times).map_err(|source| {
            CameraError::Image {
                camera: self.name.to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests;
