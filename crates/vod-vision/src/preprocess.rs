//! Preprocessing through OpenCV: resize (letterbox or stretch), colour order, normalization
//! and layout, plus the transform that maps the model's boxes back onto the frame.

use opencv::core::{self, Mat, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::decode::BoxF;
use crate::manifest::{ColourOrder, Dtype, InputSpec, Layout, ResizeMode};

/// The input tensor's data, in the manifest's dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    U8(Vec<u8>),
}

/// Maps input-tensor pixels back to frame pixels: `frame = (input - pad) / scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Transform {
    pub fn to_frame(&self, b: BoxF, frame_width: u32, frame_height: u32) -> BoxF {
        let (w, h) = (frame_width as f32, frame_height as f32);
        BoxF {
            x1: ((b.x1 - self.pad_x) / self.scale_x).clamp(0.0, w),
            y1: ((b.y1 - self.pad_y) / self.scale_y).clamp(0.0, h),
            x2: ((b.x2 - self.pad_x) / self.scale_x).clamp(0.0, w),
            y2: ((b.y2 - self.pad_y) / self.scale_y).clamp(0.0, h),
        }
    }
}

/// `image` is 8-bit BGR (3 channels) or grey (1 channel).
pub fn preprocess(image: &Mat, spec: &InputSpec) -> Result<(TensorData, Transform), opencv::Error> {
    let (iw, ih) = (image.cols() as f32, image.rows() as f32);
    let (tw, th) = (spec.width as i32, spec.height as i32);
    let colour = if image.channels() == 1 {
        let mut bgr = Mat::default();
        imgproc::cvt_color_def(image, &mut bgr, imgproc::COLOR_GRAY2BGR)?;
        bgr
    } else {
        image.try_clone()?
    };
    let ordered = match spec.colour {
        ColourOrder::Bgr => colour,
        ColourOrder::Rgb => {
            let mut rgb = Mat::default();
            imgproc::cvt_color_def(&colour, &mut rgb, imgproc::COLOR_BGR2RGB)?;
            rgb
        }
    };
    let (sized, transform) = match spec.resize {
        ResizeMode::Stretch => {
            let mut out = Mat::default();
            imgproc::resize(
                &ordered,
                &mut out,
                Size::new(tw, th),
                0.0,
                0.0,
                imgproc::INTER_LINEAR,
            )?;
            let t = Transform {
                scale_x: tw as f32 / iw,
                scale_y: th as f32 / ih,
                pad_x: 0.0,
                pad_y: 0.0,
            };
            (out, t)
        }
        ResizeMode::Letterbox => {
            let scale = (tw as f32 / iw).min(th as f32 / ih);
            let nw = ((iw * scale).round() as i32).clamp(1, tw);
            let nh = ((ih * scale).round() as i32).clamp(1, th);
            let mut resized = Mat::default();
            imgproc::resize(
                &ordered,
                &mut resized,
                Size::new(nw, nh),
                0.0,
                0.0,
                imgproc::INTER_LINEAR,
            )?;
            let (left, top) = ((tw - nw) / 2, (th - nh) / 2);
            let mut out = Mat::default();
            core::copy_make_border(
                &resized,
                &mut out,
                top,
                th - nh - top,
                left,
                tw - nw - left,
                core::BORDER_CONSTANT,
                Scalar::all(0.0),
            )?;
            let t = Transform {
                scale_x: scale,
                scale_y: scale,
                pad_x: left as f32,
                pad_y: top as f32,
            };
            (out, t)
        }
    };
    let pixels = sized.data_bytes()?;
    Ok((to_tensor(pixels, spec), transform))
}

