//! A raw frame as an OpenCV image (its own copy, to be anonymized in place) and JPEG encoding.

use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use vod_core::{Frame, PixelFormat};

/// JPEG quality (0-100) of stored images.
pub const JPEG_QUALITY: i32 = 90;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("frame of {width}x{height} {format:?} holds {actual} bytes, expected {expected}")]
    WrongSize {
        width: u32,
        height: u32,
        format: PixelFormat,
        actual: usize,
        expected: usize,
    },
    #[error("OpenCV could not encode the frame: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// Checks the frame's buffer against its size and copies it into an 8-bit image of 1 or 3
/// channels.
pub fn frame_mat(frame: &Frame) -> Result<Mat, EncodeError> {
    if frame.pixels.len() != frame.expected_len() {
        return Err(EncodeError::WrongSize {
            width: frame.width,
            height: frame.height,
            format: frame.pixel_format,
            actual: frame.pixels.len(),
            expected: frame.expected_len(),
        });
    }
    let rows = frame.height as i32;
    let flat = Mat::from_slice(&frame.pixels)?;
    let image = flat.reshape(frame.pixel_format.bytes_per_pixel() as i32, rows)?;
    Ok(image.try_clone()?)
}

pub fn encode_mat(image: &Mat) -> Result<Vec<u8>, EncodeError> {
    let mut jpeg = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, JPEG_QUALITY]);
    imgcodecs::imencode(".jpg", image, &mut jpeg, &params)?;
    Ok(jpeg.to_vec())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use vod_core::VehicleId;

    use super::*;

    fn frame(width: u32, height: u32, pixel_format: PixelFormat, pixels: Vec<u8>) -> Frame {
        Frame {
            camera: Arc::from("cam"),
            vehicle_id: VehicleId::new(Utc::now(), 0, 0),
            lane: Arc::from("lane"),
            burst_index: 0,
            captured_utc: Utc::now(),
            device_timestamp_ns: None,
            width,
            height,
            pixel_format,
            pixels,
        }
    }

    #[test]
    fn encodes_colour_and_mono_frames_that_decode_to_the_same_size() {
        for format in [PixelFormat::Bgr8, PixelFormat::Mono8] {
            let pixels = vec![128u8; 64 * 48 * format.bytes_per_pixel()];
            let jpeg = encode_mat(&frame_mat(&frame(64, 48, format, pixels)).unwrap()).unwrap();
            assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic");
            let decoded = imgcodecs::imdecode(
                &Mat::from_slice(&jpeg).unwrap(),
                imgcodecs::IMREAD_UNCHANGED,
            )
            .unwrap();
            assert_eq!((decoded.cols(), decoded.rows()), (64, 48));
            assert_eq!(decoded.channels() as usize, format.bytes_per_pixel());
        }
    }

    #[test]
    fn refuses_a_frame_whose_buffer_does_not_match_its_size() {
        let error = frame_mat(&frame(64, 48, PixelFormat::Bgr8, vec![0; 100])).unwrap_err();
        assert!(matches!(
            error,
            EncodeError::WrongSize {
                expected: 9216,
                actual: 100,
                ..
            }
        ));
    }
}
