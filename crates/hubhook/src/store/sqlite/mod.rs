//! The SQLite store: one file, WAL, durable commits. Every write goes through one writer thread
//! that runs whatever queued up meanwhile in one transaction (group commit), each request inside its
//! own savepoint unless it can simply run again (see `Job::repeatable`); a syncer thread fsyncs the
//! WAL behind it and answers the requests only once their transaction is on disk
//! (`synchronous=FULL`'s guarantee, with the fsync off the writer's path). One file per resource
//! holds its `impl`: hotels, tasks (and the webhook's transaction, `ingest`), accounts, outbox,
//! retention; the writer thread and its syncer and checkpointer are in `writer`; the files' modes
//! (the service user's only) in `files`.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::{
    domain::HotelId,
    events::{EventBus, TaskChange},
    store::{ConfigBus, ConfigChange, Store, StoreError, rows::Columns},
};
use writer::{
    Durability, FnJob, Job, RepeatJob, WalPacing, spawn_checkpointer, sync_loop, writer_loop,
};

mod accounts;
mod board;
mod claim;
mod dashboard;
mod escalation;
mod files;
mod hot;
mod hotels;
mod ingest;
mod outbox;
#[cfg(test)]
mod plan_check;
mod reports;
mod retention;
mod review;
mod stats;
mod tasks;
mod writer;

const MIGRATIONS: &[&str] = &[
    include_str!("schema_sqlite.sql"),
    include_str!("schema_sqlite_2_outbox.sql"),
    include_str!("schema_sqlite_3_accounts.sql"),
    include_str!("schema_sqlite_4_retention.sql"),
    include_str!("schema_sqlite_5_indexes.sql"),
    include_str!("schema_sqlite_6_hotel_versions.sql"),
    include_str!("schema_sqlite_7_accounts.sql"),
    include_str!("schema_sqlite_8_ship.sql"),
    include_str!("schema_sqlite_9_outbound.sql"),
    include_str!("schema_sqlite_10_escalation.sql"),
    include_str!("schema_sqlite_11_settings.sql"),
    include_str!("schema_sqlite_12_key_owner.sql"),
    include_str!("schema_sqlite_13_replay.sql"),
    include_str!("schema_sqlite_14_merge.sql"),
    include_str!("schema_sqlite_15_reports.sql"),
    include_str!("schema_sqlite_16_assignment.sql"),
    include_str!("schema_sqlite_17_board_predicates.sql"),
    include_str!("schema_sqlite_18_done_at.sql"),
];
const QUEUE: usize = 8192;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Past this much of the WAL in use the writer restarts it: passive
/// checkpoints alone seldom let it start over under steady writes, and its index (`-shm`, mapped by
/// the process) grows with it.
pub const WAL_SOFT_LIMIT: u64 = 64 * 1024 * 1024;
/// How large the WAL may grow while checkpoints wait for a saturated writer to catch its breath.
pub const WAL_LIMIT: u64 = 256 * 1024 * 1024;

/// `sqlite://hubhook.db` (relative), `sqlite:///var/lib/hubhook.db` (absolute), `sqlite:hubhook.db`.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(i)?)
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    connect_with(path, "FULL")
}

/// What SQLite's own memory (page caches above all) may grow to, across every connection of the
/// process, before it recycles its least recently used pages instead of allocating more. Without
/// it each connection's cache grows to 2 MiB as the database grows: a 30-minute soak's RSS kept
/// rising with the writer's and the readers' caches (docs/reliability.md, "Soak"). The file's pages
/// stay in the system's page cache, so a recycled page costs a read from memory, not the disk.
pub const HEAP_LIMIT: i64 = 4 * 1024 * 1024;

