//! NanoDet GFL heads: per stride, class scores (already sigmoid) and a distribution over
//! `reg_max + 1` bins for each side's distance from the cell centre.

use serde::Deserialize;

use ndarray::ArrayView1;

use super::{BoxF, DecodeError, Detection, Outputs, matrix};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NanoDetParams {
    pub strides: Vec<u32>,
    /// One [1, cells, classes] output per stride.
    pub score_outputs: Vec<String>,
    /// One [1, cells, 4 * (reg_max + 1)] output per stride, sides left, top, right, bottom.
    pub box_outputs: Vec<String>,
    pub reg_max: u32,
}

/// The expected distance (in bins) of one side's softmaxed distribution.
pub fn expected_bin(logits: ArrayView1<f32>) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    let mut weighted = 0.0;
    for (i, logit) in logits.iter().enumerate() {
        let e = (logit - max).exp();
        sum += e;
        weighted += e * i as f32;
    }
    weighted / sum
}

pub fn decode(
    params: &NanoDetParams,
    outputs: &dyn Outputs,
    width: u32,
    height: u32,
    score_threshold: f32,
) -> Result<Vec<Detection>, DecodeError> {
    let bins = (params.reg_max + 1) as usize;
    let mut found = Vec::new();
    for ((stride, score_name), box_name) in params
        .strides
        .iter()
        .zip(&params.score_outputs)
        .zip(&params.box_outputs)
    {
        let cols = width.div_ceil(*stride) as usize;
        let cells = cols * height.div_ceil(*stride) as usize;
        let scores = matrix(
            outputs,
            score_name,
            (Some(cells), None),
            &format!("[1, {cells}, classes]"),
        )?;
        let boxes = matrix(
            outputs,
            box_name,
            (Some(cells), Some(4 * bins)),
            &format!("[1, {cells}, {}]", 4 * bins),
        )?;
        for (cell, (row, dist)) in scores.rows().into_iter().zip(boxes.rows()).enumerate() {
            let Some((class_id, &score)) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
            else {
                continue;
            };
            if score < score_threshold {
                continue;
            }
            // One distribution over the bins per side.
            let Ok(sides) = dist.into_shape_with_order((4, bins)) else {
                continue;
            };
            let side = |k: usize| expected_bin(sides.row(k)) * *stride as f32;
            let cx = ((cell % cols) as f32 + 0.5) * *stride as f32;
            let cy = ((cell / cols) as f32 + 0.5) * *stride as f32;
            found.push(Detection {
                bbox: BoxF {
                    x1: cx - side(0),
                    y1: cy - side(1),
                    x2: cx + side(2),
                    y2: cy + side(3),
                },
                score,
                class_id: class_id as u32,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_outputs::MapOutputs;

    #[test]
    fn the_expected_bin_of_a_peaked_distribution_is_its_peak() {
        let mut logits = [-50.0; 11];
        logits[3] = 50.0;
        assert!((expected_bin(ArrayView1::from(&logits[..])) - 3.0).abs() < 1e-4);
        assert!((expected_bin(ArrayView1::from(&[0.0, 0.0])) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn decodes_one_cell_into_a_box_around_its_centre() {
        let params = NanoDetParams {
            strides: vec![8],
            score_outputs: vec!["s8".into()],
            box_outputs: vec!["b8".into()],
            reg_max: 2,
        };
        // 16x16 input at stride 8: 2x2 cells, 2 classes, 4 sides x 3 bins.
        let mut scores = vec![0.0; 4 * 2];
        scores[3 * 2 + 1] = 0.8; // cell (1, 1), class 1
        scores[2 * 2] = 0.2; // below threshold
        let mut boxes = vec![-50.0; 4 * 12];
        for side in 0..4 {
            boxes[3 * 12 + side * 3 + if side < 2 { 1 } else { 2 }] = 50.0;
        }
        let outputs =
            MapOutputs::default()
                .with("s8", &[1, 4, 2], scores)
                .with("b8", &[1, 4, 12], boxes);
        let found = decode(&params, &outputs, 16, 16, 0.3).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class_id, 1);
        let b = found[0].bbox;
        // centre (12, 12); left/top 1 bin = 8 px, right/bottom 2 bins = 16 px.
        let want = [4.0, 4.0, 28.0, 28.0];
        for (got, want) in [b.x1, b.y1, b.x2, b.y2].into_iter().zip(want) {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn a_missing_output_is_an_error() {
        let params = NanoDetParams {
            strides: vec![8],
            score_outputs: vec!["s8".into()],
            box_outputs: vec!["b8".into()],
            reg_max: 2,
        };
        let outputs = MapOutputs::default().with("s8", &[1, 4, 2], vec![0.0; 8]);
        assert_eq!(
            decode(&params, &outputs, 16, 16, 0.3).unwrap_err(),
            DecodeError::MissingOutput("b8".into())
        );
    }
}
