//! The anonymizer: each region (a face, or a whole person) grown by a margin is reduced to a
//! few coarse blocks and overlaid with random noise, in place, before anything is encoded.
//! The pixels inside are overwritten, so nothing of the face survives in the image.

use opencv::core::{self, Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;
use rand::Rng;

use crate::decode::BoxF;

/// How strongly regions are destroyed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnonymizeParams {
    /// Growth of each box on every side, as a fraction of its width and height.
    pub margin: f32,
    /// Blocks across the longer side of a region.
    pub blocks: i32,
    /// Peak amplitude of the uniform noise added to every pixel (0-255).
    pub noise: u8,
}

impl Default for AnonymizeParams {
    fn default() -> Self {
        // Measured by `cargo bench -p vod-vision --bench anonymize` (docs/PERFORMANCE.md):
        // with a margin of 0.25, the face of camera.png came back in 1.8 % of noise draws for
        // CenterFace and 0.9 % for RetinaFace; with 0.4, in none of 1000 for either, on both
        // test photos (with 0.5, RetinaFace saw a face in the astronaut's blocks 31 % of the
        // time: the margin is not "the more the better").
        // With 5 blocks RetinaFace found a face again in 4 of 40 draws; more noise adds
        // face-like texture (more finds, not fewer).
        AnonymizeParams {
            margin: 0.4,
            blocks: 3,
            noise: 48,
        }
    }
}

/// The pixel rectangle a box covers once grown by the margin and clipped to the image, or
/// `None` when nothing of it is inside.
pub fn grown_rect(b: BoxF, margin: f32, width: i32, height: i32) -> Option<Rect> {
    let (mw, mh) = ((b.x2 - b.x1) * margin, (b.y2 - b.y1) * margin);
    let x1 = ((b.x1 - mw).floor() as i32).clamp(0, width);
    let y1 = ((b.y1 - mh).floor() as i32).clamp(0, height);
    let x2 = ((b.x2 + mw).ceil() as i32).clamp(0, width);
    let y2 = ((b.y2 + mh).ceil() as i32).clamp(0, height);
    (x2 > x1 && y2 > y1).then(|| Rect::new(x1, y1, x2 - x1, y2 - y1))
}

/// Destroys every region in `image` (8-bit, 1 or 3 channels). Returns how many were done.
pub fn anonymize(
    image: &mut Mat,
    boxes: &[BoxF],
    params: &AnonymizeParams,
    rng: &mut impl Rng,
) -> Result<usize, opencv::Error> {
    let (width, height) = (image.cols(), image.rows());
    let mut done = 0;
    for b in boxes {
        let Some(rect) = grown_rect(*b, params.margin, width, height) else {
            continue;
        };
        let mut roi = Mat::roi_mut(image, rect)?;
        let blocks = params.blocks.max(1);
        let longer = rect.width.max(rect.height);
        let small = Size::new(
            (rect.width * blocks / longer).max(1),
            (rect.height * blocks / longer).max(1),
        );
        let mut coarse = Mat::default();
        imgproc::resize(&roi, &mut coarse, small, 0.0, 0.0, imgproc::INTER_AREA)?;
        let mut blocky = Mat::default();
        imgproc::resize(
            &coarse,
            &mut blocky,
            rect.size(),
            0.0,
            0.0,
            imgproc::INTER_NEAREST,
        )?;
        let mut noise = Mat::new_rows_cols_with_default(
            rect.height,
            rect.width,
            blocky.typ(),
            core::Scalar::all(0.0),
        )?;
        // OpenCV's generator fills the region natively; each region gets a fresh seed from `rng`.
        let amplitude = i16::from(params.noise);
        let mut noise_rng = core::RNG::new(rng.random())?;
        noise_rng.fill(
            &mut noise,
            core::RNG_UNIFORM,
            &core::Scalar::all(0.0),
            &core::Scalar::all(f64::from(amplitude * 2 + 1)),
            false,
        )?;
        let mut noisy = Mat::default();
        // blocky + noise - amplitude, saturated: uniform noise in [-amplitude, amplitude].
        core::add_weighted(
            &blocky,
            1.0,
            &noise,
            1.0,
            -f64::from(amplitude),
            &mut noisy,
            -1,
        )?;
        noisy.copy_to(&mut roi)?;
        done += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use opencv::core::{CV_8UC3, Scalar};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn gradient(width: i32, height: i32) -> Mat {
        let mut m =
            Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(0.0)).unwrap();
        for (i, byte) in m.data_bytes_mut().unwrap().iter_mut().enumerate() {
            *byte = (i * 7 % 251) as u8;
        }
        m
    }

    #[test]
    fn grown_rect_adds_the_margin_and_clips_to_the_image() {
        let b = BoxF {
            x1: 10.0,
            y1: 10.0,
            x2: 30.0,
            y2: 50.0,
        };
        assert_eq!(grown_rect(b, 0.25, 100, 100), Some(Rect::new(5, 0, 30, 60)));
        let outside = BoxF {
            x1: 200.0,
            y1: 0.0,
            x2: 220.0,
            y2: 10.0,
        };
        assert_eq!(grown_rect(outside, 0.25, 100, 100), None);
    }

    #[test]
    fn the_region_is_overwritten_and_the_rest_is_untouched() {
        let original = gradient(64, 48);
        let mut image = original.try_clone().unwrap();
        let b = BoxF {
            x1: 20.0,
            y1: 10.0,
            x2: 40.0,
            y2: 30.0,
        };
        let params = AnonymizeParams::default();
        let n = anonymize(&mut image, &[b], &params, &mut StdRng::seed_from_u64(1)).unwrap();
        assert_eq!(n, 1);
        let rect = grown_rect(b, params.margin, 64, 48).unwrap();
        let (before, after) = (original.data_bytes().unwrap(), image.data_bytes().unwrap());
        let mut changed_inside = 0;
        for y in 0..48 {
            for x in 0..64 {
                let i = ((y * 64 + x) * 3) as usize;
                let inside = rect.contains(opencv::core::Point::new(x, y));
                if !inside {
                    assert_eq!(before[i..i + 3], after[i..i + 3], "outside pixel {x},{y}");
                } else if before[i..i + 3] != after[i..i + 3] {
                    changed_inside += 1;
                }
            }
        }
        let area = rect.width * rect.height;
        assert!(
            changed_inside * 100 >= area * 95,
            "{changed_inside} of {area} changed"
        );
    }

    #[test]
    fn two_runs_with_different_noise_differ_so_the_noise_is_not_a_function_of_the_face() {
        let b = [BoxF {
            x1: 8.0,
            y1: 8.0,
            x2: 40.0,
            y2: 40.0,
        }];
        let params = AnonymizeParams::default();
        let mut a = gradient(48, 48);
        let mut c = gradient(48, 48);
        anonymize(&mut a, &b, &params, &mut StdRng::seed_from_u64(1)).unwrap();
        anonymize(&mut c, &b, &params, &mut StdRng::seed_from_u64(2)).unwrap();
        assert_ne!(a.data_bytes().unwrap(), c.data_bytes().unwrap());
    }
}
