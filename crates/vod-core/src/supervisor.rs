//! The supervisor: runs each component as a task, restarts it with exponential backoff when
//! it fails or panics, and gives up (so the process exits non-zero and systemd or docker
//! restarts it) when a component restarts more often than its restart intensity allows.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntCounterVec;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::hub::{Event, Hub};
use crate::{TaskError, error_chain};

/// A long-running part of the box: the supervisor runs it until shutdown, and runs it again
/// after it failed or panicked. What it owns outlives its runs (it is the value itself), so a
/// restart picks up the same channels and state.
pub trait Component: Send + Sync + 'static {
    /// Runs until `shutdown`; returning before it, with `Ok` or an error, is a failure.
    fn run(
        &self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = Result<(), TaskError>> + Send;
}

/// The receiving end of a channel between two components, kept across restarts of the one
/// that receives.
pub type SharedReceiver<T> = Arc<Mutex<mpsc::Receiver<T>>>;

/// A bounded channel whose receiver outlives restarts of its component.
pub fn channel<T>(bound: usize) -> (mpsc::Sender<T>, SharedReceiver<T>) {
    let (sender, receiver) = mpsc::channel(bound);
    (sender, Arc::new(Mutex::new(receiver)))
}

/// How hard the supervisor tries before it gives up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
    /// Restarts allowed within `window` before the supervisor gives up.
    pub max_restarts: u32,
    pub window: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl RestartPolicy {
    /// The delay before restart number `attempt` (from 1) of a run of quick failures.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "component {component} restarted {restarts} times within {window_s} s, past its restart intensity; last cause: {cause}"
    )]
    IntensityExceeded {
        component: String,
        restarts: u32,
        window_s: u64,
        cause: String,
    },
}

/// Supervises a set of named components until shutdown or until one of them gives up.
#[derive(Debug)]
pub struct Supervisor {
    policy: RestartPolicy,
    restarts_total: IntCounterVec,
    hub: Hub,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), SupervisorError>>,
}

impl Supervisor {
    /// `restarts_total` is labelled by `component`.
    pub fn new(
        policy: RestartPolicy,
        restarts_total: IntCounterVec,
        hub: Hub,
        shutdown: CancellationToken,
    ) -> Self {
        Supervisor {
            policy,
            restarts_total,
            hub,
            shutdown,
            tasks: JoinSet::new(),
        }
    }

    /// Starts `component`; `start` is called again for each restart. A component that
    /// returns `Ok` before shutdown was asked for counts as a failure: components are meant
    /// to run until shutdown.
    pub fn spawn<F, Fut>(&mut self, component: impl Into<String>, mut start: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), TaskError>> + Send + 'static,
    {
        let component = component.into();
        let policy = self.policy;
        let restarts_total = self.restarts_total.with_label_values(&[&component]);
        let hub = self.hub.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let mut recent_restarts: VecDeque<Instant> = VecDeque::new();
            let mut quick_failures = 0u32;
            loop {
                let started = Instant::now();
                let outcome = tokio::spawn(start(shutdown.child_token())).await;
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                let cause = match outcome {
                    Ok(Ok(())) => "exited before shutdown".to_owned(),
                    Ok(Err(error)) => error_chain(error.as_ref()),
                    Err(join_error) if join_error.is_panic() => {
                        format!("panicked: {}", panic_message(join_error.into_panic()))
                    }
                    Err(join_error) => join_error.to_string(),
                };
                let now = Instant::now();
                recent_restarts.push_back(now);
                while recent_restarts
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > policy.window)
                {
                    recent_restarts.pop_front();
                }
                let restarts = recent_restarts.len() as u32;
                if restarts > policy.max_restarts {
                    tracing::error!(%component, %cause, restarts, "Component failed past its restart intensity; stopping.");
                    return Err(SupervisorError::IntensityExceeded {
                        component,
                        restarts,
                        window_s: policy.window.as_secs(),
                        cause,
                    });
                }
                quick_failures = if started.elapsed() > policy.backoff_max {
                    1
                } else {
                    quick_failures + 1
                };
                let delay = policy.backoff(quick_failures);
                restarts_total.inc();
                tracing::warn!(%component, %cause, delay_ms = delay.as_millis() as u64, "Component failed; restarting.");
                hub.publish(Event::ComponentRestarted {
                    component: component.clone(),
                    cause,
                    restarts,
                });
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
            }
        });
    }

    /// Starts `component` under `name`, as [`Supervisor::spawn`] does.
    pub fn start(&mut self, name: impl Into<String>, component: impl Component) {
        let component = Arc::new(component);
        self.spawn(name, move |shutdown| {
            let component = component.clone();
            async move { component.run(shutdown).await }
        });
    }

    /// Waits until shutdown is asked for (then for every component to stop) or until a
    /// component gives up (then cancels the others and returns its error).
    pub async fn wait(mut self) -> Result<(), SupervisorError> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok(Err(error)) = joined {
                self.shutdown.cancel();
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use prometheus::Opts;

    use super::*;

    fn policy(max_restarts: u32) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
        }
    }

    fn counter() -> IntCounterVec {
        IntCounterVec::new(Opts::new("restarts_total", "test"), &["component"]).unwrap()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy(3);
        let delays: Vec<u64> = (1..=5).map(|n| p.backoff(n).as_millis() as u64).collect();
        assert_eq!(delays, [1, 2, 4, 4, 4]);
    }

    #[tokio::test]
    async fn restarts_a_failing_and_a_panicking_component_then_gives_up() {
        let restarts = counter();
        let hub = Hub::new(16);
        let mut events = hub.subscribe();
        let mut supervisor =
            Supervisor::new(policy(3), restarts.clone(), hub, CancellationToken::new());
        let starts = Arc::new(AtomicU32::new(0));
        let counted = starts.clone();
        supervisor.spawn("flaky", move |_shutdown| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n.is_multiple_of(2) {
                    Err("scanner went away".into())
                } else {
                    panic!("decoder bug")
                }
            }
        });
        let error = supervisor.wait().await.unwrap_err();
        assert!(matches!(
            error,
            SupervisorError::IntensityExceeded { ref component, restarts: 4, .. } if component == "flaky"
        ));
        assert_eq!(starts.load(Ordering::SeqCst), 4);
        assert_eq!(restarts.with_label_values(&["flaky"]).get(), 3);
        let first = events.recv().await.unwrap();
        assert!(
            matches!(&*first, Event::ComponentRestarted { cause, .. } if cause == "scanner went away")
        );
        let second = events.recv().await.unwrap();
        assert!(
            matches!(&*second, Event::ComponentRestarted { cause, .. } if cause == "panicked: decoder bug")
        );
    }

    #[tokio::test]
    async fn shutdown_stops_healthy_components() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(policy(3), counter(), Hub::new(4), shutdown.clone());
        supervisor.spawn("idle", |token| async move {
            token.cancelled().await;
            Ok(())
        });
        shutdown.cancel();
        supervisor.wait().await.unwrap();
    }
}
