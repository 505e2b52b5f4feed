//! The store: opening the database and the data directory, and readiness.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;
use vod_core::config::StorageConfig;

use crate::error::StoreError;
use crate::health::{ImageHealth, ImageWrites};
use crate::images::{self, IMAGES_DIR};
use crate::metrics::StoreMetrics;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections that serve reads (the web page, readiness) beside the single writer.
const READER_CONNECTIONS: u32 = 4;

/// The database and the image files; cheap to clone (the pools and metrics are shared).
#[derive(Debug, Clone)]
pub struct Store {
    /// One connection: SQLite admits one writer at a time, and queueing in the pool is fairer
    /// and cheaper than retrying on `SQLITE_BUSY`.
    pub(crate) writer: SqlitePool,
    /// Read-only connections; in WAL mode they never block the writer nor wait for it.
    pub(crate) reader: SqlitePool,
    pub(crate) images_dir: PathBuf,
    pub(crate) metrics: StoreMetrics,
    /// Wakes the queue runners of this process when a job is enqueued or retried.
    pub(crate) jobs_notify: Arc<Notify>,
    pub(crate) image_health: ImageHealth,
}

impl Store {
    /// Creates the data and images directories if needed, opens (or creates) the database and
    /// brings its schema up to date.
    pub async fn open(config: &StorageConfig, metrics: StoreMetrics) -> Result<Store, StoreError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(StoreError::io("creating directory", &config.data_dir))?;
        let images_dir = images::create_dir_durable(&config.data_dir, Path::new(IMAGES_DIR))?;

        let path = config.database_path();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL at every commit: a committed capture survives a power cut,
            // not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        // The writer's connection stays open for the store's lifetime, so that the WAL and its
        // index, which SQLite removes when the last connection closes, are always there for
        // the read-only connections, which may not create them.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_error)?;
        Ok(Store {
            writer,
            reader,
            images_dir,
            image_health: ImageHealth::new(metrics.clone()),
            metrics,
            jobs_notify: Arc::new(Notify::new()),
        })
    }

    /// Closes every connection once the queries in flight finish; the last one to close
    /// checkpoints the write-ahead log into the database file.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Succeeds when the database answers a query; for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(StoreError::database("pinging"))?;
        Ok(())
    }

    /// Whether image files can be written now; while they cannot, captures are stored without
    /// their images. For readiness and the technician's page.
    pub fn image_writes(&self) -> ImageWrites {
        self.image_health.current()
    }

    /// The file behind an image's relative path (as in [`crate::CaptureSummary::first_image`]),
    /// or `None` when the path could name something outside the images directory (`..`,
    /// absolute paths). Does not check that the file exists.
    pub fn image_path(&self, relative: &str) -> Option<PathBuf> {
        images::resolve(&self.images_dir, relative)
    }
}
