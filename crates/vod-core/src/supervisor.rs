//! The supervisor: runs each component as a task, restarts it with exponential backoff when
//! it fails or panics, and gives up (so the process exits non-zero and systemd or docker
//! restarts it) when a component restarts more often than its restart intensity allows. Its
//! [`Children`] table tells what each component is doing (running or waiting to restart, its
//! restarts and their last cause, where its task's time went) and restarts one on request.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::IntCounterVec;
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
// The clock the backoff sleeps on, so that a paused clock (tests) moves both.
use tokio::time::Instant;
use tokio_metrics::TaskMonitor;
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

/// What a component is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    Running,
    /// It failed and waits out its backoff.
    Restarting,
    Stopped,
}

/// One component as the supervisor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildStatus {
    pub state: ChildState,
    /// When its current run started.
    pub started_at: DateTime<Utc>,
    /// Restarts since the box started, asked for ones included.
    pub restarts: u64,
    pub last_cause: Option<String>,
    pub last_restart_at: Option<DateTime<Utc>>,
    /// Time its task spent being polled, and how often it was woken, since the box started.
    pub busy_ms: u64,
    pub wakeups: u64,
}

#[derive(Debug)]
struct Child {
    status: ChildStatus,
    /// Cancels the current run only.
    run: CancellationToken,
    /// Who asked for the restart in progress.
    restart_asked_by: Option<String>,
    monitor: TaskMonitor,
}

#[derive(Debug, thiserror::Error)]
#[error("no component {0:?}")]
pub struct NoSuchComponent(pub String);

/// The supervisor's table of its components, shared with those who look at them.
#[derive(Debug, Clone, Default)]
pub struct Children(Arc<StdMutex<BTreeMap<String, Child>>>);

impl Children {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Child>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Every component by name, with its task's time as of now.
    pub fn list(&self) -> BTreeMap<String, ChildStatus> {
        self.with(|children| {
            children
                .iter()
                .map(|(name, child)| {
                    let metrics = child.monitor.cumulative();
                    let mut status = child.status.clone();
                    status.busy_ms = metrics.total_poll_duration.as_millis() as u64;
                    status.wakeups = metrics.total_poll_count;
                    (name.clone(), status)
                })
                .collect()
        })
    }

    /// Stops `component`'s current run and starts it again at once; a restart asked for
    /// does not count towards the restart intensity.
    pub fn restart(&self, component: &str, actor: &str) -> Result<(), NoSuchComponent> {
        self.with(|children| {
            let child = children
                .get_mut(component)
                .ok_or_else(|| NoSuchComponent(component.to_owned()))?;
            child.restart_asked_by = Some(actor.to_owned());
            child.run.cancel();
            Ok(())
        })
    }

    /// Registers a new run of `component`; returns its token and monitor.
    fn begin_run(
        &self,
        component: &str,
        shutdown: &CancellationToken,
    ) -> (CancellationToken, TaskMonitor) {
        let run = shutdown.child_token();
        self.with(|children| {
            let child = children
                .entry(component.to_owned())
                .or_insert_with(|| Child {
                    status: ChildStatus {
                        state: ChildState::Running,
                        started_at: Utc::now(),
                        restarts: 0,
                        last_cause: None,
                        last_restart_at: None,
                        busy_ms: 0,
                        wakeups: 0,
                    },
                    run: run.clone(),
                    restart_asked_by: None,
                    monitor: TaskMonitor::new(),
                });
            child.run = run.clone();
            child.status.state = ChildState::Running;
            child.status.started_at = Utc::now();
            (run, child.monitor.clone())
        })
    }

    /// Who asked for the run that just ended to be restarted, when someone did.
    fn take_restart_request(&self, component: &str) -> Option<String> {
        self.with(|children| children.get_mut(component)?.restart_asked_by.take())
    }

    /// Records the end of a run: `cause` when it is to be restarted, and its new state.
    fn end_run(&self, component: &str, cause: Option<&str>, state: ChildState) {
        self.with(|children| {
            if let Some(child) = children.get_mut(component) {
                child.status.state = state;
                if let Some(cause) = cause {
                    child.status.restarts += 1;
                    child.status.last_cause = Some(cause.to_owned());
                    child.status.last_restart_at = Some(Utc::now());
                }
            }
        });
    }
}

