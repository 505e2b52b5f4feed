//! YOLO-style output: [1, N, 4 + 1 + C] rows of centre x, centre y, width, height (input
//! pixels), objectness and per-class scores.

use serde::Deserialize;

use ndarray::s;

use super::{BoxF, DecodeError, Detection, Outputs, bad_shape, matrix};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct YoloParams {
    pub output: String,
}

pub fn decode(
    params: &YoloParams,
    outputs: &dyn Outputs,
    score_threshold: f32,
) -> Result<Vec<Detection>, DecodeError> {
    let expected = "[1, N, 4 + 1 + classes]";
    let rows = matrix(outputs, &params.output, (None, None), expected)?;
    if rows.ncols() < 6 {
        let (shape, _) = outputs.tensor(&params.output)?;
        return Err(bad_shape(&params.output, shape, expected));
    }
    let mut found = Vec::new();
    for row in rows.rows() {
        let objectness = row[4];
        let classes = row.slice(s![5..]);
        let Some((class_id, class_score)) =
            classes.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
        else {
            continue;
        };
        let score = objectness * class_score;
        if score < score_threshold {
            continue;
        }
        let (cx, cy, w, h) = (row[0], row[1], row[2], row[3]);
        found.push(Detection {
            bbox: BoxF {
                x1: cx - w / 2.0,
                y1: cy - h / 2.0,
                x2: cx + w / 2.0,
                y2: cy + h / 2.0,
            },
            score,
            class_id: class_id as u32,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_outputs::MapOutputs;

    #[test]
    fn score_is_objectness_times_the_best_class() {
        let params = YoloParams { output: "o".into() };
        let outputs = MapOutputs::default().with(
            "o",
            &[1, 2, 7],
            vec![
                50.0, 40.0, 20.0, 10.0, 0.9, 0.1, 0.8, // class 1, 0.72
                10.0, 10.0, 4.0, 4.0, 0.3, 0.9, 0.0, // 0.27, dropped
            ],
        );
        let found = decode(&params, &outputs, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class_id, 1);
        assert!((found[0].score - 0.72).abs() < 1e-6);
        assert_eq!(
            found[0].bbox,
            BoxF {
                x1: 40.0,
                y1: 35.0,
                x2: 60.0,
                y2: 45.0
            }
        );
    }

    #[test]
    fn a_row_too_short_for_a_class_is_an_error() {
        let params = YoloParams { output: "o".into() };
        let outputs = MapOutputs::default().with("o", &[1, 1, 5], vec![0.0; 5]);
        assert!(matches!(
            decode(&params, &outputs, 0.5),
            Err(DecodeError::BadShape { .. })
        ));
    }
}