/// `synchronous` is FULL for every connection but the writer's, which commits with NORMAL (in WAL
/// mode: consistent, the WAL synced before every checkpoint and on every restart of it) and leaves
/// the WAL's fsync after each commit to the syncer thread ([`sync_loop`]), which answers nobody
/// before it: FULL's guarantee, without the writer idling through the fsync.
fn connect_with(path: &Path, synchronous: &str) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "could not put {} in WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each request in a group commit runs in its own savepoint; keeping the sub-journal that makes
    // the savepoint possible in memory spares the writer a temp file's worth of writes per batch.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Truncating the WAL frees its blocks, which on a disk mounted with `discard` takes about a
    // millisecond per MiB, in the first commit after a restart: only what overshot the hard
    // limit is cut. The file keeps the size it grew to (at most about [`WAL_LIMIT`]).
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)?;
    // Process-wide (every connection sets the same value).
    conn.pragma_update(None, "soft_heap_limit", HEAP_LIMIT)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::Invalid(format!(
            "the database is at schema version {current}, newer than this hubhook knows ({known})"
        )));
    }
    for m in &MIGRATIONS[current as usize..] {
        tx.execute_batch(m)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        match pooled {
            Some(c) => Ok(c),
            None => connect(&self.path),
        }
    }

    fn give(&self, conn: Connection) {
        if let Ok(mut v) = self.idle.lock()
            && v.len() < 8
        {
            v.push(conn);
        }
    }
}

/// The SQLite [`Store`]: a writer thread for every write, a pool of readers.
pub struct SqliteStore {
    /// The checkpointer runs while this lives.
    _alive: Arc<()>,
    outbox: Arc<tokio::sync::Notify>,
    writer: mpsc::Sender<Box<dyn Job>>,
    durability: Arc<Durability>,
    readers: Arc<Readers>,
    events: EventBus,
    config: ConfigBus,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        files::create_private(path)?;
        let mut conn = connect_with(path, "NORMAL")?;
        migrate(&mut conn)?;
        // Checkpoints (copying the WAL into the database file and fsyncing it) run on a thread of
        // their own, so the writer only ever appends to the WAL and its fsync is the only one a
        // request waits for.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let alive = Arc::new(());
        let pacing = Arc::new(WalPacing::default());
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        spawn_checkpointer(
            connect(path)?,
            path.to_owned(),
            pacing.clone(),
            Arc::downgrade(&alive),
        )?;
        let durability = Arc::new(Durability::new());
        let (sync_tx, sync_rx) = std::sync::mpsc::channel();
        let synced = durability.clone();
        std::thread::Builder::new()
            .name("hubhook-sqlite-sync".into())
            .spawn(move || sync_loop(wal, sync_rx, synced))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the syncer: {e}")))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let committing = durability.clone();
        std::thread::Builder::new()
            .name("hubhook-sqlite-writer".into())
            .spawn(move || writer_loop(pacing, conn, rx, sync_tx, committing))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            _alive: alive,
            outbox: Arc::new(tokio::sync::Notify::new()),
            writer: tx,
            durability,
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
            events: EventBus::new(),
            config: ConfigBus::default(),
        })
    }

    /// Tells the cache, after the commit, that a hotel is now at this configuration version.
    fn changed(&self, hotel: &HotelId, version: u64) {
        self.config.publish(ConfigChange::Hotel {
            id: hotel.as_str().to_owned(),
            version,
        });
    }

    /// Wakes the dispatcher after a commit that queued deliveries.
    fn queued(&self, n: usize) {
        if n > 0 {
            self.outbox.notify_one();
        }
    }

    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.submit(Box::new(FnJob { f, reply }), rx).await
    }

    /// Queues a job for the writer and waits for its answer (after its commit is on disk).
    async fn submit<R>(
        &self,
        job: Box<dyn Job>,
        answer: oneshot::Receiver<Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        self.writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// [`Self::write`] for a job whose only effects are its SQL, so that it may run twice: it runs
    /// without a savepoint of its own (see [`Job::repeatable`]).
    async fn write_repeatable<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = RepeatJob {
            f,
            result: None,
            reply,
        };
        self.submit(Box::new(job), rx).await
    }

    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let readers = self.readers.clone();
        let durability = self.durability.clone();
        let (result, seen) = tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = f(&conn);
            readers.give(conn);
            Ok::<_, StoreError>((result, durability.committed.load(Ordering::SeqCst)))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database reader failed: {e}")))??;
        self.durability.settle(seen).await;
        result
    }
}

fn hotel_exists(conn: &Connection, hotel: &str) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1 FROM hotels WHERE id = ?1")?
        .query_row([hotel], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// A job behind everything queued (the writer runs jobs in order), then a checkpoint that folds
    /// the WAL into the database file and truncates it, so a copy of the file alone is complete.
    async fn flush(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(())).await?;
        let busy: i64 = self
            .read(|c| Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?))
            .await?;
        if busy != 0 {
            tracing::warn!("the final WAL checkpoint was incomplete (the database is in use)");
        }
        Ok(())
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<TaskChange> {
        self.events.subscribe()
    }
}
