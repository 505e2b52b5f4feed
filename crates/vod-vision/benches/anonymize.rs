//! How often a face model finds a face again in a face the anonymizer destroyed: the face model
//! that chose the regions and the other shipped one (independent: it did not choose them), each
//! of CenterFace (the shipped configs' face model) and RetinaFace in turn choosing, over many
//! noise draws on the test photos, for the default parameters and for neighbours of them.
//!
//! `cargo bench -p vod-vision --bench anonymize` (`VOD_BENCH_DRAWS`, default 1000 per photo and
//! parameter set).

use std::path::{Path, PathBuf};

use opencv::imgcodecs;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vod_vision::anonymize::anonymize;
use vod_vision::{AnonymizeParams, Model};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model(manifest: &str) -> Model {
    Model::load(&repo().join("models").join(manifest), 2).expect("the shipped model loads")
}

fn main() {
    let draws: u64 = std::env::var("VOD_BENCH_DRAWS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1000);
    let centre = model("centerface.toml");
    let retina = model("retinaface_mnet025.toml");
    let default = AnonymizeParams::default();
    let variants = [
        default,
        AnonymizeParams {
            margin: 0.25,
            ..default
        },
        AnonymizeParams {
            margin: 0.5,
            ..default
        },
        AnonymizeParams {
            blocks: 2,
            ..default
        },
        AnonymizeParams {
            noise: 80,
            ..default
        },
    ];
    println!(
        "| chose the regions | photo | margin | blocks | noise | found again by it | by the other | the other's best score |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (chooser, checker) in [(&centre, &retina), (&retina, &centre)] {
        for photo in ["astronaut.png", "camera.png"] {
            measure(chooser, checker, photo, &variants, draws);
        }
    }
}

/// One table row per parameter set: `chooser` finds the faces of `photo`, the anonymizer
/// destroys them `draws` times, and both models look again.
fn measure(
    chooser: &Model,
    checker: &Model,
    photo: &str,
    variants: &[AnonymizeParams],
    draws: u64,
) {
    let path = repo().join("tests/data/images").join(photo);
    let image = imgcodecs::imread(
        path.to_str().expect("a UTF-8 path"),
        imgcodecs::IMREAD_COLOR,
    )
    .expect("the test photo");
    let faces: Vec<_> = chooser
        .detect(&image)
        .expect("detection")
        .iter()
        .map(|found| found.bbox)
        .collect();
    assert!(
        !faces.is_empty(),
        "{photo} shows a face to {}",
        chooser.name()
    );
    for params in variants.iter().copied() {
        let (mut again, mut independent, mut best) = (0, 0, 0.0_f32);
        for seed in 0..draws {
            let mut destroyed = image.clone();
            let mut rng = StdRng::seed_from_u64(seed);
            anonymize(&mut destroyed, &faces, &params, &mut rng).expect("anonymize");
            if !chooser.detect(&destroyed).expect("detection").is_empty() {
                again += 1;
            }
            let found = checker.detect(&destroyed).expect("detection");
            if let Some(top) = found.iter().map(|face| face.score).reduce(f32::max) {
                independent += 1;
                best = best.max(top);
            }
        }
        let best = if independent > 0 {
            format!("{best:.2}")
        } else {
            "-".to_owned()
        };
        println!(
            "| {} | {photo} | {} | {} | {} | {again}/{draws} | {independent}/{draws} | {best} |",
            chooser.name(),
            params.margin,
            params.blocks,
            params.noise
        );
    }
}
