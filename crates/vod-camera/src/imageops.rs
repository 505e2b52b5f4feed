//! Image operations on camera buffers: decoding the sensor's pixel format into the Mono8 or
//! BGR8 images the rest of the appliance uses, contrast enhancement for windshield glare,
//! cropping and resizing. Pure functions over byte buffers and OpenCV `Mat`s.

use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use vod_core::PixelFormat;

/// A pixel format as the sensor delivers it (GenICam names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorFormat {
    Mono8,
    /// Little-endian 16-bit; reduced to 8 bits by keeping the high byte.
    Mono16,
    /// Bayer mosaics, named by the colours of the first two pixels of the first row.
    BayerRg8,
    BayerGr8,
    BayerGb8,
    BayerBg8,
    Rgb8,
}

impl SensorFormat {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            SensorFormat::Mono16 => 2,
            SensorFormat::Rgb8 => 3,
            _ => 1,
        }
    }

    /// The GenICam `PixelFormat` entry name.
    pub fn genicam_name(self) -> &'static str {
        match self {
            SensorFormat::Mono8 => "Mono8",
            SensorFormat::Mono16 => "Mono16",
            SensorFormat::BayerRg8 => "BayerRG8",
            SensorFormat::BayerGr8 => "BayerGR8",
            SensorFormat::BayerGb8 => "BayerGB8",
            SensorFormat::BayerBg8 => "BayerBG8",
            SensorFormat::Rgb8 => "RGB8",
        }
    }

    /// The format of the decoded image.
    pub fn decoded(self) -> PixelFormat {
        match self {
            SensorFormat::Mono8 | SensorFormat::Mono16 => PixelFormat::Mono8,
            _ => PixelFormat::Bgr8,
        }
    }
}

impl From<vod_core::config::GigePixelFormat> for SensorFormat {
    fn from(format: vod_core::config::GigePixelFormat) -> Self {
        use vod_core::config::GigePixelFormat as Config;
        match format {
            Config::Mono8 => SensorFormat::Mono8,
            Config::Mono16 => SensorFormat::Mono16,
            Config::BayerRg8 => SensorFormat::BayerRg8,
            Config::BayerGr8 => SensorFormat::BayerGr8,
            Config::BayerGb8 => SensorFormat::BayerGb8,
            Config::BayerBg8 => SensorFormat::BayerBg8,
            Config::Rgb8 => SensorFormat::Rgb8,
        }
    }
}

impl std::str::FromStr for SensorFormat {
    type Err = ImageError;

    fn from_str(name: &str) -> Result<Self, ImageError> {
        ALL_SENSOR_FORMATS
            .into_iter()
            .find(|format| format.genicam_name().eq_ignore_ascii_case(name))
            .ok_or_else(|| ImageError::UnknownFormat(name.to_owned()))
    }
}

pub const ALL_SENSOR_FORMATS: [SensorFormat; 7] = [
    SensorFormat::Mono8,
    SensorFormat::Mono16,
    SensorFormat::BayerRg8,
    SensorFormat::BayerGr8,
    SensorFormat::BayerGb8,
    SensorFormat::BayerBg8,
    SensorFormat::Rgb8,
];

