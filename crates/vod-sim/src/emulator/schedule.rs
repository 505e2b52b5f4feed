//! All lanes' vehicles in one stream, by arrival, with the lane changes that would run into
//! another vehicle called off: a driver changes lanes only into a gap. Lanes draw their
//! vehicles independently; this looks ahead in each far enough to know.

use std::collections::VecDeque;
use std::time::Duration;

use super::EmulatorConfig;
use super::traffic::{LaneTraffic, VehiclePass};

/// Every lane's vehicles, merged by arrival.
#[derive(Debug)]
pub(crate) struct Schedule {
    lanes: Vec<LaneTraffic>,
    /// Per lane, the vehicles drawn but not yet handed out, by arrival; `exhausted` once the
    /// lane has no more.
    pending: Vec<VecDeque<VehiclePass>>,
    exhausted: Vec<bool>,
    /// Vehicles handed out that may still be in the plane when the next ones arrive.
    recent: Vec<VehiclePass>,
    config: EmulatorConfig,
}

impl Schedule {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        let lanes = config.lanes.len();
        Schedule {
            lanes: (0..lanes)
                .map(|lane| LaneTraffic::new(config, lane))
                .collect(),
            pending: vec![VecDeque::new(); lanes],
            exhausted: vec![false; lanes],
            recent: Vec::new(),
            config: config.clone(),
        }
    }

    /// Draws in `lane` until its last drawn vehicle arrives after `until`.
    fn draw_until(&mut self, lane: usize, until: Duration) {
        while !self.exhausted[lane]
            && self.pending[lane]
                .back()
                .is_none_or(|last| last.arrival <= until)
        {
            match self.lanes[lane].next(&self.config) {
                Some(pass) => self.pending[lane].push_back(pass),
                None => self.exhausted[lane] = true,
            }
        }
    }

    /// The lane a vehicle changes into, if it changes lanes.
    fn target(&self, pass: &VehiclePass) -> Option<usize> {
        let zone = &self.config.lanes[pass.lane];
        let edge = match pass.lateral_drift_mm {
            drift if drift > 0.0 => zone.lateral_to_mm,
            drift if drift < 0.0 => zone.lateral_from_mm,
            _ => return None,
        };
        self.config.lanes.iter().position(|other| {
            if pass.lateral_drift_mm > 0.0 {
                other.lateral_from_mm == edge
            } else {
                other.lateral_to_mm == edge
            }
        })
    }

    /// Whether `pass`'s lane change would meet a vehicle in the lane it changes into, or one
    /// changing into that lane too, while it crosses the plane.
    fn blocked(&self, pass: &VehiclePass) -> bool {
        let Some(target) = self.target(pass) else {
            return false;
        };
        self.recent
            .iter()
            .chain(self.pending.iter().flatten())
            .filter(|other| other.arrival < pass.departure && pass.arrival < other.departure)
            .any(|other| other.lane == target || self.target(other) == Some(target))
    }
}

impl Iterator for Schedule {
    type Item = VehiclePass;

    fn next(&mut self) -> Option<VehiclePass> {
        let lanes = self.lanes.len();
        for lane in 0..lanes {
            self.draw_until(lane, Duration::ZERO);
        }
        let first = (0..lanes)
            .filter_map(|lane| self.pending[lane].front().map(|pass| (lane, pass.arrival)))
            .min_by_key(|(_, arrival)| *arrival)?
            .0;
        let mut pass = self.pending[first].pop_front()?;
        for lane in 0..lanes {
            self.draw_until(lane, pass.departure);
        }
        if self.blocked(&pass) {
            pass.lateral_drift_mm = 0.0;
        }
        self.recent.retain(|other| other.departure > pass.arrival);
        self.recent.push(pass.clone());
        Some(pass)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::emulator::{EmulatorConfig, ground_truth};

    #[test]
    fn lane_changes_go_only_into_a_gap() {
        let mut config = EmulatorConfig::bench_rig();
        config.flow_per_hour = 2000.0;
        config.lane_change_share = 0.3;
        config.traffic_duration_ms = Some(600_000);
        let passes = ground_truth(&config, Duration::MAX);
        // Lane 0 changes into lane 1 and the other way round.
        let changers: Vec<_> = passes
            .iter()
            .filter(|p| p.lateral_drift_mm != 0.0)
            .collect();
        assert!(changers.len() > passes.len() / 10, "{}", changers.len());
        for changer in changers {
            let target = 1 - changer.lane;
            let meets = passes.iter().any(|other| {
                other.lane == target
                    && other.arrival < changer.departure
                    && changer.arrival < other.departure
            });
            assert!(!meets, "{changer:?}");
        }
    }
}