/// Supervises a set of named components until shutdown or until one of them gives up.
#[derive(Debug)]
pub struct Supervisor {
    policy: RestartPolicy,
    restarts_total: IntCounterVec,
    hub: Hub,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), SupervisorError>>,
    children: Children,
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
            children: Children::default(),
        }
    }

    /// The table of the components, for looking at them and restarting one.
    pub fn children(&self) -> Children {
        self.children.clone()
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
        let children = self.children.clone();
        self.tasks.spawn(async move {
            let mut recent_restarts: VecDeque<Instant> = VecDeque::new();
            let mut quick_failures = 0u32;
            loop {
                let started = Instant::now();
                let (run, monitor) = children.begin_run(&component, &shutdown);
                let task = tokio::spawn(monitor.instrument(start(run.clone())));
                let outcome = run_to_end(task, &run).await;
                if shutdown.is_cancelled() {
                    children.end_run(&component, None, ChildState::Stopped);
                    return Ok(());
                }
                if let Some(actor) = children.take_restart_request(&component) {
                    let cause = format!("restart asked for by {actor}");
                    children.end_run(&component, Some(&cause), ChildState::Running);
                    tracing::info!(%component, %actor, "Component restarted on request.");
                    hub.publish(Event::ComponentRestarted {
                        component: component.clone(),
                        cause,
                        restarts: recent_restarts.len() as u32,
                    });
                    continue;
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
                    children.end_run(&component, Some(&cause), ChildState::Stopped);
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
                children.end_run(&component, Some(&cause), ChildState::Restarting);
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

/// How long a run gets to end after it was asked to (a restart, shutdown); then its task is
/// aborted at its next await, so that a component stuck waiting still restarts. (A poll that
/// never returns, a busy loop, cannot be aborted: tokio does not preempt.)
const STOP_GRACE: Duration = Duration::from_secs(2);

async fn run_to_end<T>(
    mut task: tokio::task::JoinHandle<T>,
    run: &CancellationToken,
) -> Result<T, tokio::task::JoinError> {
    tokio::select! {
        outcome = &mut task => return outcome,
        () = run.cancelled() => {}
    }
    match tokio::time::timeout(STOP_GRACE, &mut task).await {
        Ok(outcome) => outcome,
        Err(_) => {
            task.abort();
            task.await
        }
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
    async fn a_restart_asked_for_starts_the_component_again_at_once_and_is_in_its_table() {
        let hub = Hub::new(16);
        let mut events = hub.subscribe();
        let restarts = counter();
        let shutdown = CancellationToken::new();
        // One restart allowed: a restart asked for must not count against it.
        let mut supervisor = Supervisor::new(policy(0), restarts.clone(), hub, shutdown.clone());
        let children = supervisor.children();
        let starts = Arc::new(AtomicU32::new(0));
        let counted = starts.clone();
        supervisor.spawn("camera:cam-1", move |run| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                run.cancelled().await;
                Ok(())
            }
        });
        let waiting = tokio::spawn(supervisor.wait());
        let started = |n: u32| {
            let starts = starts.clone();
            async move {
                let waited = tokio::time::timeout(Duration::from_secs(10), async {
                    while starts.load(Ordering::SeqCst) < n {
                        tokio::task::yield_now().await;
                    }
                });
                waited.await.expect("the component was not started again");
            }
        };
        started(1).await;
        assert!(matches!(
            children.restart("camera:cam-9", "eng"),
            Err(NoSuchComponent(name)) if name == "camera:cam-9"
        ));
        for _ in 0..2 {
            children.restart("camera:cam-1", "eng").unwrap();
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("no restart event")
                .unwrap();
            assert!(matches!(
                &*event,
                Event::ComponentRestarted { component, cause, .. }
                    if component == "camera:cam-1" && cause == "restart asked for by eng"
            ));
        }
        started(3).await;
        let status = &children.list()["camera:cam-1"];
        assert_eq!(status.state, ChildState::Running);
        assert_eq!(status.restarts, 2);
        assert_eq!(
            status.last_cause.as_deref(),
            Some("restart asked for by eng")
        );
        assert!(status.wakeups >= 3, "{status:?}");
        // Asked-for restarts are not failures.
        assert_eq!(restarts.with_label_values(&["camera:cam-1"]).get(), 0);
        shutdown.cancel();
        waiting.await.unwrap().unwrap();
        assert_eq!(children.list()["camera:cam-1"].state, ChildState::Stopped);
    }

    /// A component that fails on its runs listed in `failing` (counted from 0) after
    /// running for the duration given, and otherwise runs until cancelled.
    fn scripted(
        supervisor: &mut Supervisor,
        name: &str,
        script: Vec<Option<Duration>>,
    ) -> Arc<std::sync::Mutex<Vec<Instant>>> {
        let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = starts.clone();
        let script = Arc::new(script);
        supervisor.spawn(name, move |run| {
            let mut starts = seen.lock().unwrap();
            let n = starts.len();
            starts.push(Instant::now());
            let fails_after = script.get(n).copied().flatten();
            async move {
                match fails_after {
                    Some(after) => {
                        tokio::time::sleep(after).await;
                        Err("failed as scripted".into())
                    }
                    None => {
                        run.cancelled().await;
                        Ok(())
                    }
                }
            }
        });
        starts
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_age_out_of_the_window() {
        let shutdown = CancellationToken::new();
        let policy = RestartPolicy {
            max_restarts: 2,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        };
        let mut supervisor = Supervisor::new(policy, counter(), Hub::new(16), shutdown.clone());
        let children = supervisor.children();
        // Two quick failures, a minute of work, then two more failures: four restarts, but
        // never three within 60 s.
        let quick = Some(Duration::ZERO);
        let starts = scripted(
            &mut supervisor,
            "flaky",
            vec![quick, quick, Some(Duration::from_secs(61)), quick, None],
        );
        let waiting = tokio::spawn(supervisor.wait());
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(starts.lock().unwrap().len(), 5, "it gave up instead");
        assert_eq!(children.list()["flaky"].restarts, 4);
        assert_eq!(children.list()["flaky"].state, ChildState::Running);
        shutdown.cancel();
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_backoff_doubles_on_quick_failures_and_resets_after_a_long_run() {
        let shutdown = CancellationToken::new();
        let policy = RestartPolicy {
            max_restarts: 10,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(400),
        };
        let mut supervisor = Supervisor::new(policy, counter(), Hub::new(16), shutdown.clone());
        let quick = Some(Duration::ZERO);
        let starts = scripted(
            &mut supervisor,
            "flaky",
            vec![
                quick,
                quick,
                quick,
                Some(Duration::from_secs(1)),
                quick,
                None,
            ],
        );
        let waiting = tokio::spawn(supervisor.wait());
        tokio::time::sleep(Duration::from_secs(10)).await;
        let starts = starts.lock().unwrap().clone();
        let gaps: Vec<u128> = starts
            .windows(2)
            .map(|pair| pair[1].duration_since(pair[0]).as_millis())
            .collect();
        // 100, 200, 400 after quick failures; after a run longer than backoff_max, 100 again.
        assert_eq!(gaps, [100, 200, 400, 1000 + 100, 200], "{gaps:?}");
        shutdown.cancel();
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_component_giving_up_cancels_its_siblings() {
        let mut supervisor =
            Supervisor::new(policy(1), counter(), Hub::new(16), CancellationToken::new());
        let children = supervisor.children();
        let cancelled = Arc::new(AtomicU32::new(0));
        let seen = cancelled.clone();
        supervisor.spawn("healthy", move |run| {
            let seen = seen.clone();
            async move {
                run.cancelled().await;
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        scripted(&mut supervisor, "broken", vec![Some(Duration::ZERO); 10]);
        let error = supervisor.wait().await.unwrap_err();
        assert!(
            matches!(error, SupervisorError::IntensityExceeded { ref component, .. } if component == "broken")
        );
        assert_eq!(
            cancelled.load(Ordering::SeqCst),
            1,
            "the sibling was not asked to stop"
        );
        let list = children.list();
        assert_eq!(list["healthy"].state, ChildState::Stopped);
        assert_eq!(list["broken"].state, ChildState::Stopped);
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
