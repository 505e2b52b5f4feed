//! What an engineer away from the box can ask of it beyond its configuration: each
//! component's state read from the component, where the time goes, and acting on it (a test
//! capture, a LIDAR relearn, a restart, the log filter, a snapshot). The appliance implements
//! [`BoxControl`] over its parts; the bus serves it.

use serde_json::Value;

use crate::config::live::BoxFuture;

/// Why a control request was not carried out; each maps to one error code on the bus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Try again in a moment.
    #[error("{0}")]
    Busy(String),
    /// Details are in the box's log.
    #[error("{0}")]
    Internal(String),
}

/// The running box, as the control plane sees it. `actor` names who asked, for the log.
pub trait BoxControl: Send + Sync + std::fmt::Debug + 'static {
    /// Every component's state by name, or the one named.
    fn state<'a>(
        &'a self,
        component: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, ControlError>>;

    /// Where the time and memory go: per component, busy time and wake-ups since start and
    /// over the last minute, the depth of its input channel; per thread, its CPU time.
    fn top(&self) -> Value;

    /// Fires every camera of `lane` as if a vehicle had entered; returns the test captures'
    /// vehicle ids by camera.
    fn trigger(&self, lane: &str, actor: &str) -> Result<Value, ControlError>;

    /// Learns the empty road again on `scanner`, or on every scanner.
    fn relearn(&self, scanner: Option<&str>, actor: &str) -> Result<Value, ControlError>;

    /// Stops a component's current run and starts it again.
    fn restart(&self, component: &str, actor: &str) -> Result<(), ControlError>;

    /// Replaces the log filter until the next restart (the config's `log.filter` is the
    /// lasting one).
    fn set_log_filter(&self, filter: &str, actor: &str) -> Result<(), ControlError>;

    /// The current scan of each scanner and the last anonymized frame of each camera.
    fn snapshot(&self) -> BoxFuture<'_, Result<Value, ControlError>>;
}
