//! The simulated camera: renders a side view of the passing vehicle, so the whole chain from
//! trigger to stored image runs without hardware.

use std::sync::Arc;

use chrono::Utc;
use opencv::core::{Mat, Point, Rect, Scalar, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;
use vod_core::{Frame, PixelFormat, TriggerCommand};

use crate::{Camera, CameraError};

#[derive(Debug)]
pub struct SimCamera {
    name: Arc<str>,
    width: u32,
    height: u32,
}

impl SimCamera {
    pub fn new(name: Arc<str>, width: u32, height: u32) -> Self {
        SimCamera {
            name,
            width,
            height,
        }
    }

    fn render(&self, trigger: &TriggerCommand, burst_index: u32) -> opencv::Result<Mat> {
        let (w, h) = (self.width as i32, self.height as i32);
        let mut image =
            Mat::new_rows_cols_with_default(h, w, Vec3b::opencv_type(), Scalar::all(0.0))?;
        // Sky and road.
        imgproc::rectangle_def(&mut image, Rect::new(0, 0, w, h * 3 / 5), sky())?;
        imgproc::rectangle(
            &mut image,
            Rect::new(0, h * 3 / 5, w, h),
            road(),
            imgproc::FILLED,
            imgproc::LINE_8,
            0,
        )?;
        // The vehicle moves to the right through the burst; its paint comes from its id.
        let id_bytes = trigger.vehicle_id.0.as_bytes();
        let paint = Scalar::new(
            f64::from(id_bytes[10]),
            f64::from(id_bytes[11]),
            f64::from(id_bytes[12]),
            0.0,
        );
        let body_w = w * 3 / 5;
        let body_h = h / 4;
        let x0 = w / 8 + (burst_index as i32 * w / 40);
        let y0 = h * 3 / 5 - body_h / 2;
        filled(&mut image, Rect::new(x0, y0, body_w, body_h), paint)?;
        filled(
            &mut image,
            Rect::new(
                x0 + body_w / 6,
                y0 - body_h * 2 / 3,
                body_w * 2 / 3,
                body_h * 2 / 3,
            ),
            paint,
        )?;
        let glass = Scalar::new(90.0, 70.0, 50.0, 0.0);
        for row in 0..2 {
            let wx = x0 + body_w / 5 + row * body_w * 3 / 10;
            filled(
                &mut image,
                Rect::new(wx, y0 - body_h / 2, body_w / 4, body_h / 3),
                glass,
            )?;
        }
        for wheel_x in [x0 + body_w / 5, x0 + body_w * 4 / 5] {
            imgproc::circle(
                &mut image,
                Point::new(wheel_x, y0 + body_h),
                body_h / 3,
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
            .and_then(|m| Ok(m.data_bytes()?.to_vec()))
            .map_err(|source| CameraError::Render {
                camera: self.name.to_string(),
                source,
            })?;
        Ok(Frame {
            camera: self.name.clone(),
            vehicle_id: trigger.vehicle_id,
            lane: trigger.lane.clone(),
            burst_index,
            captured_utc: Utc::now(),
            width: self.width,
            height: self.height,
            pixel_format: PixelFormat::Bgr8,
            pixels: image,
        })
    }
}
