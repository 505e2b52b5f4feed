//! The live configuration handle: the one way the configuration of a running box changes.
//! The file read again (SIGHUP, the bus command `config.reload`), a change of some key paths,
//! a whole new text, and a rollback to an earlier entry of the history all take the same
//! steps, one change at a time:
//!
//! 1. the new text is validated completely, every problem named with its key path;
//! 2. its changed key paths are worked out and split into those the box applies now
//!    ([`super::diff::LIVE_PATHS`]) and those that wait for a restart;
//! 3. the parts that must get ready first (the vision set loads its models) do so, and may
//!    refuse;
//! 4. the text is written back into the file atomically ([`super::file`]), comments kept;
//! 5. only then does the running config change: components watch it (or the section of it
//!    they use) and take it up at their next vehicle, burst or sweep.
//!
//! A failure at any step changes nothing, the file included. Every change and every refusal is
//! a row in the config history, with who asked, through what, the changed key paths and the
//! text. Whatever the handle shows (a value, the file, the history, an error) has its secrets
//! masked.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};

use prometheus::{IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Mutex, watch};

use super::diff::{Plan, changed_paths, lookup, tree};
use super::file::{EditError, edit, remove_stale_temporaries, write_atomically};
use super::path::{KeyPath, KeyPathError};
use super::secrets::{mask_json, mask_text, mask_toml};
use super::{Config, ConfigError, LoadedConfig};
use crate::hub::{Event, Hub};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Through what a change came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// The file as `vod run` read it at start.
    File,
    /// The file read again on SIGHUP.
    Sighup,
    /// A bus command.
    Bus,
    /// The web page.
    Web,
    /// A rollback to an earlier history entry.
    Rollback,
}

impl ChangeSource {
    pub const ALL: [ChangeSource; 5] = [
        ChangeSource::File,
        ChangeSource::Sighup,
        ChangeSource::Bus,
        ChangeSource::Web,
        ChangeSource::Rollback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::File => "file",
            ChangeSource::Sighup => "sighup",
            ChangeSource::Bus => "bus",
            ChangeSource::Web => "web",
            ChangeSource::Rollback => "rollback",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeSource> {
        ChangeSource::ALL
            .into_iter()
            .find(|source| source.as_str() == text)
    }
}

/// Who asks for a change, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: ChangeSource,
    /// A user name, a NATS user, or the process (`vod run`, `signal`).
    pub actor: String,
}

impl Origin {
    pub fn new(source: ChangeSource, actor: impl Into<String>) -> Origin {
        Origin {
            source,
            actor: actor.into(),
        }
    }
}

/// Whether a change went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Applied, Outcome::Refused]
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// A change or a refusal, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    pub source: ChangeSource,
    pub actor: String,
    pub outcome: Outcome,
    /// The key paths the change made (or would have made) in the file.
    pub changed: Vec<String>,
    /// The key paths that differ between the file and the running box afterwards.
    pub restart_needed: Vec<String>,
    /// Why it was refused.
    pub error: Option<String>,
    /// The text applied, or the one refused; unmasked: the history keeps it for a rollback.
    pub toml: String,
}

/// One row of the config history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at_ms: i64,
    /// Lower-case hex SHA-256 of the text.
    pub sha256: String,
    #[serde(flatten)]
    pub change: ConfigChange,
}

pub type HistoryError = Box<dyn std::error::Error + Send + Sync>;

/// Where the history is kept (the store's SQLite file on the box).
pub trait ConfigHistory: Send + Sync + fmt::Debug + 'static {
    /// Adds a row; returns its id.
    fn record(&self, change: ConfigChange) -> BoxFuture<'_, Result<i64, HistoryError>>;
    fn entry(&self, id: i64) -> BoxFuture<'_, Result<Option<HistoryEntry>, HistoryError>>;
    /// The newest rows first, at most `limit`.
    fn recent(&self, limit: u32) -> BoxFuture<'_, Result<Vec<HistoryEntry>, HistoryError>>;
    /// The newest row of an applied change.
    fn last_applied(&self) -> BoxFuture<'_, Result<Option<HistoryEntry>, HistoryError>>;
}

/// A part of the box that must get its new settings ready, and may refuse them, before a
/// change applies: the vision set loads and checks its models, for instance.
pub trait LivePart: Send + Sync + 'static {
    /// Names the part in a refusal.
    fn name(&self) -> &'static str;

    /// Readies `next`; `None` when the part has nothing to do. `reread` is set when the file
    /// was read again, so that a part may reload what the config only names (model files
    /// replaced under the same name). Runs on a blocking thread: it may take its time.
    fn prepare(
        &self,
        running: &Config,
        next: &Config,
        reread: bool,
    ) -> Result<Option<Prepared>, String>;
}

