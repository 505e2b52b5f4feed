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
