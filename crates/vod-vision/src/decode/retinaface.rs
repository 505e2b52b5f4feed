//! RetinaFace: boxes regressed against anchor priors laid on strides 8/16/32.

use serde::Deserialize;

use super::{BoxF, DecodeError, Detection, Outputs, matrix};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetinaFaceParams {
    /// Output holding [1, N, 4] box offsets.
    pub loc_output: String,
    /// Output holding [1, N, 2] softmaxed scores (index 1 = face).
    pub conf_output: String,
    pub strides: Vec<u32>,
    /// Prior sizes in input pixels, one list per stride.
    pub min_sizes: Vec<Vec<f32>>,
    pub variances: [f32; 2],
}

/// Prior boxes (cx, cy, w, h) in input pixels, in the order the network emits them: per
/// stride, per cell row, per cell column, per size.
pub fn priors(params: &RetinaFaceParams, width: u32, height: u32) -> Vec<[f32; 4]> {
    let mut priors = Vec::new();
    for (stride, sizes) in params.strides.iter().zip(&params.min_sizes) {
        let rows = height.div_ceil(*stride);
        let cols = width.div_ceil(*stride);
        for row in 0..rows {
            for col in 0..cols {
                for size in sizes {
                    let cx = (col as f32 + 0.5) * *stride as f32;
                    let cy = (row as f32 + 0.5) * *stride as f32;
                    priors.push([cx, cy, *size, *size]);
                }
            }
        }
    }
    priors
}

pub fn decode(
    params: &RetinaFaceParams,
    outputs: &dyn Outputs,
    width: u32,
    height: u32,
    score_threshold: f32,
) -> Result<Vec<Detection>, DecodeError> {
    let priors = priors(params, width, height);
    let n = priors.len();
    let loc = matrix(
        outputs,
        &params.loc_output,
        (Some(n), Some(4)),
        &format!("[1, {n}, 4]"),
    )?;
    let conf = matrix(
        outputs,
        &params.conf_output,
        (Some(n), Some(2)),
        &format!("[1, {n}, 2]"),
    )?;
    let [v0, v1] = params.variances;
    let mut found = Vec::new();
    for ((prior, d), conf) in priors.iter().zip(loc.rows()).zip(conf.rows()) {
        let score = conf[1];
        if score < score_threshold {
            continue;
        }
        let cx = prior[0] + d[0] * v0 * prior[2];
        let cy = prior[1] + d[1] * v0 * prior[3];
        let w = prior[2] * (d[2] * v1).exp();
        let h = prior[3] * (d[3] * v1).exp();
        found.push(Detection {
            bbox: BoxF {
                x1: cx - w / 2.0,
                y1: cy - h / 2.0,
                x2: cx + w / 2.0,
                y2: cy + h / 2.0,
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

    fn params() -> RetinaFaceParams {
        RetinaFaceParams {
            loc_output: "loc".into(),
            conf_output: "conf".into(),
            strides: vec![8, 16, 32],
            min_sizes: vec![vec![16.0, 32.0], vec![64.0, 128.0], vec![256.0, 512.0]],
            variances: [0.1, 0.2],
        }
    }

    #[test]
    fn prior_count_and_layout_follow_the_strides() {
        let priors = priors(&params(), 64, 32);
        // 8x4 cells x2 + 4x2 x2 + 2x1 x2
        assert_eq!(priors.len(), 64 + 16 + 4);
        assert_eq!(priors[0], [4.0, 4.0, 16.0, 16.0]);
        assert_eq!(priors[1], [4.0, 4.0, 32.0, 32.0]);
        assert_eq!(priors[2], [12.0, 4.0, 16.0, 16.0]);
        assert_eq!(priors[64], [8.0, 8.0, 64.0, 64.0]);
    }

    #[test]
    fn decodes_offsets_against_the_prior_and_drops_low_scores() {
        let p = params();
        let n = priors(&p, 64, 32).len();
        let mut loc = vec![0.0; n * 4];
        let mut conf = vec![0.0; n * 2];
        // Prior 2 (cx 12, cy 4, size 16): shift right by 0.5 * 0.1 * 16 = 0.8, double width.
        loc[8] = 0.5;
        loc[10] = 2f32.ln() / 0.2;
        conf[2 * 2 + 1] = 0.9;
        conf[5 * 2 + 1] = 0.1;
        let outputs = MapOutputs::default()
            .with("loc", &[1, n as i64, 4], loc)
            .with("conf", &[1, n as i64, 2], conf);
        let found = decode(&p, &outputs, 64, 32, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        let b = found[0].bbox;
        assert!((b.x1 - (12.8 - 16.0)).abs() < 1e-4, "{b:?}");
        assert!((b.x2 - (12.8 + 16.0)).abs() < 1e-4, "{b:?}");
        assert!(
            (b.y1 - -4.0).abs() < 1e-4 && (b.y2 - 12.0).abs() < 1e-4,
            "{b:?}"
        );
    }

    #[test]
    fn a_wrong_output_shape_is_an_error() {
        let outputs = MapOutputs::default()
            .with("loc", &[1, 3, 4], vec![0.0; 12])
            .with("conf", &[1, 3, 2], vec![0.0; 6]);
        let error = decode(&params(), &outputs, 64, 32, 0.5).unwrap_err();
        assert!(matches!(error, DecodeError::BadShape { ref name, .. } if name == "loc"));
    }
}
