//! The empty road as each beam sees it, learned from the first scans and healed where a beam
//! keeps seeing past it.

use vod_core::Scan;

use super::DetectorError;

/// The angular layout of a scan; the background only fits scans of the same layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Geometry {
    pub(super) beams: usize,
    pub(super) start_angle_deg: f64,
    pub(super) step_deg: f64,
}

impl Geometry {
    fn of(scan: &Scan) -> Self {
        Geometry {
            beams: scan.ranges_mm.len(),
            start_angle_deg: scan.start_angle_deg,
            step_deg: scan.step_deg,
        }
    }
}

/// The learned road, beam by beam: its range (0 where unknown), and the beam's direction
/// (sine and cosine of its angle), worked out once.
#[derive(Debug)]
pub(super) struct Road {
    pub(super) ranges_mm: Vec<f32>,
    pub(super) sin_cos: Vec<(f64, f64)>,
}

impl Road {
    /// Where beam `beam` meets the road, across it.
    pub(super) fn lateral_mm(&self, beam: usize) -> f64 {
        f64::from(self.ranges_mm[beam]) * self.sin_cos[beam].1
    }
}

/// Each beam's background range is the median of its echoes over the learning scans, or 0
/// (unknown: the beam is ignored) when it echoed in no more than half of them. The median
/// shrugs off a vehicle that passes during less than half of the learning time.
#[derive(Debug)]
pub(super) struct Background {
    scans_needed: usize,
    geometry: Option<Geometry>,
    samples: Vec<Vec<f32>>,
    road: Option<Road>,
    /// Per beam: scans in a row that saw farther than the learned road.
    farther_scans: Vec<usize>,
}

impl Background {
    pub(super) fn new(scans_needed: u32) -> Self {
        Background {
            scans_needed: scans_needed.max(1) as usize,
            geometry: None,
            samples: Vec::new(),
            road: None,
            farther_scans: Vec::new(),
        }
    }

    /// Scans to learn from the next time the road is learned.
    pub(super) fn set_scans_needed(&mut self, scans_needed: u32) {
        self.scans_needed = scans_needed.max(1) as usize;
    }

    /// The learned road, or `None` while `scan` went into learning. A scan of another
    /// geometry than the learned one restarts learning with it and is an error.
    pub(super) fn observe(&mut self, scan: &Scan) -> Result<Option<&Road>, DetectorError> {
        let geometry = Geometry::of(scan);
        if let Some(known) = self.geometry.filter(|known| *known != geometry) {
            self.geometry = Some(geometry);
            self.samples = vec![scan.ranges_mm.clone()];
            self.road = None;
            return Err(DetectorError::GeometryChanged {
                known_beams: known.beams,
                known_start_deg: known.start_angle_deg,
                known_step_deg: known.step_deg,
                beams: geometry.beams,
                start_deg: geometry.start_angle_deg,
                step_deg: geometry.step_deg,
            });
        }
        self.geometry = Some(geometry);
        if self.road.is_none() {
            self.samples.push(scan.ranges_mm.clone());
            if self.samples.len() >= self.scans_needed {
                self.road = Some(Road {
                    ranges_mm: self.learn(),
                    sin_cos: (0..geometry.beams)
                        .map(|beam| scan.angle_deg(beam).to_radians().sin_cos())
                        .collect(),
                });
                self.samples = Vec::new();
            }
            return Ok(None);
        }
        Ok(self.road.as_ref())
    }

    /// The learned road, if it is learned.
    pub(super) fn road(&self) -> Option<&Road> {
        self.road.as_ref()
    }

    /// While learning: the scans seen and the scans needed.
    pub(super) fn learning(&self) -> Option<(u32, u32)> {
        self.road.is_none().then(|| {
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            (count(self.samples.len()), count(self.scans_needed))
        })
    }

    /// Forgets the road: the next scans teach it again.
    pub(super) fn forget(&mut self) {
        self.samples = Vec::new();
        self.road = None;
        self.farther_scans = Vec::new();
    }

    /// A beam that sees farther than its learned road by more than `threshold_mm` for as many
    /// scans in a row as learning takes was learned on something that has since left (a slow
    /// truck in the plane for most of the learning, after a restart in traffic): the road there
    /// is what the beam sees now. Nothing can stand below the road. Returns the beams healed.
    pub(super) fn heal(&mut self, scan: &Scan, threshold_mm: f32) -> usize {
        let Some(road) = &mut self.road else {
            return 0;
        };
        if scan.ranges_mm.len() != road.ranges_mm.len() {
            return 0;
        }
        self.farther_scans.resize(road.ranges_mm.len(), 0);
        let mut healed = 0;
        for ((known, &range), farther) in road
            .ranges_mm
            .iter_mut()
            .zip(&scan.ranges_mm)
            .zip(&mut self.farther_scans)
        {
            if *known > 0.0 && range > *known + threshold_mm {
                *farther += 1;
                if *farther >= self.scans_needed {
                    *known = range;
                    *farther = 0;
                    healed += 1;
                }
            } else {
                *farther = 0;
            }
        }
        healed
    }

    fn learn(&self) -> Vec<f32> {
        let beams = self.samples.first().map_or(0, Vec::len);
        (0..beams)
            .map(|beam| {
                let mut echoes: Vec<f32> = self
                    .samples
                    .iter()
                    .map(|ranges| ranges[beam])
                    .filter(|&range| range > 0.0)
                    .collect();
                if echoes.len() * 2 <= self.samples.len() {
                    return 0.0;
                }
                echoes.sort_by(f32::total_cmp);
                echoes[echoes.len() / 2]
            })
            .collect()
    }
}