/// A rectangle in pixels, top-left origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roi {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "unknown pixel format {0:?} (expected one of Mono8, Mono16, BayerRG8, BayerGR8, BayerGB8, BayerBG8, RGB8)"
    )]
    UnknownFormat(String),
    #[error("buffer holds {got} bytes; {width}x{height} {format:?} needs {expected}")]
    WrongSize {
        got: usize,
        expected: usize,
        width: u32,
        height: u32,
        format: SensorFormat,
    },
    #[error("USB frame holds {got} bytes; {width}x{height} {format:?} needs {expected}")]
    WrongUsbSize {
        got: usize,
        expected: usize,
        width: u32,
        height: u32,
        format: UsbFormat,
    },
    #[error("USB frame is not a decodable JPEG")]
    BadJpeg,
    #[error("region {roi:?} lies outside the {width}x{height} image")]
    RoiOutside { roi: Roi, width: u32, height: u32 },
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// Decodes one sensor buffer (rows without padding) into an owned Mono8 or BGR8 image.
pub fn decode(
    raw: &[u8],
    width: u32,
    height: u32,
    format: SensorFormat,
) -> Result<Mat, ImageError> {
    let expected = width as usize * height as usize * format.bytes_per_pixel();
    if raw.len() != expected || width == 0 || height == 0 {
        return Err(ImageError::WrongSize {
            got: raw.len(),
            expected,
            width,
            height,
            format,
        });
    }
    let (rows, cols) = (height as i32, width as i32);
    let mut out = Mat::default();
    match format {
        SensorFormat::Mono8 => {
            Mat::new_rows_cols_with_data(rows, cols, raw)?.copy_to(&mut out)?;
        }
        SensorFormat::Mono16 => {
            let high_bytes: Vec<u8> = raw.chunks_exact(2).map(|pair| pair[1]).collect();
            Mat::new_rows_cols_with_data(rows, cols, &high_bytes)?.copy_to(&mut out)?;
        }
        SensorFormat::Rgb8 => {
            let rgb = Mat::new_rows_cols_with_bytes::<opencv::core::Vec3b>(rows, cols, raw)?;
            imgproc::cvt_color_def(&rgb, &mut out, imgproc::COLOR_RGB2BGR)?;
        }
        bayer => {
            let mosaic = Mat::new_rows_cols_with_data(rows, cols, raw)?;
            imgproc::cvt_color_def(&mosaic, &mut out, opencv_bayer_code(bayer))?;
        }
    }
    Ok(out)
}

/// What a USB (UVC) camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbFormat {
    Mjpeg,
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// A full-size Y plane, then a half-size interleaved UV plane.
    Nv12,
    Gray,
    Rgb,
    Bgr,
}

/// Decodes one USB camera frame into an owned Mono8 or BGR8 image.
pub fn decode_usb(
    bytes: &[u8],
    width: u32,
    height: u32,
    format: UsbFormat,
) -> Result<Mat, ImageError> {
    let (w, h) = (width as usize, height as usize);
    let (rows, cols) = (height as i32, width as i32);
    let check = |expected: usize| {
        if bytes.len() == expected && expected > 0 {
            Ok(())
        } else {
            Err(ImageError::WrongUsbSize {
                got: bytes.len(),
                expected,
                width,
                height,
                format,
            })
        }
    };
    let mut out = Mat::default();
    match format {
        UsbFormat::Mjpeg => {
            let jpeg = Mat::from_slice(bytes)?;
            out = opencv::imgcodecs::imdecode(&jpeg, opencv::imgcodecs::IMREAD_COLOR)?;
            if out.empty() {
                return Err(ImageError::BadJpeg);
            }
        }
        UsbFormat::Yuyv => {
            check(w * h * 2)?;
            let packed = Mat::new_rows_cols_with_bytes::<opencv::core::Vec2b>(rows, cols, bytes)?;
            imgproc::cvt_color_def(&packed, &mut out, imgproc::COLOR_YUV2BGR_YUYV)?;
        }
        UsbFormat::Nv12 => {
            check(w * h * 3 / 2)?;
            let planes = Mat::new_rows_cols_with_data(rows * 3 / 2, cols, bytes)?;
            imgproc::cvt_color_def(&planes, &mut out, imgproc::COLOR_YUV2BGR_NV12)?;
        }
        UsbFormat::Gray => {
            check(w * h)?;
            Mat::new_rows_cols_with_data(rows, cols, bytes)?.copy_to(&mut out)?;
        }
        UsbFormat::Rgb => {
            check(w * h * 3)?;
            let rgb = Mat::new_rows_cols_with_bytes::<opencv::core::Vec3b>(rows, cols, bytes)?;
            imgproc::cvt_color_def(&rgb, &mut out, imgproc::COLOR_RGB2BGR)?;
        }
        UsbFormat::Bgr => {
            check(w * h * 3)?;
            Mat::new_rows_cols_with_bytes::<opencv::core::Vec3b>(rows, cols, bytes)?
                .copy_to(&mut out)?;
        }
    }
    Ok(out)
}

/// OpenCV names a Bayer pattern by the second row's second and third pixels, GenICam by the
/// first row's first two; the two names differ for every pattern.
fn opencv_bayer_code(format: SensorFormat) -> i32 {
    match format {
        SensorFormat::BayerRg8 => imgproc::COLOR_BayerBG2BGR,
        SensorFormat::BayerGr8 => imgproc::COLOR_BayerGB2BGR,
        SensorFormat::BayerGb8 => imgproc::COLOR_BayerGR2BGR,
        _ => imgproc::COLOR_BayerRG2BGR,
    }
}

