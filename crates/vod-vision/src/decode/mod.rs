//! Output decoders: pure functions from a model's raw output arrays to detections in the
//! pixel coordinates of the model's input tensor. Each reads its outputs as ndarray views of
//! the shape it expects ([`matrix`], [`planes`]): a wrong shape is an error naming the output.

pub mod centerface;
pub mod nanodet;
pub mod nms;
pub mod retinaface;
pub mod ssd;
pub mod yolo;

use ndarray::{ArrayView2, ArrayView3};

pub use nms::nms;

/// An axis-aligned box, corners in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxF {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BoxF {
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    pub fn iou(&self, other: &BoxF) -> f32 {
        let inter = BoxF {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        }
        .area();
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    pub fn centre_x(&self) -> f32 {
        (self.x1 + self.x2) / 2.0
    }
}

/// One object found by a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BoxF,
    pub score: f32,
    pub class_id: u32,
}

/// The raw output arrays of one inference, by output name, with their shapes.
pub trait Outputs {
    fn tensor(&self, name: &str) -> Result<(&[i64], &[f32]), DecodeError>;
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("output '{0}' is missing")]
    MissingOutput(String),
    #[error("output '{name}' has shape {shape:?}, expected {expected}")]
    BadShape {
        name: String,
        shape: Vec<i64>,
        expected: String,
    },
}

/// Output `name` of shape `[1, rows, cols]` as a `rows` x `cols` view (the batch of one
/// dropped); `None` takes any length. A `BadShape` naming `expected` otherwise.
pub(crate) fn matrix<'a>(
    outputs: &'a dyn Outputs,
    name: &str,
    (rows, cols): (Option<usize>, Option<usize>),
    expected: &str,
) -> Result<ArrayView2<'a, f32>, DecodeError> {
    let (shape, data) = outputs.tensor(name)?;
    let wrong = || bad_shape(name, shape, expected);
    let &[1, r, c] = shape else {
        return Err(wrong());
    };
    let (r, c) = (dim(r).ok_or_else(wrong)?, dim(c).ok_or_else(wrong)?);
    if rows.is_some_and(|n| n != r) || cols.is_some_and(|n| n != c) {
        return Err(wrong());
    }
    ArrayView2::from_shape((r, c), data).map_err(|_| wrong())
}

/// Output `name` of shape `[1, channels, rows, cols]` as a `channels` x `rows` x `cols` view.
pub(crate) fn planes<'a>(
    outputs: &'a dyn Outputs,
    name: &str,
    (channels, rows, cols): (usize, usize, usize),
) -> Result<ArrayView3<'a, f32>, DecodeError> {
    let (shape, data) = outputs.tensor(name)?;
    let wrong = || bad_shape(name, shape, format!("[1, {channels}, {rows}, {cols}]"));
    let want = [1, channels, rows, cols];
    if shape.len() != 4
        || shape
            .iter()
            .zip(want)
            .any(|(got, want)| dim(*got) != Some(want))
    {
        return Err(wrong());
    }
    ArrayView3::from_shape((channels, rows, cols), data).map_err(|_| wrong())
}

fn dim(length: i64) -> Option<usize> {
    usize::try_from(length).ok()
}

pub(crate) fn bad_shape(name: &str, shape: &[i64], expected: impl Into<String>) -> DecodeError {
    DecodeError::BadShape {
        name: name.to_owned(),
        shape: shape.to_vec(),
        expected: expected.into(),
    }
}

#[cfg(test)]
pub(crate) mod test_outputs {
    use std::collections::HashMap;

    use super::{DecodeError, Outputs};

    #[derive(Default)]
    pub struct MapOutputs(pub HashMap<String, (Vec<i64>, Vec<f32>)>);

    impl MapOutputs {
        pub fn with(mut self, name: &str, shape: &[i64], data: Vec<f32>) -> Self {
            self.0.insert(name.to_owned(), (shape.to_vec(), data));
            self
        }
    }

    impl Outputs for MapOutputs {
        fn tensor(&self, name: &str) -> Result<(&[i64], &[f32]), DecodeError> {
            self.0
                .get(name)
                .map(|(shape, data)| (shape.as_slice(), data.as_slice()))
                .ok_or_else(|| DecodeError::MissingOutput(name.to_owned()))
        }
    }
}
