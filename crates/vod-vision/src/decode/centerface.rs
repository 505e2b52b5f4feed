//! CenterFace: an anchor-free face detector. Each cell of a stride-4 grid has a face score
//! (heatmap), the face's size as log-scales of 4 px (scale) and the centre's offset within the
//! cell (offset); a face is a cell whose score passes the threshold.

use serde::Deserialize;

use ndarray::Axis;

use super::{BoxF, DecodeError, Detection, Outputs, planes};

/// The grid's stride in input pixels.
const STRIDE: f32 = 4.0;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CenterFaceParams {
    /// Output holding [1, 1, H/4, W/4] face scores.
    pub heatmap_output: String,
    /// Output holding [1, 2, H/4, W/4] log-sizes (height, width).
    pub scale_output: String,
    /// Output holding [1, 2, H/4, W/4] centre offsets (y, x) within a cell.
    pub offset_output: String,
}

pub fn decode(
    params: &CenterFaceParams,
    outputs: &dyn Outputs,
    width: u32,
    height: u32,
    score_threshold: f32,
) -> Result<Vec<Detection>, DecodeError> {
    let (rows, cols) = ((height / 4) as usize, (width / 4) as usize);
    let heatmap = planes(outputs, &params.heatmap_output, (1, rows, cols))?;
    let scale = planes(outputs, &params.scale_output, (2, rows, cols))?;
    let offset = planes(outputs, &params.offset_output, (2, rows, cols))?;
    let (width, height) = (width as f32, height as f32);
    let mut found = Vec::new();
    for ((row, col), &score) in heatmap.index_axis(Axis(0), 0).indexed_iter() {
        if score < score_threshold {
            continue;
        }
        let face_h = scale[[0, row, col]].exp() * STRIDE;
        let face_w = scale[[1, row, col]].exp() * STRIDE;
        let centre_y = (row as f32 + offset[[0, row, col]] + 0.5) * STRIDE;
        let centre_x = (col as f32 + offset[[1, row, col]] + 0.5) * STRIDE;
        let x1 = (centre_x - face_w / 2.0).clamp(0.0, width);
        let y1 = (centre_y - face_h / 2.0).clamp(0.0, height);
        found.push(Detection {
            bbox: BoxF {
                x1,
                y1,
                x2: (x1 + face_w).min(width),
                y2: (y1 + face_h).min(height),
            },
            score,
            class_id: 0,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_outputs::MapOutputs;

    fn params() -> CenterFaceParams {
        CenterFaceParams {
            heatmap_output: "heatmap".into(),
            scale_output: "scale".into(),
            offset_output: "offset".into(),
        }
    }

    #[test]
    fn a_hot_cell_is_a_face_of_its_size_at_its_place() {
        // A 32x16 input: an 8x4 grid. One cell (row 2, column 5) is a face 16 px high and
        // 8 px wide, centred a quarter cell right of the cell's middle.
        let (rows, cols) = (4, 8);
        let mut heatmap = vec![0.0; rows * cols];
        heatmap[2 * cols + 5] = 0.9;
        let mut scale = vec![0.0; 2 * rows * cols];
        scale[2 * cols + 5] = (16.0f32 / 4.0).ln();
        scale[rows * cols + 2 * cols + 5] = (8.0f32 / 4.0).ln();
        let mut offset = vec![0.0; 2 * rows * cols];
        offset[rows * cols + 2 * cols + 5] = 0.25;
        let outputs = MapOutputs::default()
            .with("heatmap", &[1, 1, 4, 8], heatmap)
            .with("scale", &[1, 2, 4, 8], scale)
            .with("offset", &[1, 2, 4, 8], offset);
        let found = decode(&params(), &outputs, 32, 16, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        let face = found[0];
        assert_eq!(face.score, 0.9);
        // Centre x = (5 + 0.25 + 0.5) * 4 = 23, y = (2 + 0.5) * 4 = 10.
        let close = |a: f32, b: f32| (a - b).abs() < 1e-4;
        assert!(
            close(face.bbox.x1, 19.0) && close(face.bbox.x2, 27.0),
            "{face:?}"
        );
        // Clamped to the input: 10 - 8 = 2 to 18, cut at 16.
        assert!(
            close(face.bbox.y1, 2.0) && close(face.bbox.y2, 16.0),
            "{face:?}"
        );
        assert!(
            decode(&params(), &outputs, 32, 16, 0.95)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_wrong_shape_is_an_error() {
        let outputs = MapOutputs::default().with("heatmap", &[1, 1, 2, 2], vec![0.0; 4]);
        assert!(matches!(
            decode(&params(), &outputs, 32, 16, 0.5),
            Err(DecodeError::BadShape { .. })
        ));
    }
}
