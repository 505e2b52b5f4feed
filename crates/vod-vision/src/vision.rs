//! The set of models and settings the stage runs with, swapped whole: a burst in flight
//! finishes with the set it started with, the next burst takes the new one, and no frame is
//! dropped.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use vod_core::config::live::{LivePart, Prepared};
use vod_core::config::{AnonymizeTarget, Config, VisionConfig};
use vod_core::{ModelRef, SeatRow};

use crate::anonymize::AnonymizeParams;
use crate::model::{Model, ModelError};
use crate::occupancy::RowZone;

#[derive(Debug, Clone, PartialEq)]
pub struct VisionSettings {
    /// Anonymize whole people as well as faces.
    pub anonymize_people: bool,
    /// Keep raw frames (evidence mode): nothing is anonymized and every capture says so.
    pub evidence_raw: bool,
    /// Captures whose countability is below this are flagged for human review.
    pub review_below: f32,
    pub anonymize: AnonymizeParams,
    /// Row zones of each camera's view, by camera name.
    pub seat_rows: HashMap<String, Vec<RowZone>>,
}

#[derive(Debug)]
pub struct VisionSet {
    pub person: Model,
    pub face: Model,
    pub settings: VisionSettings,
}

impl VisionSettings {
    pub fn from_config(config: &VisionConfig) -> VisionSettings {
        let seat_rows = config
            .seat_rows
            .iter()
            .map(|rows| {
                let zones = [
                    (SeatRow::Front, rows.front),
                    (SeatRow::Rear, rows.rear),
                    (SeatRow::Third, rows.third),
                ]
                .into_iter()
                .filter_map(|(row, zone)| zone.map(|[x_from, x_to]| RowZone { row, x_from, x_to }))
                .collect();
                (rows.camera.clone(), zones)
            })
            .collect();
        VisionSettings {
            anonymize_people: config.anonymize == AnonymizeTarget::FacesAndPeople,
            evidence_raw: config.evidence_raw,
            review_below: config.review_below,
            anonymize: AnonymizeParams::default(),
            seat_rows,
        }
    }
}

impl VisionSet {
    /// Loads and checks both models the config names. On error nothing changes for whoever
    /// holds the current set.
    pub fn load(config: &VisionConfig) -> Result<VisionSet, ModelError> {
        let (threads, batch) = (config.threads as usize, config.batch_size as usize);
        let timeout = std::time::Duration::from_millis(u64::from(config.inference_timeout_ms));
        let load = |manifest: &str| {
            Model::load_batched(&config.models_dir.join(manifest), threads, batch)
                .map(|model| model.with_run_timeout(timeout))
        };
        let person = load(&config.person_model)?;
        let face = load(&config.face_model)?;
        Ok(VisionSet {
            person,
            face,
            settings: VisionSettings::from_config(config),
        })
    }

    pub fn model_refs(&self) -> Vec<ModelRef> {
        [&self.person, &self.face]
            .into_iter()
            .map(|m| ModelRef {
                name: m.manifest.name.clone(),
                sha256: m.manifest.sha256.to_ascii_lowercase(),
            })
            .collect()
    }
}

/// The current set, shared by the stage and the live configuration handle, which swaps in a
/// new one when `[vision]` changes or the file is read again (a model file may have been
/// replaced under the same manifest name): loaded and checked first, refused whole if a model
/// is refused.
#[derive(Debug, Clone)]
pub struct Vision(Arc<ArcSwap<VisionSet>>);

impl LivePart for Vision {
    fn name(&self) -> &'static str {
        "the vision set"
    }

    fn prepare(
        &self,
        running: &Config,
        next: &Config,
        reread: bool,
    ) -> Result<Option<Prepared>, String> {
        if !reread && running.vision == next.vision {
            return Ok(None);
        }
        let set = VisionSet::load(&next.vision).map_err(|error| error.to_string())?;
        let mut applied = Vec::new();
        if set.model_refs() != self.current().model_refs() {
            applied.push("vision.models".to_owned());
        }
        let vision = self.clone();
        Ok(Some(Prepared {
            applied,
            commit: Box::new(move || vision.replace(set)),
        }))
    }
}

impl Vision {
    pub fn new(set: VisionSet) -> Vision {
        Vision(Arc::new(ArcSwap::from_pointee(set)))
    }

    pub fn current(&self) -> Arc<VisionSet> {
        self.0.load_full()
    }

    /// Applies a new set (already loaded and checked); bursts from now on use it.
    pub fn replace(&self, set: VisionSet) {
        self.0.store(Arc::new(set));
    }
}
