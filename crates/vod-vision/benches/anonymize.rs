//! How often a face model finds a face again in a face the anonymizer destroyed: the box's own
//! face model (RetinaFace, which chose the regions) and an independent one (CenterFace), over
//! many noise draws on the test photos, for the default parameters and for neighbours of them.
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
    let retina = model("retinaface_mnet025.toml");
    let center = model("centerface.toml");
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
        "| photo | margin | blocks | noise | RetinaFace again | CenterFace again | CenterFace best score |"
    );
    println!("|---|---|---|---|---|---|---|");
    for photo in ["astronaut.png", "camera.png"] {
        let path = repo().join("tests/data/images").join(photo);
        let image = imgcodecs::imread(
            path.to_str().expect("a UTF-8 path"),
            imgcodecs::IMREAD_COLOR,
        )
        .expect("the test photo");
        let faces: Vec<_> = retina
            .detect(&image)
            .expect("detection")
            .iter()
            .map(|found| found.bbox)
            .collect();
        assert!(!faces.is_empty(), "{photo} shows a face to RetinaFace");
        for params in variants {
            let (mut again, mut independent, mut best) = (0, 0, 0.0_f32);
            for seed in 0..draws {
                let mut destroyed = image.clone();
                let mut rng = StdRng::seed_from_u64(seed);
                anonymize(&mut destroyed, &faces, &params, &mut rng).expect("anonymize");
                if !retina.detect(&destroyed).expect("detection").is_empty() {
                    again += 1;
                }
                let found = center.detect(&destroyed).expect("detection");
                if let Some(top) = found.iter().map(|face| face.score).reduce(f32::max) {
                    independent += 1;
                    best = best.max(top);
                }
            }
            println!(
                "| {photo} | {} | {} | {} | {again}/{draws} | {independent}/{draws} | {best:.2} |",
                params.margin, params.blocks, params.noise
            );
        }
    }
}
