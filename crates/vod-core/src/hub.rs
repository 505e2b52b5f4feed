//! The event hub: every stage publishes what happened; the web page, the bus and the logs
//! subscribe. A slow subscriber misses events (and learns how many) rather than slowing a stage.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::vehicle::{VehicleEvent, VehicleEventKind, VehicleId, VehicleMeasurements};

/// Something a technician or a remote engineer may want to see live.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    ScannerConnected {
        scanner: Arc<str>,
        address: String,
    },
    ScannerDisconnected {
        scanner: Arc<str>,
        reason: String,
    },
    VehicleEntered {
        vehicle_id: VehicleId,
        lane: Arc<str>,
        at: DateTime<Utc>,
    },
    VehicleLeft {
        vehicle_id: VehicleId,
        lane: Arc<str>,
        at: DateTime<Utc>,
        #[serde(flatten)]
        measured: VehicleMeasurements,
    },
    CaptureStored {
        capture_id: i64,
        vehicle_id: VehicleId,
        lane: Arc<str>,
        camera: Arc<str>,
        images: usize,
        at: DateTime<Utc>,
        /// A test capture a person asked for, not a vehicle's.
        test: bool,
    },
    ComponentRestarted {
        component: String,
        cause: String,
        restarts: u32,
    },
    /// The image quota forced out captures that were still waiting for their upload.
    CapturesEvicted {
        captures: u64,
        pending_upload: u64,
        bytes: u64,
    },
    /// Image files can no longer be written (disk full or failing): captures are stored
    /// without their images until space returns.
    StorageDegraded {
        reason: String,
    },
    /// Image files are written again.
    StorageRecovered,
    /// The box disabled a push endpoint: it answered 410 Gone, or failed for too long.
    PushEndpointDisabled {
        client: String,
        reason: String,
    },
    /// A change of the running config through the live configuration handle: `applied` key
    /// paths are in effect, `restart_needed` ones differ in the file but wait for a restart;
    /// with `error` nothing changed.
    ConfigChanged {
        /// file, sighup, bus, web or rollback.
        source: String,
        actor: String,
        applied: Vec<String>,
        restart_needed: Vec<String>,
        error: Option<String>,
    },
}

impl From<&VehicleEvent> for Event {
    fn from(event: &VehicleEvent) -> Event {
        let (vehicle_id, lane, at) = (event.vehicle_id, event.lane.clone(), event.at_utc);
        match event.kind {
            VehicleEventKind::Entered => Event::VehicleEntered {
                vehicle_id,
                lane,
                at,
            },
            VehicleEventKind::Left(measured) => Event::VehicleLeft {
                vehicle_id,
                lane,
                at,
                measured,
            },
        }
    }
}

impl Event {
    /// Every kind of event, as [`Event::kind`] names them (the live page listens for each).
    pub const KINDS: [&'static str; 12] = [
        "scanner_connected",
        "scanner_disconnected",
        "vehicle_entered",
        "vehicle_left",
        "capture_stored",
        "component_restarted",
        "captures_evicted",
        "storage_degraded",
        "storage_recovered",
        "push_endpoint_disabled",
        "config_changed",
        // Not an event of the hub: the live page's notice that it missed some.
        "missed",
    ];

    /// A short name for the event, used as the last part of its bus subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ScannerConnected { .. } => "scanner_connected",
            Event::ScannerDisconnected { .. } => "scanner_disconnected",
            Event::VehicleEntered { .. } => "vehicle_entered",
            Event::VehicleLeft { .. } => "vehicle_left",
            Event::CaptureStored { .. } => "capture_stored",
            Event::ComponentRestarted { .. } => "component_restarted",
            Event::CapturesEvicted { .. } => "captures_evicted",
            Event::StorageDegraded { .. } => "storage_degraded",
            Event::StorageRecovered => "storage_recovered",
            Event::PushEndpointDisabled { .. } => "push_endpoint_disabled",
            Event::ConfigChanged { .. } => "config_changed",
        }
    }
}

/// A broadcast channel of events, cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        Hub {
            sender: broadcast::channel(capacity).0,
        }
    }

    /// Publishes to whoever listens now; with no listener the event is simply not seen.
    pub fn publish(&self, event: Event) {
        let _no_listener_is_fine = self.sender.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every kind; the match makes a new variant fail to compile here until it
    /// is added, and so to `KINDS` and the live page.
    fn every_kind() -> Vec<Event> {
        let example = |event: &Event| match event {
            Event::ScannerConnected { .. }
            | Event::ScannerDisconnected { .. }
            | Event::VehicleEntered { .. }
            | Event::VehicleLeft { .. }
            | Event::CaptureStored { .. }
            | Event::ComponentRestarted { .. }
            | Event::CapturesEvicted { .. }
            | Event::StorageDegraded { .. }
            | Event::StorageRecovered
            | Event::PushEndpointDisabled { .. }
            | Event::ConfigChanged { .. } => event.clone(),
        };
        let vehicle = VehicleEvent {
            vehicle_id: VehicleId::new(chrono::Utc::now(), 1, 1),
            lane: "lane-1".into(),
            kind: VehicleEventKind::Entered,
            at_utc: chrono::Utc::now(),
            at: std::time::Instant::now(),
        };
        let left = VehicleEvent {
            kind: VehicleEventKind::Left(VehicleMeasurements {
                occupancy_ms: 1,
                max_height_mm: 1,
                max_width_mm: 1,
                class: crate::VehicleClass::Car,
                speed_kmh: None,
                length_mm: None,
            }),
            ..vehicle.clone()
        };
        let text = || String::from("x");
        [
            Event::ScannerConnected {
                scanner: "s".into(),
                address: text(),
            },
            Event::ScannerDisconnected {
                scanner: "s".into(),
                reason: text(),
            },
            Event::from(&vehicle),
            Event::from(&left),
            Event::CaptureStored {
                capture_id: 1,
                vehicle_id: vehicle.vehicle_id,
                lane: "l".into(),
                camera: "c".into(),
                images: 1,
                at: vehicle.at_utc,
                test: false,
            },
            Event::ComponentRestarted {
                component: text(),
                cause: text(),
                restarts: 1,
            },
            Event::CapturesEvicted {
                captures: 1,
                pending_upload: 1,
                bytes: 1,
            },
            Event::StorageDegraded { reason: text() },
            Event::StorageRecovered,
            Event::PushEndpointDisabled {
                client: text(),
                reason: text(),
            },
            Event::ConfigChanged {
                source: text(),
                actor: text(),
                applied: Vec::new(),
                restart_needed: Vec::new(),
                error: None,
            },
        ]
        .iter()
        .map(example)
        .collect()
    }

    #[test]
    fn kinds_names_every_event() {
        let kinds: Vec<&str> = every_kind().iter().map(Event::kind).collect();
        let listed: Vec<&str> = Event::KINDS
            .iter()
            .copied()
            .filter(|kind| *kind != "missed")
            .collect();
        assert_eq!(kinds, listed);
    }
}
