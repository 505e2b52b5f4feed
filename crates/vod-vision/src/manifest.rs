//! Model manifests (`models/*.toml`): what file a model is, how to feed it and how to read
//! its outputs. A site's own model plugs in by adding a manifest.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::decode::centerface::CenterFaceParams;
use crate::decode::nanodet::NanoDetParams;
use crate::decode::retinaface::RetinaFaceParams;
use crate::decode::ssd::SsdParams;
use crate::decode::yolo::YoloParams;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    /// The ONNX file, relative to the manifest's folder.
    pub file: PathBuf,
    /// Lower-case hex SHA-256 of the file, checked at load.
    pub sha256: String,
    pub licence: String,
    pub provenance: String,
    pub input: InputSpec,
    pub decoder: Decoder,
    /// The classes kept; any other class the model reports is dropped.
    pub classes: Vec<ClassEntry>,
    pub score_threshold: f32,
    pub nms_iou: f32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub layout: Layout,
    pub dtype: Dtype,
    pub width: u32,
    pub height: u32,
    pub colour: ColourOrder,
    pub resize: ResizeMode,
    /// Subtracted from each channel (in the model's colour order) before dividing by `std`.
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    U8,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    Bgr,
    Rgb,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Keep the aspect ratio, pad the rest.
    Letterbox,
    Stretch,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decoder {
    RetinaFace(RetinaFaceParams),
    CenterFace(CenterFaceParams),
    NanodetGfl(NanoDetParams),
    Ssd(SsdParams),
    Yolo(YoloParams),
}

impl Decoder {
    /// Every output name the decoder reads.
    pub fn output_names(&self) -> Vec<&str> {
        match self {
            Decoder::RetinaFace(p) => vec![&p.loc_output, &p.conf_output],
            Decoder::CenterFace(p) => vec![&p.heatmap_output, &p.scale_output, &p.offset_output],
            Decoder::NanodetGfl(p) => p
                .score_outputs
                .iter()
                .chain(&p.box_outputs)
                .map(String::as_str)
                .collect(),
            Decoder::Ssd(p) => vec![
                &p.num_output,
                &p.boxes_output,
                &p.scores_output,
                &p.classes_output,
            ],
            Decoder::Yolo(p) => vec![&p.output],
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassEntry {
    pub id: u32,
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model manifest {path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model manifest {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("model manifest {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Manifest::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        manifest
            .validate()
            .map_err(|problem| ManifestError::Invalid {
                path: path.to_owned(),
                problem,
            })?;
        Ok(manifest)
    }

    /// The class label for a model class id, when the manifest keeps that class.
    pub fn label(&self, class_id: u32) -> Option<&str> {
        self.classes
            .iter()
            .find(|c| c.id == class_id)
            .map(|c| c.label.as_str())
    }

    fn validate(&self) -> Result<(), String> {
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "sha256 must be 64 hex digits, got '{}'",
                self.sha256
            ));
        }
        if self.input.width == 0 || self.input.height == 0 {
            return Err("input width and height must be positive".into());
        }
        if self.input.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err("input std must be finite and non-zero".into());
        }
        if self.classes.is_empty() {
            return Err("classes must name at least one class".into());
        }
        for (key, value) in [
            ("score_threshold", self.score_threshold),
            ("nms_iou", self.nms_iou),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{key} must be within 0..1, got {value}"));
            }
        }
        match &self.decoder {
            Decoder::RetinaFace(p) if p.strides.len() != p.min_sizes.len() => {
                Err("decoder.min_sizes needs one list per stride".into())
            }
            Decoder::NanodetGfl(p)
                if p.strides.len() != p.score_outputs.len()
                    || p.strides.len() != p.box_outputs.len() =>
            {
                Err("decoder.score_outputs and box_outputs need one name per stride".into())
            }
            Decoder::RetinaFace(RetinaFaceParams { strides, .. })
            | Decoder::NanodetGfl(NanoDetParams { strides, .. })
                if strides.is_empty() || strides.contains(&0) =>
            {
                Err("decoder.strides must be a non-empty list of positive strides".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "faces"
file = "f.onnx"
sha256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
licence = "MIT"
provenance = "test"
classes = [{ id = 0, label = "face" }]
score_threshold = 0.7
nms_iou = 0.4

[input]
name = "input"
layout = "nchw"
dtype = "f32"
width = 640
height = 512
colour = "bgr"
resize = "letterbox"
mean = [104.0, 117.0, 123.0]
std = [1.0, 1.0, 1.0]

[decoder]
kind = "retina_face"
loc_output = "loc"
conf_output = "conf"
strides = [8, 16, 32]
min_sizes = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]]
variances = [0.1, 0.2]
"#;

    #[test]
    fn parses_a_complete_manifest() {
        let m = Manifest::parse(Path::new("faces.toml"), GOOD).unwrap();
        assert_eq!(m.input.layout, Layout::Nchw);
        assert_eq!(m.decoder.output_names(), vec!["loc", "conf"]);
        assert_eq!(m.label(0), Some("face"));
        assert_eq!(m.label(1), None);
    }

    #[test]
    fn problems_name_the_manifest_and_what_is_wrong() {
        let cases = [
            (
                GOOD.replace("sha256 = \"b7", "sha256 = \"zz"),
                "sha256 must be 64 hex",
            ),
            (
                GOOD.replace("nms_iou = 0.4", "nms_iou = 1.4"),
                "nms_iou must be within",
            ),
            (GOOD.replace("[256.0, 512.0]]", "]"), "one list per stride"),
            (
                GOOD.replace("layout = \"nchw\"", "layout = \"chw\""),
                "unknown variant",
            ),
            (
                GOOD.replace("kind = \"retina_face\"", "kind = \"detr\""),
                "unknown variant",
            ),
            (
                GOOD.replace("std = [1.0, 1.0, 1.0]", "std = [1.0, 0.0, 1.0]"),
                "std",
            ),
        ];
        for (text, want) in cases {
            let error = Manifest::parse(Path::new("models/faces.toml"), &text)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("model manifest models/faces.toml: "),
                "{error}"
            );
            assert!(error.contains(want), "{error} lacks {want}");
        }
    }
}