/// What a part readied: run `commit` to apply it, which cannot fail.
pub struct Prepared {
    /// Key paths to report as applied beyond the changed ones (`vision.models`).
    pub applied: Vec<String>,
    pub commit: Box<dyn FnOnce() + Send>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

/// What a change would do or did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeReport {
    /// The history row of the change (none for a validation).
    pub history_id: Option<i64>,
    /// Key paths the change makes in the file.
    pub changed: Vec<String>,
    /// Key paths in effect now, without a restart.
    pub applied: Vec<String>,
    /// Key paths that differ between the file and the running box: they wait for a restart.
    pub restart_needed: Vec<String>,
    /// Why nothing applied live, when the live part alone would make an invalid config.
    pub held_back: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("{0}")]
    KeyPath(#[from] KeyPathError),
    #[error("{0}")]
    Edit(EditError),
    #[error("{part} refused the change: {reason}")]
    Refused { part: &'static str, reason: String },
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the config file {}: {source}; nothing was changed", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the config file {} was changed on disk since it was last applied; apply that edit first \
         (SIGHUP or the bus command config.reload) or undo it",
        path.display()
    )]
    ChangedOnDisk { path: PathBuf },
    #[error("no config history entry {0}")]
    NoSuchEntry(i64),
    #[error("config history entry {0} was refused; only an applied configuration can be restored")]
    NotApplied(i64),
    #[error("the config history cannot be read: {0}")]
    History(HistoryError),
    #[error("a worker thread of the change failed: {0}")]
    Thread(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("{0}")]
    KeyPath(#[from] KeyPathError),
    #[error("{0}: no such key in the config")]
    NoSuchKey(String),
}

/// What a change starts from.
#[derive(Debug)]
enum Proposal {
    /// The file as it is on disk now.
    Reread,
    Text(String),
    Set(Vec<(KeyPath, Value)>),
    Rollback(i64),
}

/// Applies a section of a new running config to the watch of those who use it.
type SectionUpdate = Box<dyn Fn(&Config) + Send + Sync>;

/// What the file holds: the text last applied and its config.
#[derive(Debug)]
struct FileState {
    text: String,
    config: Config,
}

/// What a [`ConfigHandle`] is made of.
#[derive(Debug)]
pub struct HandleSetup {
    /// The config file, read at start (`loaded`) and written back by every change.
    pub path: PathBuf,
    pub loaded: LoadedConfig,
    pub parts: Vec<Arc<dyn LivePart>>,
    pub history: Arc<dyn ConfigHistory>,
    pub hub: Hub,
}

impl fmt::Debug for dyn LivePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The running box's configuration, shared by everything that reads or changes it.
#[derive(Clone)]
pub struct ConfigHandle(Arc<Inner>);

struct Inner {
    path: PathBuf,
    running: watch::Sender<Arc<Config>>,
    sections: StdMutex<Vec<SectionUpdate>>,
    file: Mutex<FileState>,
    parts: Vec<Arc<dyn LivePart>>,
    history: Arc<dyn ConfigHistory>,
    hub: Hub,
    changes_total: IntCounterVec,
}

impl fmt::Debug for ConfigHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigHandle")
            .field("path", &self.0.path)
            .field("parts", &self.0.parts)
            .finish_non_exhaustive()
    }
}

impl ConfigHandle {
    /// The handle over the config `setup.loaded` read from `setup.path`; registers
    /// `vod_config_changes_total{source,result}` in `registry`.
    pub fn new(setup: HandleSetup, registry: &Registry) -> Result<ConfigHandle, prometheus::Error> {
        let changes_total = IntCounterVec::new(
            Opts::new(
                "vod_config_changes_total",
                "Config changes asked for, by source and result (applied or refused).",
            ),
            &["source", "result"],
        )?;
        registry.register(Box::new(changes_total.clone()))?;
        for source in ChangeSource::ALL {
            for result in [Outcome::Applied, Outcome::Refused] {
                changes_total.with_label_values(&[source.as_str(), result.as_str()]);
            }
        }
        match remove_stale_temporaries(&setup.path) {
            Ok(0) => {}
            Ok(removed) => {
                tracing::warn!(removed, path = %setup.path.display(), "Removed what writes of the config file cut short by a crash left.");
            }
            Err(error) => {
                tracing::warn!(%error, path = %setup.path.display(), "Could not look for what a crash left beside the config file.");
            }
        }
        let LoadedConfig { config, text } = setup.loaded;
        Ok(ConfigHandle(Arc::new(Inner {
            path: setup.path,
            running: watch::Sender::new(Arc::new(config.clone())),
            sections: StdMutex::new(Vec::new()),
            file: Mutex::new(FileState { text, config }),
            parts: setup.parts,
            history: setup.history,
            hub: setup.hub,
            changes_total,
        })))
    }

