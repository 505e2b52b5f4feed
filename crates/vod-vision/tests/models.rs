//! The shipped models through ONNX Runtime: every manifest loads, the real photos give the
//! people and faces they hold, and a bad model is refused naming its manifest.
#![allow(clippy::unwrap_used)] // a failing test may panic

use std::path::{Path, PathBuf};

use opencv::core::Mat;
use opencv::imgcodecs;
use opencv::prelude::*;
use vod_vision::{Model, ModelError};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model(manifest: &str) -> Model {
    Model::load(&repo().join("models").join(manifest), 2).unwrap()
}

fn photo(name: &str) -> Mat {
    let path = repo().join("tests/data/images").join(name);
    let image = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!image.empty(), "{}", path.display());
    image
}

/// Writes a copy of a shipped manifest with one line replaced, its `file` made absolute.
fn altered(dir: &Path, manifest: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("models").join(manifest)).unwrap();
    assert!(text.contains(from), "{manifest} lacks {from}");
    let models = repo().join("models");
    let text = text
        .replace(from, to)
        .replace("file = \"", &format!("file = \"{}/", models.display()));
    let path = dir.join(manifest);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_shipped_manifest_loads_and_checks_out() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(repo().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            names.push(Model::load(&path, 1).unwrap().name().to_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "centerface",
            "nanodet-g-416-coco",
            "retinaface-mnet025",
            "ssdlite-pedestrian"
        ]
    );
}

#[test]
fn the_astronaut_photo_holds_one_person_and_one_face() {
    let image = photo("astronaut.png");
    let faces = model("retinaface_mnet025.toml").detect(&image).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    // The face is in the upper middle of the 512x512 photo.
    let f = faces[0].bbox;
    assert!(
        f.x1 > 150.0 && f.x2 < 300.0 && f.y1 > 40.0 && f.y2 < 220.0,
        "{f:?}"
    );
    // CenterFace, the independent face check, finds the same face.
    let centre = model("centerface.toml").detect(&image).unwrap();
    assert_eq!(centre.len(), 1, "{centre:?}");
    assert!(
        centre[0].bbox.iou(&f) > 0.3,
        "{:?} vs {f:?}",
        centre[0].bbox
    );
    for manifest in ["nanodet_g_416_coco.toml", "ssdlite_pedestrian.toml"] {
        let people = model(manifest).detect(&image).unwrap();
        assert!(!people.is_empty(), "{manifest} found nobody");
        let p = people[0].bbox;
        assert!(
            p.x1 <= f.x1 && p.x2 >= f.x2 && p.y1 <= f.y1 + 20.0,
            "{manifest}: {p:?} vs {f:?}"
        );
    }
}

#[test]
fn a_model_whose_file_does_not_match_its_sha256_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = altered(
        dir.path(),
        "retinaface_mnet025.toml",
        "sha256 = \"b7a7",
        "sha256 = \"0000",
    );
    let error = Model::load(&path, 1).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ModelError::Refused { .. }), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("the manifest says 0000"), "{text}");
}

#[test]
fn a_model_whose_input_shape_or_outputs_do_not_match_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "nanodet_g_416_coco.toml",
            "width = 416",
            "width = 320",
            "has shape",
        ),
        (
            "nanodet_g_416_coco.toml",
            "\"Identity_5:0\"]",
            "\"boxes\"]",
            "no output 'boxes'",
        ),
        (
            "retinaface_mnet025.toml",
            "name = \"input\"",
            "name = \"image\"",
            "no input 'image'",
        ),
        (
            "ssdlite_pedestrian.toml",
            "dtype = \"u8\"",
            "dtype = \"f32\"",
            "the manifest says F32",
        ),
        (
            "retinaface_mnet025.toml",
            "strides = [8, 16, 32]",
            "strides = [4, 16, 32]",
            "a trial inference failed",
        ),
    ];
    for (manifest, from, to, want) in cases {
        let path = altered(dir.path(), manifest, from, to);
        let text = Model::load(&path, 1).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!("model manifest {}", path.display())),
            "{text}"
        );
        assert!(text.contains(want), "{text} lacks {want}");
    }
}

#[test]
fn a_batch_finds_what_frames_one_by_one_find() {
    let images = [
        photo("astronaut.png"),
        photo("camera.png"),
        photo("astronaut.png"),
    ];
    let refs: Vec<&Mat> = images.iter().collect();
    // CenterFace, RetinaFace and SSDLite take any batch size; NanoDet's input is fixed at one
    // frame.
    for (manifest, batch_frames) in [
        ("centerface.toml", 2),
        ("retinaface_mnet025.toml", 2),
        ("ssdlite_pedestrian.toml", 2),
        ("nanodet_g_416_coco.toml", 1),
    ] {
        let path = repo().join("models").join(manifest);
        let batched = Model::load_batched(&path, 1, 2).unwrap();
        assert_eq!(batched.batch_frames(), batch_frames, "{manifest}");
        let together = batched.detect_batch(&refs).unwrap();
        let one_by_one: Vec<_> = refs
            .iter()
            .map(|i| model(manifest).detect(i).unwrap())
            .collect();
        assert_eq!(together.len(), 3, "{manifest}");
        for (a, b) in together.iter().zip(&one_by_one) {
            assert_eq!(a.len(), b.len(), "{manifest}: {a:?} vs {b:?}");
            for (a, b) in a.iter().zip(b) {
                assert_eq!(a.class_id, b.class_id, "{manifest}");
                assert!(
                    (a.score - b.score).abs() < 1e-3,
                    "{manifest}: {a:?} vs {b:?}"
                );
                assert!(
                    (a.bbox.x1 - b.bbox.x1).abs() < 0.5,
                    "{manifest}: {a:?} vs {b:?}"
                );
                assert!(
                    (a.bbox.y2 - b.bbox.y2).abs() < 0.5,
                    "{manifest}: {a:?} vs {b:?}"
                );
            }
        }
    }
}