/// Interleaved 8-bit pixels (height x width x 3) into the manifest's layout and dtype.
pub fn to_tensor(pixels: &[u8], spec: &InputSpec) -> TensorData {
    let plane = (spec.width * spec.height) as usize;
    match spec.dtype {
        Dtype::U8 => match spec.layout {
            Layout::Nhwc => TensorData::U8(pixels.to_vec()),
            Layout::Nchw => {
                let mut out = vec![0u8; plane * 3];
                for (i, px) in pixels.chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        out[c * plane + i] = px[c];
                    }
                }
                TensorData::U8(out)
            }
        },
        Dtype::F32 => {
            let scale = spec.std.map(|s| 1.0 / s);
            let mut out = vec![0f32; plane * 3];
            for (i, px) in pixels.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    let v = (f32::from(px[c]) - spec.mean[c]) * scale[c];
                    match spec.layout {
                        Layout::Nchw => out[c * plane + i] = v,
                        Layout::Nhwc => out[i * 3 + c] = v,
                    }
                }
            }
            TensorData::F32(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use opencv::core::CV_8UC3;

    use super::*;

    fn spec(resize: ResizeMode, colour: ColourOrder, layout: Layout, dtype: Dtype) -> InputSpec {
        InputSpec {
            name: "in".into(),
            layout,
            dtype,
            width: 8,
            height: 8,
            colour,
            resize,
            mean: [10.0, 20.0, 30.0],
            std: [2.0, 2.0, 2.0],
        }
    }

    fn image(width: i32, height: i32, bgr: [u8; 3]) -> Mat {
        Mat::new_rows_cols_with_default(
            height,
            width,
            CV_8UC3,
            Scalar::new(bgr[0].into(), bgr[1].into(), bgr[2].into(), 0.0),
        )
        .unwrap()
    }

    #[test]
    fn letterbox_pads_the_short_side_and_the_transform_undoes_it() {
        let s = spec(
            ResizeMode::Letterbox,
            ColourOrder::Bgr,
            Layout::Nhwc,
            Dtype::U8,
        );
        let (data, t) = preprocess(&image(16, 8, [50, 60, 70]), &s).unwrap();
        assert_eq!(
            t,
            Transform {
                scale_x: 0.5,
                scale_y: 0.5,
                pad_x: 0.0,
                pad_y: 2.0
            }
        );
        let TensorData::U8(px) = data else {
            panic!("u8 expected")
        };
        assert_eq!(&px[..3], &[0, 0, 0], "top padding row");
        assert_eq!(
            &px[2 * 8 * 3..2 * 8 * 3 + 3],
            &[50, 60, 70],
            "first image row"
        );
        let back = t.to_frame(
            BoxF {
                x1: 2.0,
                y1: 3.0,
                x2: 4.0,
                y2: 5.0,
            },
            16,
            8,
        );
        assert_eq!(
            back,
            BoxF {
                x1: 4.0,
                y1: 2.0,
                x2: 8.0,
                y2: 6.0
            }
        );
    }

    #[test]
    fn stretch_rgb_nchw_f32_normalizes_each_channel_in_model_order() {
        let s = spec(
            ResizeMode::Stretch,
            ColourOrder::Rgb,
            Layout::Nchw,
            Dtype::F32,
        );
        let (data, t) = preprocess(&image(4, 16, [50, 60, 70]), &s).unwrap();
        assert_eq!((t.scale_x, t.scale_y), (2.0, 0.5));
        let TensorData::F32(v) = data else {
            panic!("f32 expected")
        };
        assert_eq!(v.len(), 3 * 64);
        // R first: (70 - 10) / 2, then G: (60 - 20) / 2, then B: (50 - 30) / 2.
        assert_eq!((v[0], v[64], v[128]), (30.0, 20.0, 10.0));
    }

    #[test]
    fn grey_frames_are_expanded_to_three_channels() {
        let s = spec(
            ResizeMode::Stretch,
            ColourOrder::Bgr,
            Layout::Nhwc,
            Dtype::U8,
        );
        let grey =
            Mat::new_rows_cols_with_default(8, 8, opencv::core::CV_8UC1, Scalar::all(9.0)).unwrap();
        let (data, _) = preprocess(&grey, &s).unwrap();
        assert_eq!(data, TensorData::U8(vec![9; 8 * 8 * 3]));
    }
}