    /// Keeps the file the box started with in the history, unless it is the text applied
    /// last; with the key paths it changed since. A failure is logged: the history is for
    /// inspection, not for running.
    pub async fn record_start(&self) {
        let file = self.0.file.lock().await;
        let last = match self.0.history.last_applied().await {
            Ok(last) => last,
            Err(error) => {
                tracing::warn!(%error, "Could not read the config history.");
                return;
            }
        };
        if last
            .as_ref()
            .is_some_and(|last| last.change.toml == file.text)
        {
            return;
        }
        let changed = last
            .and_then(|last| Config::parse(&last.change.toml).ok())
            .map(|before| strings(&changed_paths(&before, &file.config)))
            .unwrap_or_default();
        let entry = ConfigChange {
            source: ChangeSource::File,
            actor: "vod run".into(),
            outcome: Outcome::Applied,
            changed,
            restart_needed: Vec::new(),
            error: None,
            toml: file.text.clone(),
        };
        if let Err(error) = self.0.history.record(entry).await {
            tracing::warn!(%error, "Could not record the configuration in effect.");
        }
    }

    /// The config the box runs with now.
    pub fn current(&self) -> Arc<Config> {
        self.0.running.borrow().clone()
    }

    /// The running config, told of every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.0.running.subscribe()
    }

    /// One section of the running config, as `view` picks it: the receiver is told only when
    /// that section changes.
    pub fn section<T>(
        &self,
        view: impl Fn(&Config) -> T + Send + Sync + 'static,
    ) -> watch::Receiver<T>
    where
        T: PartialEq + Send + Sync + 'static,
    {
        let (sender, receiver) = watch::channel(view(&self.current()));
        let update: SectionUpdate = Box::new(move |config| {
            let next = view(config);
            sender.send_if_modified(|value| {
                let changed = *value != next;
                if changed {
                    *value = next;
                }
                changed
            });
        });
        self.0
            .sections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(update);
        receiver
    }

    /// The running value at `path` (`""` for the whole config), secrets masked.
    pub fn get(&self, path: &str) -> Result<Value, GetError> {
        let path = match path {
            "" => KeyPath::default(),
            path => KeyPath::parse(path)?,
        };
        let mut value = lookup(&tree(&self.current()), &path)
            .cloned()
            .ok_or_else(|| GetError::NoSuchKey(path.to_string()))?;
        mask_json(&path, &mut value);
        Ok(value)
    }

    /// The file's text as last applied, secrets masked.
    pub async fn file_text(&self) -> String {
        mask_toml(&self.0.file.lock().await.text)
    }

    /// The key paths that differ between the file and the running box.
    pub async fn restart_needed(&self) -> Vec<String> {
        let file = self.0.file.lock().await;
        strings(&changed_paths(&self.current(), &file.config))
    }

    /// What applying `text` would do, without doing it.
    pub async fn validate_text(&self, text: &str) -> Result<ChangeReport, ApplyError> {
        let file = self.0.file.lock().await;
        self.preview(&file, text)
    }

    /// What setting these key paths would do, without doing it.
    pub async fn validate_set(
        &self,
        changes: &[(String, Value)],
    ) -> Result<ChangeReport, ApplyError> {
        let changes = parse_changes(changes)?;
        let file = self.0.file.lock().await;
        let text = edit(&file.text, &changes).map_err(ApplyError::Edit)?;
        self.preview(&file, &text)
    }

    fn preview(&self, file: &FileState, text: &str) -> Result<ChangeReport, ApplyError> {
        let next = Config::parse(text).map_err(ApplyError::Invalid)?;
        let plan = Plan::between(&self.current(), &next);
        Ok(ChangeReport {
            history_id: None,
            changed: strings(&changed_paths(&file.config, &next)),
            applied: strings(&plan.live),
            restart_needed: strings(&plan.restart),
            held_back: plan.held_back,
        })
    }

    /// Applies the file as it is on disk now (SIGHUP, `config.reload`).
    pub async fn reload_file(&self, origin: Origin) -> Result<ChangeReport, ApplyError> {
        self.change(origin, Proposal::Reread).await
    }

    /// Applies a whole new text of the file.
    pub async fn apply_text(
        &self,
        text: String,
        origin: Origin,
    ) -> Result<ChangeReport, ApplyError> {
        self.change(origin, Proposal::Text(text)).await
    }

    /// Sets the values at these key paths (JSON `null` removes a key), the rest of the file
    /// as it is.
    pub async fn set(
        &self,
        changes: &[(String, Value)],
        origin: Origin,
    ) -> Result<ChangeReport, ApplyError> {
        match parse_changes(changes) {
            Ok(changes) => self.change(origin, Proposal::Set(changes)).await,
            Err(error) => {
                let text = self.0.file.lock().await.text.clone();
                Err(self.refused(&origin, error, text, Vec::new()).await)
            }
        }
    }

    /// Applies the text of history entry `id` again, byte for byte.
    pub async fn rollback(&self, id: i64, actor: &str) -> Result<ChangeReport, ApplyError> {
        self.change(
            Origin::new(ChangeSource::Rollback, actor),
            Proposal::Rollback(id),
        )
        .await
    }

    /// The newest history entries, at most `limit`, their texts masked.
    pub async fn history(&self, limit: u32) -> Result<Vec<HistoryEntry>, ApplyError> {
        let mut entries = self
            .0
            .history
            .recent(limit)
            .await
            .map_err(ApplyError::History)?;
        for entry in &mut entries {
            entry.change.toml = mask_toml(&entry.change.toml);
        }
        Ok(entries)
    }

    async fn change(&self, origin: Origin, proposal: Proposal) -> Result<ChangeReport, ApplyError> {
        let mut file = self.0.file.lock().await;
        let mut proposed = None;
        let result = self.propose(&mut file, proposal, &mut proposed).await;
        // A refused text that is a valid config (a part refused it, or it could not be
        // written) still tells what it would have changed.
        let refused_changes = match (&result, &proposed) {
            (Err(_), Some(text)) => Config::parse(text)
                .map(|next| strings(&changed_paths(&file.config, &next)))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let text = proposed.unwrap_or_else(|| file.text.clone());
        drop(file);
        match result {
            Ok(mut report) => {
                let entry = ConfigChange {
                    source: origin.source,
                    actor: origin.actor.clone(),
                    outcome: Outcome::Applied,
                    changed: report.changed.clone(),
                    restart_needed: report.restart_needed.clone(),
                    error: None,
                    toml: text,
                };
                report.history_id = self.record(entry).await;
                self.announce(&origin, Ok(&report));
                Ok(report)
            }
            Err(error) => Err(self.refused(&origin, error, text, refused_changes).await),
        }
    }

    async fn propose(
        &self,
        file: &mut FileState,
        proposal: Proposal,
        proposed: &mut Option<String>,
    ) -> Result<ChangeReport, ApplyError> {
        let path = self.0.path.clone();
        let disk = tokio::fs::read_to_string(&path)
            .await
            .map_err(|source| ApplyError::Read {
                path: path.clone(),
                source,
            })?;
        let reread = matches!(proposal, Proposal::Reread);
        if !reread && disk != file.text {
            return Err(ApplyError::ChangedOnDisk { path });
        }
        let text = match proposal {
            Proposal::Reread => disk.clone(),
            Proposal::Text(text) => text,
            Proposal::Set(changes) => edit(&file.text, &changes).map_err(ApplyError::Edit)?,
            Proposal::Rollback(id) => {
                let entry = self
                    .0
                    .history
                    .entry(id)
                    .await
                    .map_err(ApplyError::History)?
                    .ok_or(ApplyError::NoSuchEntry(id))?;
                if entry.change.outcome != Outcome::Applied {
                    return Err(ApplyError::NotApplied(id));
                }
                entry.change.toml
            }
        };
        *proposed = Some(text.clone());
        self.apply(file, text, &disk, reread).await
    }

    async fn apply(
        &self,
        file: &mut FileState,
        text: String,
        disk: &str,
        reread: bool,
    ) -> Result<ChangeReport, ApplyError> {
        let next = Config::parse(&text).map_err(ApplyError::Invalid)?;
        let running = self.current();
        let plan = Plan::between(&running, &next);
        let mut applied = strings(&plan.live);
        let (parts, effective) = (self.0.parts.clone(), Arc::new(plan.effective));
        let (running_now, effective_now) = (running.clone(), effective.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            parts
                .iter()
                .filter_map(|part| {
                    part.prepare(&running_now, &effective_now, reread)
                        .map_err(|reason| ApplyError::Refused {
                            part: part.name(),
                            reason,
                        })
                        .transpose()
                })
                .collect::<Result<Vec<Prepared>, ApplyError>>()
        })
        .await
        .map_err(|error| ApplyError::Thread(error.to_string()))??;
        let mut commits = Vec::new();
        for part in prepared {
            applied.extend(part.applied);
            commits.push(part.commit);
        }
        if text != disk {
            let (path, written) = (self.0.path.clone(), text.clone());
            tokio::task::spawn_blocking(move || write_atomically(&path, &written))
                .await
                .map_err(|error| ApplyError::Thread(error.to_string()))?
                .map_err(|source| ApplyError::Write {
                    path: self.0.path.clone(),
                    source,
                })?;
        }
        for commit in commits {
            commit();
        }
        let changed = strings(&changed_paths(&file.config, &next));
        self.publish(effective);
        *file = FileState { text, config: next };
        applied.sort();
        applied.dedup();
        Ok(ChangeReport {
            history_id: None,
            changed,
            applied,
            restart_needed: strings(&plan.restart),
            held_back: plan.held_back,
        })
    }

    fn publish(&self, config: Arc<Config>) {
        self.0.running.send_replace(config.clone());
        for update in self
            .0
            .sections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            update(&config);
        }
    }

    /// Records, announces and returns a refusal.
    async fn refused(
        &self,
        origin: &Origin,
        error: ApplyError,
        text: String,
        changed: Vec<String>,
    ) -> ApplyError {
        let entry = ConfigChange {
            source: origin.source,
            actor: origin.actor.clone(),
            outcome: Outcome::Refused,
            changed,
            restart_needed: Vec::new(),
            error: Some(mask_text(&error.to_string())),
            toml: text,
        };
        self.record(entry).await;
        self.announce(origin, Err(&error));
        error
    }

    async fn record(&self, change: ConfigChange) -> Option<i64> {
        match self.0.history.record(change).await {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, "Could not record a config change in the history.");
                None
            }
        }
    }

    /// Counts, logs and publishes the outcome of a change.
    fn announce(&self, origin: &Origin, result: Result<&ChangeReport, &ApplyError>) {
        let source = origin.source.as_str();
        let actor = origin.actor.as_str();
        let event = match result {
            Ok(report) => {
                self.0
                    .changes_total
                    .with_label_values(&[source, Outcome::Applied.as_str()])
                    .inc();
                tracing::info!(source, actor, applied = ?report.applied, changed = ?report.changed, "Config change applied.");
                if !report.restart_needed.is_empty() {
                    tracing::warn!(source, actor, keys = ?report.restart_needed, reason = report.held_back.as_deref(), "Config changes that need a restart were not applied.");
                }
                Event::ConfigChanged {
                    source: source.to_owned(),
                    actor: actor.to_owned(),
                    applied: report.applied.clone(),
                    restart_needed: report.restart_needed.clone(),
                    error: None,
                }
            }
            Err(error) => {
                self.0
                    .changes_total
                    .with_label_values(&[source, Outcome::Refused.as_str()])
                    .inc();
                let error = mask_text(&error.to_string());
                match origin.source {
                    // Nobody gets a reply to a signal: someone must look at the file.
                    ChangeSource::Sighup | ChangeSource::File => {
                        tracing::error!(
                            source,
                            actor,
                            "Config change refused; the running config is kept: {error}"
                        );
                    }
                    _ => {
                        tracing::warn!(
                            source,
                            actor,
                            "Config change refused; the running config is kept: {error}"
                        );
                    }
                }
                Event::ConfigChanged {
                    source: source.to_owned(),
                    actor: actor.to_owned(),
                    applied: Vec::new(),
                    restart_needed: Vec::new(),
                    error: Some(error),
                }
            }
        };
        self.0.hub.publish(event);
    }

    /// The config file's path.
    pub fn path(&self) -> &Path {
        &self.0.path
    }
}

fn parse_changes(changes: &[(String, Value)]) -> Result<Vec<(KeyPath, Value)>, ApplyError> {
    changes
        .iter()
        .map(|(path, value)| Ok((KeyPath::parse(path)?, value.clone())))
        .collect()
}

fn strings(paths: &[KeyPath]) -> Vec<String> {
    paths.iter().map(ToString::to_string).collect()
}