/// Contrast-limited adaptive histogram equalisation on the luminance, which lifts faces out
/// of near-infrared windshield glare without shifting colours.
pub fn clahe(image: &Mat, clip_limit: f64) -> Result<Mat, ImageError> {
    let mut equaliser = imgproc::create_clahe(clip_limit, Size::new(8, 8))?;
    let mut out = Mat::default();
    if image.channels() == 1 {
        equaliser.apply(image, &mut out)?;
        return Ok(out);
    }
    let mut ycrcb = Mat::default();
    imgproc::cvt_color_def(image, &mut ycrcb, imgproc::COLOR_BGR2YCrCb)?;
    let mut planes = Vector::<Mat>::new();
    opencv::core::split(&ycrcb, &mut planes)?;
    let mut luma = Mat::default();
    equaliser.apply(&planes.get(0)?, &mut luma)?;
    planes.set(0, luma)?;
    opencv::core::merge(&planes, &mut ycrcb)?;
    imgproc::cvt_color_def(&ycrcb, &mut out, imgproc::COLOR_YCrCb2BGR)?;
    Ok(out)
}

/// Copies the region `roi` out of `image`.
pub fn crop(image: &Mat, roi: Roi) -> Result<Mat, ImageError> {
    let (width, height) = (image.cols() as u32, image.rows() as u32);
    let fits = roi.width > 0
        && roi.height > 0
        && u64::from(roi.x) + u64::from(roi.width) <= u64::from(width)
        && u64::from(roi.y) + u64::from(roi.height) <= u64::from(height);
    if !fits {
        return Err(ImageError::RoiOutside { roi, width, height });
    }
    let rect = Rect::new(
        roi.x as i32,
        roi.y as i32,
        roi.width as i32,
        roi.height as i32,
    );
    let mut out = Mat::default();
    image.roi(rect)?.copy_to(&mut out)?;
    Ok(out)
}

/// Scales `image` to `width` x `height` (area interpolation: sharp when shrinking).
pub fn resize(image: &Mat, width: u32, height: u32) -> Result<Mat, ImageError> {
    let mut out = Mat::default();
    imgproc::resize(
        image,
        &mut out,
        Size::new(width as i32, height as i32),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    Ok(out)
}

/// What to do to each frame after decoding; every step is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Processing {
    pub clahe_clip_limit: Option<f64>,
    pub crop: Option<Roi>,
    pub resize: Option<(u32, u32)>,
}

impl Processing {
    /// Decodes `raw` and applies the steps: crop first, so CLAHE and resize see fewer pixels.
    pub fn run(
        &self,
        raw: &[u8],
        width: u32,
        height: u32,
        format: SensorFormat,
    ) -> Result<Mat, ImageError> {
        let mut image = decode(raw, width, height, format)?;
        if let Some(roi) = self.crop {
            image = crop(&image, roi)?;
        }
        if let Some(clip_limit) = self.clahe_clip_limit {
            image = clahe(&image, clip_limit)?;
        }
        if let Some((width, height)) = self.resize {
            image = resize(&image, width, height)?;
        }
        Ok(image)
    }
}

/// Encodes a Mono8 or BGR8 image as PNG (lossless, for field grabs).
pub fn encode_png(image: &impl opencv::core::ToInputArray) -> Result<Vec<u8>, ImageError> {
    let mut png = Vector::<u8>::new();
    opencv::imgcodecs::imencode_def(".png", image, &mut png)?;
    Ok(png.to_vec())
}

/// Encodes a frame's pixels as PNG.
pub fn encode_frame_png(frame: &vod_core::Frame) -> Result<Vec<u8>, ImageError> {
    let rows = i32::try_from(frame.height).unwrap_or(i32::MAX);
    let channels = frame.pixel_format.bytes_per_pixel() as i32;
    let flat = Mat::from_slice(&frame.pixels)?;
    encode_png(&flat.reshape(channels, rows)?)
}

/// The pixels of a continuous Mono8 or BGR8 `Mat`, with its format.
pub fn into_pixels(image: &Mat) -> Result<(PixelFormat, Vec<u8>), ImageError> {
    let format = if image.channels() == 1 {
        PixelFormat::Mono8
    } else {
        PixelFormat::Bgr8
    };
    Ok((format, image.data_bytes()?.to_vec()))
}

#[cfg(test)]
mod tests;
