//! SSD with non-maximum suppression inside the graph: boxes (ymin, xmin, ymax, xmax in 0..1),
//! scores and class ids, the first `num_detections` of them valid.

use serde::Deserialize;

use super::{BoxF, DecodeError, Detection, Outputs, bad_shape, matrix};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SsdParams {
    pub num_output: String,
    pub boxes_output: String,
    pub scores_output: String,
    pub classes_output: String,
}

pub fn decode(
    params: &SsdParams,
    outputs: &dyn Outputs,
    width: u32,
    height: u32,
    score_threshold: f32,
) -> Result<Vec<Detection>, DecodeError> {
    let (_, num) = outputs.tensor(&params.num_output)?;
    let boxes = matrix(outputs, &params.boxes_output, (None, Some(4)), "[1, N, 4]")?;
    let capacity = boxes.nrows();
    let (score_shape, scores) = outputs.tensor(&params.scores_output)?;
    if scores.len() != capacity {
        return Err(bad_shape(
            &params.scores_output,
            score_shape,
            format!("[1, {capacity}]"),
        ));
    }
    let (class_shape, classes) = outputs.tensor(&params.classes_output)?;
    if classes.len() != capacity {
        return Err(bad_shape(
            &params.classes_output,
            class_shape,
            format!("[1, {capacity}]"),
        ));
    }
    let valid = num
        .first()
        .map_or(0, |n| (*n).max(0.0) as usize)
        .min(capacity);
    let (w, h) = (width as f32, height as f32);
    Ok((0..valid)
        .filter(|&i| scores[i] >= score_threshold)
        .map(|i| {
            let b = boxes.row(i);
            Detection {
                bbox: BoxF {
                    x1: b[1] * w,
                    y1: b[0] * h,
                    x2: b[3] * w,
                    y2: b[2] * h,
                },
                score: scores[i],
                class_id: classes[i] as u32,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_outputs::MapOutputs;

    #[test]
    fn keeps_only_the_valid_and_confident_rows_and_swaps_to_x_y() {
        let params = SsdParams {
            num_output: "n".into(),
            boxes_output: "b".into(),
            scores_output: "s".into(),
            classes_output: "c".into(),
        };
        let outputs = MapOutputs::default()
            .with("n", &[1], vec![2.0])
            .with(
                "b",
                &[1, 3, 4],
                vec![0.1, 0.2, 0.5, 0.6, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0],
            )
            .with("s", &[1, 3], vec![0.9, 0.2, 0.99])
            .with("c", &[1, 3], vec![1.0, 1.0, 1.0]);
        let found = decode(&params, &outputs, 300, 100, 0.5).unwrap();
        assert_eq!(
            found.len(),
            1,
            "row 2 is past num_detections, row 1 too weak"
        );
        let b = found[0].bbox;
        assert!(
            (b.x1 - 60.0).abs() < 1e-4 && (b.x2 - 180.0).abs() < 1e-4,
            "{b:?}"
        );
        assert!(
            (b.y1 - 10.0).abs() < 1e-4 && (b.y2 - 50.0).abs() < 1e-4,
            "{b:?}"
        );
        assert_eq!(found[0].class_id, 1);
    }
}
