//! The SQLite store: one file, WAL, durable commits. Every write goes through one writer thread
//! that runs whatever queued up meanwhile in one transaction (group commit), each request inside its
//! own savepoint unless it can simply run again (see `Job::repeatable`); a syncer thread fsyncs the
//! WAL behind it and answers the requests only once their transaction is on disk
//! (`synchronous=FULL`'s guarantee, with the fsync off the writer's path).

use crate::store::AccountStore;
use crate::store::HotelStore;
use crate::store::OutboxStore;
use crate::store::RetentionStore;
use crate::store::TaskStore;
use std::{
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use duve::ReservationFacts;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use crate::store::{
    ApiKey, ApiKeyInfo, BoardTask, HotelSettings, HotelSummary, InboundEntry, IngestRequest,
    Ingested, NewHotel, NewUser, Refused, Room, SessionUser, StatusChange, Store, StoreError,
    TaskDetail, TaskFilter, TaskTiming, User,
};
use crate::store::{AttemptRecord, Claimed, Delivery, NewSubscription, Scope, Subscription};
use crate::store::{ConfigBus, ConfigChange};

mod hot;
mod hotels;
mod outbox;
use crate::{
    domain::outbound::{DeliveryStatus, EventType},
    domain::{
        CatalogEntry, HotelFacts, HotelId, Role, Task, TaskEvent, TaskId, TaskStatus,
        default_catalog, time,
    },
    events::{ChangeKind, EventBus, TaskChange},
    intake::{self, ContextWrite, OrderRead, Outcome, Settlement, TaskDraft},
};

const MIGRATIONS: &[&str] = &[
    include_str!("schema_sqlite.sql"),
    include_str!("schema_sqlite_2_outbox.sql"),
    include_str!("schema_sqlite_3_accounts.sql"),
    include_str!("schema_sqlite_4_retention.sql"),
    include_str!("schema_sqlite_5_indexes.sql"),
    include_str!("schema_sqlite_6_hotel_versions.sql"),
];
/// Enough to amortise one fsync over a burst, small enough to keep one batch's latency low.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 8192;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Average requests per group commit from which the writer counts as saturated: checkpoints then
/// wait (see [`spawn_checkpointer`]).
const SATURATED_BATCH: u64 = 8;
/// Past this much of the WAL in use the writer restarts it: passive
/// checkpoints alone seldom let it start over under steady writes, and its index (`-shm`, mapped by
/// the process) grows with it.
pub const WAL_SOFT_LIMIT: u64 = 64 * 1024 * 1024;
/// Frames the checkpointer leaves for the writer's restart to copy (about 1 MiB).
const RESTART_LEFT: i64 = 256;
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

fn connect(path: &Path) -> Result<Connection, StoreError> {
    connect_with(path, "FULL")
}

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

// ---------------------------------------------------------------------------------------------
// The writer: jobs run inside the batch's transaction; their replies wait for its commit.

trait Job: Send {
    /// A repeatable job has no effect outside the transaction, so it may run again after its batch
    /// was rolled back. Such jobs first run without a savepoint of their own: a savepoint per job
    /// makes SQLite copy every page the job touches into its journal first, and a group commit's
    /// jobs all touch the same tail pages (the writer's largest cost after the inserts themselves).
    fn repeatable(&self) -> bool {
        false
    }
    /// Runs a repeatable job in place, keeping its result for [`Job::run`]; false if it failed.
    fn run_in_place(&mut self, _conn: &Connection) -> bool {
        false
    }
    /// Forgets what [`Job::run_in_place`] kept: its batch was rolled back.
    fn forget(&mut self) {}
    /// Runs the job (a repeatable one that ran in place keeps that run's result).
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Finish>;
    fn abort(self: Box<Self>, err: StoreError);
}

trait Finish: Send {
    fn ok(&self) -> bool;
    fn finish(self: Box<Self>, commit: &Result<(), StoreError>);
}

struct FnJob<F, R> {
    f: F,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

/// A job that may run more than once (see [`Job::repeatable`]).
struct RepeatJob<F, R> {
    f: F,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

struct Done<R> {
    result: Result<R, StoreError>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Job for FnJob<F, R>
where
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Finish> {
        let this = *self;
        Box::new(Done {
            result: (this.f)(conn),
            reply: this.reply,
        })
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

impl<F, R> Job for RepeatJob<F, R>
where
    F: Fn(&Connection) -> Result<R, StoreError> + Send,
    R: Send + 'static,
{
    fn repeatable(&self) -> bool {
        true
    }

    fn run_in_place(&mut self, conn: &Connection) -> bool {
        let result = (self.f)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn forget(&mut self) {
        self.result = None;
    }

    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Finish> {
        let this = *self;
        Box::new(Done {
            result: this.result.unwrap_or_else(|| (this.f)(conn)),
            reply: this.reply,
        })
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

impl<R: Send + 'static> Finish for Done<R> {
    fn ok(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, commit: &Result<(), StoreError>) {
        let answer = match (commit, self.result) {
            (Ok(()), result) => result,
            // A job that failed was rolled back to its savepoint: its own error says more.
            (Err(_), Err(own)) => Err(own),
            (Err(e), Ok(_)) => Err(e.clone()),
        };
        let _ = self.reply.send(answer);
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// What the writer tells the checkpointer (how busy it is), and what it asks of the writer.
#[derive(Default)]
struct WalPacing {
    batches: AtomicU64,
    jobs: AtomicU64,
    /// Set by the checkpointer when the WAL outgrew its limit: the writer then restarts the WAL
    /// itself, between two batches (the only moment nobody writes).
    restart: AtomicBool,
    /// Frames in the WAL after the writer's last commit (SQLite's WAL hook): how much of the file
    /// is in use, which its size no longer says once it has grown (it is not truncated under load).
    frames: AtomicU64,
}

/// SQLite's WAL hook on the writer's connection: called after every commit with the WAL's frames.
extern "C" fn wal_frames(
    pacing: *mut std::ffi::c_void,
    _: *mut rusqlite::ffi::sqlite3,
    _: *const std::ffi::c_char,
    frames: std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: the pointer is the writer's `Arc<WalPacing>`, which outlives its connection (see
    // `watch_frames`).
    let pacing = unsafe { &*(pacing as *const WalPacing) };
    pacing.frames.store(frames.max(0) as u64, Ordering::Relaxed);
    rusqlite::ffi::SQLITE_OK
}

/// Installs [`wal_frames`] on the writer's connection. `pacing` must outlive `conn`: the writer
/// thread holds both, and drops the connection first.
fn watch_frames(conn: &Connection, pacing: &Arc<WalPacing>) {
    // SAFETY: the handle is the connection's own; the hook's argument points into an Arc the
    // writer keeps alive for as long as the connection (it is declared after, dropped before).
    unsafe {
        rusqlite::ffi::sqlite3_wal_hook(
            conn.handle(),
            Some(wal_frames),
            Arc::as_ptr(pacing) as *mut std::ffi::c_void,
        );
    }
}

/// Commits are numbered in the order the writer runs them; the syncer publishes the number up to
/// which they are all on disk. A read that may have seen a commit answers only once it is durable,
/// so nothing is shown (nor answered 2xx) that a power cut could take back.
struct Durability {
    /// The number of the latest commit the writer started (taken before its `COMMIT`).
    committed: AtomicU64,
    /// Every commit up to this number is on disk.
    durable: tokio::sync::watch::Sender<u64>,
    /// An fsync of the WAL failed: what it covered may not be on disk, and on Linux a later fsync
    /// may succeed without having written it. The writer then refuses everything.
    failed: AtomicBool,
}

impl Durability {
    fn new() -> Self {
        Self {
            committed: AtomicU64::new(0),
            durable: tokio::sync::watch::Sender::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Waits until every commit a read finished after may have shown is on disk.
    async fn settle(&self, seen: u64) {
        if *self.durable.borrow() >= seen {
            return;
        }
        let mut durable = self.durable.subscribe();
        let _ = durable.wait_for(|d| *d >= seen).await;
    }
}

/// A committed batch on its way to the syncer: its jobs are answered once the WAL is synced.
struct Committed {
    seq: u64,
    commit: Result<(), StoreError>,
    done: Vec<Box<dyn Finish>>,
}

fn writer_loop(
    pacing: Arc<WalPacing>,
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    syncer: std::sync::mpsc::Sender<Committed>,
    durability: Arc<Durability>,
) {
    // Declared after `pacing`, so dropped before it: the WAL hook points into `pacing`.
    let conn = conn;
    watch_frames(&conn, &pacing);
    let mut jobs: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if durability.failed.load(Ordering::Relaxed) {
            abort_all(
                &mut jobs,
                "the database's log could not be written to disk; restart hubhook".into(),
            );
            continue;
        }
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "could not start a write transaction");
            abort_all(&mut jobs, e.to_string());
            continue;
        }
        crate::store::stats::batch_committed(jobs.len());
        pacing.batches.fetch_add(1, Ordering::Relaxed);
        pacing.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        // The repeatable jobs first, without savepoints. Should one fail (an SQL error, not a
        // refusal: those are answers), the batch starts over with a savepoint for every job.
        let in_place = run_in_place(&conn, &mut jobs);
        if !in_place {
            let _ = exec(&conn, "ROLLBACK");
            jobs.iter_mut().for_each(|j| j.forget());
            if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
                tracing::error!(error = %e, "could not start a write transaction");
                abort_all(&mut jobs, e.to_string());
                continue;
            }
        }
        let mut done: Vec<Box<dyn Finish>> = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            if in_place && job.repeatable() {
                done.push(job.run(&conn));
                continue;
            }
            let savepoint = exec(&conn, "SAVEPOINT job");
            if let Err(e) = savepoint {
                job.abort(StoreError::Unavailable(e.to_string()));
                continue;
            }
            // A panic in a job must not take the writer (and so every later request) down with it;
            // its reply sender is dropped, which its caller reads as "unavailable".
            let fin = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&conn))).ok();
            if !fin.as_ref().is_some_and(|f| f.ok()) {
                let _ = exec(&conn, "ROLLBACK TO job");
            }
            let _ = exec(&conn, "RELEASE job");
            done.extend(fin);
        }
        // Numbered before the commit makes it visible: a reader that sees it also sees the number.
        let seq = durability.committed.fetch_add(1, Ordering::SeqCst) + 1;
        let commit = exec(&conn, "COMMIT").map_err(|e| StoreError::Unavailable(e.to_string()));
        if let Err(e) = &commit {
            tracing::error!(error = %e, "group commit failed");
            let _ = exec(&conn, "ROLLBACK");
        }
        // The next batch runs while the syncer waits for the disk.
        if let Err(lost) = syncer.send(Committed { seq, commit, done }) {
            let err = StoreError::Unavailable("the database syncer has stopped".into());
            for f in lost.0.done {
                f.finish(&Err(err.clone()));
            }
        }
        if pacing.restart.swap(false, Ordering::Relaxed) {
            restart_wal(&conn);
        }
    }
}

/// Runs a batch's repeatable jobs in place, in order, until one fails or panics (false).
fn run_in_place(conn: &Connection, jobs: &mut [Box<dyn Job>]) -> bool {
    jobs.iter_mut().filter(|j| j.repeatable()).all(|j| {
        std::panic::catch_unwind(AssertUnwindSafe(|| j.run_in_place(conn))).unwrap_or(false)
    })
}

/// Answers every job of a batch that could not run.
fn abort_all(jobs: &mut Vec<Box<dyn Job>>, why: String) {
    let err = StoreError::Unavailable(why);
    for j in jobs.drain(..) {
        j.abort(err.clone());
    }
}

/// Most frames were copied by the checkpointer already: this copies the rest and lets the next
/// batch write the WAL from its start. It does not wait: a reader on an older snapshot, or the
/// checkpointer mid-copy, would hold every queued request behind the busy handler's sleeps; the
/// checkpointer asks again at its next tick instead.
fn restart_wal(conn: &Connection) {
    let started = std::time::Instant::now();
    let _ = conn.busy_timeout(Duration::ZERO);
    let restarted = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    match restarted {
        Ok(0) => tracing::info!(
            took_ms = started.elapsed().as_millis() as u64,
            "WAL restarted under sustained load"
        ),
        Ok(_) => tracing::debug!("WAL restart postponed: a reader is still busy"),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            tracing::debug!("WAL restart postponed: the checkpointer is busy")
        }
        Err(e) => tracing::warn!(error = %e, "WAL restart failed; it will be retried"),
    }
}

/// Makes the writer's commits durable: one `fdatasync` of the WAL covers every batch committed
/// before it started (group commit again, one level down), then their jobs are answered, in commit
/// order. While it waits for the disk the writer runs the next batch.
fn sync_loop(
    wal_path: PathBuf,
    rx: std::sync::mpsc::Receiver<Committed>,
    durability: Arc<Durability>,
) {
    let mut wal: Option<std::fs::File> = None;
    let mut batches: Vec<Committed> = Vec::new();
    while let Ok(first) = rx.recv() {
        batches.push(first);
        batches.extend(rx.try_iter());
        let synced = sync_file(&mut wal, &wal_path);
        if let Err(e) = &synced {
            tracing::error!(error = %e, "the WAL could not be synced to disk; refusing writes");
            durability.failed.store(true, Ordering::Relaxed);
        }
        let mut last = 0;
        for batch in batches.drain(..) {
            last = batch.seq;
            let commit = match (batch.commit, &synced) {
                (Ok(()), Err(e)) => Err(StoreError::Unavailable(format!(
                    "the commit could not be synced to disk: {e}"
                ))),
                (commit, _) => commit,
            };
            for f in batch.done {
                f.finish(&commit);
            }
        }
        durability.durable.send_replace(last);
    }
    // The writer is gone (the store is closing, or its thread died): no commit will follow, and no
    // read may wait for one that never gets its fsync.
    durability.durable.send_replace(u64::MAX);
}

/// `fdatasync` of the database file or its WAL. The WAL exists from the first commit on and, while
/// the store holds its connections, is never deleted (only truncated or overwritten in place), so
/// one handle serves for good.
fn sync_file(file: &mut Option<std::fs::File>, path: &Path) -> std::io::Result<()> {
    if file.is_none() {
        *file = Some(std::fs::OpenOptions::new().write(true).open(path)?);
    }
    match file {
        Some(f) => f.sync_data(),
        None => Ok(()),
    }
}

/// Copies committed WAL frames into the database file in the background (PASSIVE: never waits for,
/// nor blocks, the writer or the readers), every [`CHECKPOINT_EVERY`] while the writer keeps up.
///
/// A checkpoint's writes and its fsync of the database file share the disk with the syncer's WAL
/// fsync, which every answer waits for: while the writer is saturated (large group commits)
/// checkpoints wait, and the WAL absorbs the burst, up to [`WAL_LIMIT`].
///
/// The WAL only starts over from its beginning when a write begins while every frame has been
/// copied, a moment steady group commits seldom leave (the soak, docs/reliability.md, saw it reach
/// 3.5 GB). So past [`WAL_SOFT_LIMIT`] (or [`WAL_LIMIT`] under saturation) of frames in use, the
/// checkpointer copies until little is left, fsyncs the database file (SQLite only does so after
/// a pass that caught up with the writer, which a busy writer never allows), and the writer then
/// restarts the WAL between two batches: a few milliseconds instead of the ~200 ms that copying,
/// flushing and truncating a 256 MiB WAL took inside the writer (docs/benchmarks.md).
fn spawn_checkpointer(
    conn: Connection,
    db: PathBuf,
    pacing: Arc<WalPacing>,
    alive: std::sync::Weak<()>,
) -> Result<(), StoreError> {
    // Returns how many frames are left to copy.
    let checkpoint = move |conn: &Connection| -> i64 {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok(r.get::<_, i64>(1)? - r.get::<_, i64>(2)?)
        }) {
            Ok(left) => left,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; it will be retried");
                i64::MAX
            }
        }
    };
    std::thread::Builder::new()
        .name("hubhook-sqlite-checkpoint".into())
        .spawn(move || {
            let (mut batches, mut jobs) = (0, 0);
            let mut db_file = None;
            let page_size: u64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap_or(4096);
            let frame_size = page_size + 24;
            while alive.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                let (b, j) = (
                    pacing.batches.load(Ordering::Relaxed),
                    pacing.jobs.load(Ordering::Relaxed),
                );
                let saturated = (j - jobs) >= SATURATED_BATCH * (b - batches).max(1);
                (batches, jobs) = (b, j);
                let size = pacing.frames.load(Ordering::Relaxed) * frame_size;
                let limit = if saturated { WAL_LIMIT } else { WAL_SOFT_LIMIT };
                if size > limit {
                    // The writer's restart copies whatever is left, while every request waits:
                    // copy here until little is (each pass copies what the last one's duration
                    // let the writer add, so the passes shrink fast).
                    let mut passes = 0;
                    while checkpoint(&conn) > RESTART_LEFT && passes < 8 {
                        passes += 1;
                    }
                    // SQLite fsyncs the database file only after a pass that caught up with the
                    // writer, which a busy writer never lets happen: the restart would then flush
                    // every page copied since, in the writer. Flush them here.
                    if let Err(e) = sync_file(&mut db_file, &db) {
                        tracing::warn!(
                            error = %e,
                            "database file sync failed; the WAL restart's checkpoint syncs it"
                        );
                    }
                    pacing.restart.store(true, Ordering::Relaxed);
                } else if !saturated {
                    checkpoint(&conn);
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpointer: {e}")))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------

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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
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

// ---------------------------------------------------------------------------------------------
// SQL, shared by the jobs above.

/// Runs `f` with the scope an owned hotel id (moved into a job) describes.
fn with_scope<R>(hotel: &Option<String>, f: impl FnOnce(Scope<'_>) -> R) -> R {
    match hotel {
        Some(h) => f(Scope::Hotel(h)),
        None => f(Scope::Any),
    }
}

const TASK_COLS: &str =
    "id, external_id, task_name, room, guest_name, quantity, status, due_at, created_at";

fn status_from(raw: &str) -> rusqlite::Result<TaskStatus> {
    TaskStatus::parse(raw).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown task status {raw:?}").into(),
        )
    })
}

fn task_from_row(r: &Row<'_>) -> rusqlite::Result<Task> {
    let status: String = r.get(6)?;
    Ok(Task {
        id: r.get(0)?,
        external_id: r.get(1)?,
        task_name: r.get(2)?,
        room: r.get(3)?,
        guest_name: r.get(4)?,
        quantity: r.get(5)?,
        status: status_from(&status)?,
        due_at: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn hotel_exists(conn: &Connection, hotel: &str) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1 FROM hotels WHERE id = ?1")?
        .query_row([hotel], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn task_by_id(conn: &Connection, hotel: &str, id: &str) -> Result<Option<Task>, StoreError> {
    let sql = format!("SELECT {TASK_COLS} FROM tasks WHERE hotel_id = ?1 AND id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([hotel, id], task_from_row)
        .optional()?)
}

fn order_tasks(conn: &Connection, hotel: &str, order_key: &str) -> Result<Vec<Task>, StoreError> {
    let mut stmt = conn.prepare_cached(hot::ORDER_TASKS)?;
    let rows = stmt.query_map([hotel, order_key], task_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn order_state(
    conn: &Connection,
    hotel: &str,
    order_key: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(hot::ORDER_STATE)?
        .query_row([hotel, order_key], |r| r.get(0))
        .optional()?)
}

fn insert_order(
    conn: &Connection,
    hotel: &str,
    order_key: &str,
    plan_order_id: Option<&str>,
    reservation_id: Option<&str>,
    state: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_ORDER)?.execute(params![
        hotel,
        order_key,
        plan_order_id,
        reservation_id,
        state,
        now
    ])?;
    Ok(())
}

fn insert_event(
    conn: &Connection,
    task: &str,
    at: &str,
    actor: &str,
    from: Option<TaskStatus>,
    to: TaskStatus,
    note: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_EVENT)?.execute(params![
        task,
        at,
        actor,
        from.map(TaskStatus::as_str),
        to.as_str(),
        note
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_task(
    conn: &Connection,
    hotel: &str,
    order_key: Option<&str>,
    id: &str,
    d: &TaskDraft,
    actor: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_TASK)?.execute(params![
        id,
        hotel,
        order_key,
        d.item_key,
        d.order_id,
        d.reservation_id,
        d.external_id,
        d.task_name,
        d.room,
        d.guest_name,
        d.quantity,
        d.department,
        d.notes,
        d.language,
        d.requested_at.map(time::format),
        d.due_at.map(time::format),
        now,
    ])?;
    insert_event(conn, id, now, actor, None, TaskStatus::Open, None)?;
    Ok(())
}

fn load_context(
    conn: &Connection,
    hotel: &str,
    reservation: &str,
) -> Result<Option<ReservationFacts>, StoreError> {
    Ok(conn
        .prepare_cached(hot::LOAD_CONTEXT)?
        .query_row([hotel, reservation], |r| {
            Ok(ReservationFacts {
                reservation_id: Some(reservation.to_owned()),
                room_number: r.get(0)?,
                first_name: r.get(1)?,
                last_name: r.get(2)?,
                language: r.get(3)?,
                check_in: r.get(4)?,
                check_out: r.get(5)?,
            })
        })
        .optional()?)
}

/// Keeps what an event says about a reservation; a field it does not mention keeps its earlier value.
fn upsert_context(
    conn: &Connection,
    hotel: &str,
    f: &ContextWrite<'_>,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::UPSERT_CONTEXT)?.execute(params![
        hotel,
        f.reservation_id,
        f.room_number,
        f.first_name,
        f.last_name,
        f.language,
        f.check_in,
        f.check_out,
        now
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_inbound(
    conn: &Connection,
    hotel: &str,
    received_at: &str,
    event: Option<&str>,
    code: &str,
    details: &[String],
    task_ids: &[&str],
    body: &[u8],
    duration_us: u64,
) -> Result<(), StoreError> {
    let details = serde_json::to_string(details).unwrap_or_else(|_| "[]".into());
    let task_ids = serde_json::to_string(task_ids).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(hot::INSERT_INBOUND)?.execute(params![
        hotel,
        received_at,
        event,
        code,
        details,
        task_ids,
        // Bodies that parsed are valid UTF-8: the plain check is several times cheaper than the lossy
        // conversion's, on the writer thread that every request waits for.
        std::str::from_utf8(body)
            .map(std::borrow::Cow::Borrowed)
            .unwrap_or_else(|_| String::from_utf8_lossy(body)),
        duration_us as i64
    ])?;
    Ok(())
}

/// The webhook's transaction; also returns how many outbound deliveries it queued. It reads what the
/// settlement needs, and writes what it says (`intake::settle` decides).
fn ingest_tx(conn: &Connection, req: &IngestRequest) -> Result<(Ingested, usize), StoreError> {
    if hotels::hotel_version(conn, req.hotel.id.as_str())? != Some(req.cache_version) {
        return Ok((Ingested::Stale, 0));
    }
    let hotel = &*req.hotel;
    let hid = hotel.id.as_str();
    let state = match req.plan.state_key() {
        Some(key) => crate::store::order_state_from(order_state(conn, hid, key)?)?,
        None => None,
    };
    let reads = req.plan.reads(state);
    let read = OrderRead {
        state,
        tasks: match reads.tasks_of {
            Some(key) => order_tasks(conn, hid, key)?,
            None => Vec::new(),
        },
        context: match reads.context_of {
            Some(reservation) => load_context(conn, hid, reservation)?,
            None => None,
        },
    };
    let settled = intake::settle(&req.plan, hotel, read, time::now());
    let queued = apply(conn, hid, &settled)?;
    let outcome = settled.outcome;
    insert_inbound(
        conn,
        hid,
        &time::format(req.received_at),
        req.event.as_deref(),
        outcome.code(),
        outcome.details(),
        &outcome.task_ids(),
        &req.body,
        req.started.elapsed().as_micros() as u64,
    )?;
    Ok((Ingested::Done(outcome), queued))
}

/// Writes a settlement's rows (all but the inbound log's); returns the deliveries queued.
fn apply(conn: &Connection, hid: &str, s: &Settlement<'_>) -> Result<usize, StoreError> {
    let at = s.at.as_str();
    if let Some(o) = &s.order {
        insert_order(
            conn,
            hid,
            o.order_key,
            o.order_id,
            o.reservation_id,
            o.state.as_str(),
            at,
        )?;
    }
    let key = s.order.as_ref().map(|o| o.order_key);
    for (draft, task) in s.new_tasks() {
        insert_task(conn, hid, key, &task.id, draft, intake::ACTOR, at)?;
    }
    for m in &s.moves {
        conn.prepare_cached(hot::MOVE_TASK)?
            .execute([&m.task_id, at, m.to.as_str()])?;
    }
    for line in s.moves.iter().chain(&s.notes) {
        insert_event(
            conn,
            &line.task_id,
            at,
            intake::ACTOR,
            Some(line.from),
            line.to,
            Some(line.note),
        )?;
    }
    let mut queued = 0;
    for (task, raised) in s.deliveries() {
        queued += outbox::enqueue(conn, hid, task, crate::store::raised_events(raised), at)?;
    }
    if let Some(c) = &s.context {
        upsert_context(conn, hid, c, at)?;
    }
    Ok(queued)
}

fn change(hotel: &HotelId, t: &Task, kind: ChangeKind) -> TaskChange {
    TaskChange {
        hotel: hotel.clone(),
        task_id: t.id.clone(),
        status: t.status,
        kind,
    }
}

fn inbound_from_row(r: &Row<'_>) -> rusqlite::Result<InboundEntry> {
    let details: String = r.get(4)?;
    let task_ids: String = r.get(5)?;
    let micros: i64 = r.get(6)?;
    Ok(InboundEntry {
        id: r.get(0)?,
        received_at: r.get(1)?,
        event: r.get(2)?,
        code: r.get(3)?,
        details: serde_json::from_str(&details).unwrap_or_default(),
        task_ids: serde_json::from_str(&task_ids).unwrap_or_default(),
        duration_ms: micros as f64 / 1000.0,
        body: r.get(7)?,
    })
}

#[async_trait]
impl HotelStore for SqliteStore {
    async fn all_hotel_facts(&self) -> Result<Vec<HotelFacts>, StoreError> {
        self.read(hotels::all_hotel_facts).await
    }

    async fn hotel_facts(&self, id: &str) -> Result<Option<HotelFacts>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| hotels::hotel_facts(c, &id)).await
    }

    async fn hotel_version(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| hotels::hotel_version(c, &id)).await
    }

    async fn hotel_versions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(hotels::hotel_versions).await
    }

    fn config_changes(&self) -> tokio::sync::broadcast::Receiver<ConfigChange> {
        self.config.subscribe()
    }

    async fn create_hotel(&self, h: NewHotel) -> Result<(), StoreError> {
        self.write(move |c| {
            let now = time::format(time::now());
            let inserted = c
                .prepare_cached(
                    "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    h.id.as_str(),
                    h.name,
                    h.timezone,
                    &h.access_hash[..],
                    &h.password_hash[..],
                    now
                ])?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "hotel {} already exists",
                    h.id
                )));
            }
            let mut stmt = c.prepare_cached(
                "INSERT INTO catalog (hotel_id, external_id, name) VALUES (?1, ?2, ?3)",
            )?;
            for e in default_catalog() {
                stmt.execute(params![h.id.as_str(), e.external_id, e.name])?;
            }
            Ok(h.id)
        })
        .await
        .map(|id| self.changed(&id, 1))
    }

    async fn list_hotels(&self) -> Result<Vec<HotelSummary>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT h.id, h.name, h.timezone, h.sync_paid_orders, h.created_at,
                        (SELECT count(*) FROM rooms r WHERE r.hotel_id = h.id)
                 FROM hotels h ORDER BY h.created_at, h.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HotelSummary {
                    hotel_id: r.get(0)?,
                    name: r.get(1)?,
                    timezone: r.get(2)?,
                    sync_paid_orders: r.get(3)?,
                    created_at: r.get(4)?,
                    rooms: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn set_tokens(
        &self,
        hotel: &HotelId,
        access_hash: [u8; 32],
        password_hash: [u8; 32],
    ) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE hotels SET access_hash = ?2, password_hash = ?3 WHERE id = ?1",
                )?
                .execute(params![
                    hotel.as_str(),
                    &access_hash[..],
                    &password_hash[..]
                ])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            hotels::bump_hotel(c, hotel.as_str()).map(|v| (hotel, v))
        })
        .await
        .map(|(hotel, v)| self.changed(&hotel, v))
    }

    async fn update_hotel(&self, hotel: &HotelId, s: HotelSettings) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            // A save that changes nothing leaves the version alone: nothing cached is outdated.
            let n = c
                .prepare_cached(
                    "UPDATE hotels SET name = coalesce(?2, name), timezone = coalesce(?3, timezone),
                         sync_paid_orders = coalesce(?4, sync_paid_orders),
                         config_version = config_version + 1
                     WHERE id = ?1 AND (name IS NOT coalesce(?2, name)
                         OR timezone IS NOT coalesce(?3, timezone)
                         OR sync_paid_orders IS NOT coalesce(?4, sync_paid_orders))
                     RETURNING config_version",
                )?
                .query_row(
                    params![hotel.as_str(), s.name, s.timezone, s.sync_paid_orders],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?;
            match n {
                Some(v) => Ok(Some((hotel, v as u64))),
                None => hotel_exists(c, hotel.as_str()).map(|()| None),
            }
        })
        .await
        .map(|changed| {
            if let Some((hotel, v)) = changed {
                self.changed(&hotel, v);
            }
        })
    }

    async fn add_rooms(&self, hotel: &HotelId, rooms: Vec<Room>) -> Result<u64, StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            hotel_exists(c, hotel.as_str())?;
            let mut added = 0;
            for room in &rooms {
                let n = c
                    .prepare_cached(
                        "INSERT INTO rooms (hotel_id, number, floor) VALUES (?1, ?2, ?3)
                         ON CONFLICT (hotel_id, number) DO NOTHING",
                    )?
                    .execute(params![hotel.as_str(), room.room, room.floor])?;
                added += n as u64;
                if n == 0 && room.floor.is_some() {
                    c.prepare_cached(
                        "UPDATE rooms SET floor = ?3 WHERE hotel_id = ?1 AND number = ?2",
                    )?
                    .execute(params![
                        hotel.as_str(),
                        room.room,
                        room.floor
                    ])?;
                }
            }
            // Only new rooms change what the cache knows (it keeps no floors).
            let version = match added {
                0 => None,
                _ => Some(hotels::bump_hotel(c, hotel.as_str())?),
            };
            Ok((added, version, hotel))
        })
        .await
        .map(|(added, version, hotel)| {
            if let Some(v) = version {
                self.changed(&hotel, v);
            }
            added
        })
    }

    async fn list_rooms(&self, hotel: &HotelId) -> Result<Vec<Room>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            hotel_exists(c, hotel.as_str())?;
            let mut stmt = c.prepare_cached(
                "SELECT number, floor FROM rooms WHERE hotel_id = ?1
                 ORDER BY length(number), number",
            )?;
            let rows = stmt.query_map([hotel.as_str()], |r| {
                Ok(Room {
                    room: r.get(0)?,
                    floor: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn list_catalog(&self, hotel: &HotelId) -> Result<Vec<CatalogEntry>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            hotel_exists(c, hotel.as_str())?;
            let mut stmt = c.prepare_cached(
                "SELECT external_id, name, department, sla_minutes FROM catalog WHERE hotel_id = ?1
                 ORDER BY length(external_id), external_id",
            )?;
            let rows = stmt.query_map([hotel.as_str()], |r| {
                Ok(CatalogEntry {
                    external_id: r.get(0)?,
                    name: r.get(1)?,
                    department: r.get(2)?,
                    sla_minutes: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn set_catalog(&self, hotel: &HotelId, e: CatalogEntry) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            hotel_exists(c, hotel.as_str())?;
            c.prepare_cached(
                "INSERT INTO catalog (hotel_id, external_id, name, department, sla_minutes)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (hotel_id, external_id) DO UPDATE SET name = excluded.name,
                     department = coalesce(excluded.department, department),
                     sla_minutes = coalesce(excluded.sla_minutes, sla_minutes)",
            )?
            .execute(params![
                hotel.as_str(),
                e.external_id,
                e.name,
                e.department,
                e.sla_minutes
            ])?;
            hotels::bump_hotel(c, hotel.as_str()).map(|v| (hotel, v))
        })
        .await
        .map(|(hotel, v)| self.changed(&hotel, v))
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn ingest(&self, req: IngestRequest) -> Result<Ingested, StoreError> {
        let hotel = req.hotel.clone();
        let (done, queued) = self.write_repeatable(move |c| ingest_tx(c, &req)).await?;
        self.queued(queued);
        // `write` answers only after the commit: what is published here is durable. Publishing
        // costs nothing (no allocation) while no board is listening.
        let id = &hotel.id;
        match &done {
            Ingested::Done(Outcome::Created { tasks, .. }) => self
                .events
                .publish(tasks.iter().map(|t| change(id, t, ChangeKind::Created))),
            Ingested::Done(Outcome::Cancelled { tasks }) => self.events.publish(
                tasks
                    .iter()
                    .filter(|t| t.status == TaskStatus::Cancelled)
                    .map(|t| change(id, t, ChangeKind::StatusChanged)),
            ),
            _ => {}
        }
        Ok(done)
    }

    async fn record_refusal(&self, r: Refused) -> Result<(), StoreError> {
        self.write(move |c| {
            insert_inbound(
                c,
                r.hotel.as_str(),
                &time::format(r.received_at),
                r.event.as_deref(),
                r.code,
                &r.details,
                &[],
                b"",
                r.started.elapsed().as_micros() as u64,
            )
        })
        .await
    }

    async fn list_tasks(
        &self,
        hotel: &HotelId,
        f: TaskFilter,
    ) -> Result<(Vec<Task>, Option<i64>), StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let sql = format!(
                "SELECT {TASK_COLS}, seq FROM tasks
                 WHERE hotel_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR room = ?3)
                   AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR seq < ?5)
                 ORDER BY seq DESC LIMIT ?6"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    hotel.as_str(),
                    f.status.map(TaskStatus::as_str),
                    f.room,
                    f.since,
                    f.cursor,
                    i64::from(f.limit) + 1
                ],
                |r| Ok((task_from_row(r)?, r.get::<_, i64>(9)?)),
            )?;
            let mut page: Vec<(Task, i64)> = rows.collect::<Result<_, _>>()?;
            let next = if page.len() > f.limit as usize {
                page.truncate(f.limit as usize);
                page.last().map(|(_, seq)| *seq)
            } else {
                None
            };
            Ok((page.into_iter().map(|(t, _)| t).collect(), next))
        })
        .await
    }

    async fn task_detail(
        &self,
        hotel: &HotelId,
        id: &str,
    ) -> Result<Option<TaskDetail>, StoreError> {
        let hotel = hotel.clone();
        let id = id.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {TASK_COLS}, order_id, reservation_id, department, notes, language,
                        requested_at, updated_at
                 FROM tasks WHERE hotel_id = ?1 AND id = ?2"
            );
            let detail = c
                .prepare_cached(&sql)?
                .query_row([hotel.as_str(), &id], |r| {
                    Ok(TaskDetail {
                        task: task_from_row(r)?,
                        order_id: r.get(9)?,
                        reservation_id: r.get(10)?,
                        department: r.get(11)?,
                        notes: r.get(12)?,
                        language: r.get(13)?,
                        requested_at: r.get(14)?,
                        updated_at: r.get(15)?,
                        events: Vec::new(),
                    })
                })
                .optional()?;
            let Some(mut detail) = detail else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(
                "SELECT at, actor, from_status, to_status, note FROM task_events
                 WHERE task_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([&id], |r| {
                let from: Option<String> = r.get(2)?;
                let to: String = r.get(3)?;
                Ok(TaskEvent {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    from: from.as_deref().map(status_from).transpose()?,
                    to: status_from(&to)?,
                    note: r.get(4)?,
                })
            })?;
            detail.events = rows.collect::<Result<_, _>>()?;
            Ok(Some(detail))
        })
        .await
    }

    async fn create_task(
        &self,
        hotel: HotelId,
        cache_version: u64,
        draft: TaskDraft,
        actor: String,
    ) -> Result<Option<Task>, StoreError> {
        let created = self
            .write(move |c| {
                if hotels::hotel_version(c, hotel.as_str())? != Some(cache_version) {
                    return Ok(None);
                }
                let now = time::format(time::now());
                let id = TaskId::generate().into_string();
                insert_task(c, hotel.as_str(), None, &id, &draft, &actor, &now)?;
                let task = draft.to_task(id, now.clone());
                let queued =
                    outbox::enqueue(c, hotel.as_str(), &task, &[EventType::Created], &now)?;
                Ok(Some((hotel, task, queued)))
            })
            .await?;
        Ok(created.map(|(hotel, task, queued)| {
            self.queued(queued);
            self.events
                .publish([change(&hotel, &task, ChangeKind::Created)]);
            task
        }))
    }

    async fn move_task(&self, ch: StatusChange) -> Result<Task, StoreError> {
        let hotel = ch.hotel.clone();
        let (task, queued) = self
            .write(move |c| {
                let hotel = ch.hotel.as_str();
                let task = task_by_id(c, hotel, &ch.task)?.ok_or(StoreError::NotFound)?;
                task.status.check_move(ch.to)?;
                let now = time::format(time::now());
                c.prepare_cached("UPDATE tasks SET status = ?2, updated_at = ?3 WHERE id = ?1")?
                    .execute([&task.id, ch.to.as_str(), &now])?;
                insert_event(
                    c,
                    &task.id,
                    &now,
                    &ch.actor,
                    Some(task.status),
                    ch.to,
                    ch.note.as_deref(),
                )?;
                let task = Task {
                    status: ch.to,
                    ..task
                };
                let queued = outbox::enqueue(c, hotel, &task, EventType::for_move(ch.to), &now)?;
                Ok((task, queued))
            })
            .await?;
        self.queued(queued);
        self.events
            .publish([change(&hotel, &task, ChangeKind::StatusChanged)]);
        Ok(task)
    }

    async fn list_inbound(
        &self,
        hotel: &HotelId,
        limit: u32,
    ) -> Result<Vec<InboundEntry>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, received_at, event, code, details, task_ids, duration_us, body
                 FROM inbound WHERE hotel_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![hotel.as_str(), limit], inbound_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn board_tasks(
        &self,
        hotel: &HotelId,
        finished_since: jiff::Timestamp,
    ) -> Result<Vec<BoardTask>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let sql = "SELECT t.id, t.external_id, t.task_name, t.room, t.guest_name, t.quantity,
                        t.status, t.due_at, t.created_at, t.department, r.floor, t.requested_at,
                        t.notes, t.updated_at
                 FROM tasks t LEFT JOIN rooms r ON r.hotel_id = t.hotel_id AND r.number = t.room
                 WHERE t.hotel_id = ?1
                   AND (t.status NOT IN ('done', 'cancelled') OR t.updated_at >= ?2)
                 ORDER BY t.seq";
            let mut stmt = c.prepare_cached(sql)?;
            let rows =
                stmt.query_map(params![hotel.as_str(), time::format(finished_since)], |r| {
                    Ok(BoardTask {
                        task: task_from_row(r)?,
                        department: r.get(9)?,
                        floor: r.get(10)?,
                        requested_at: r.get(11)?,
                        notes: r.get(12)?,
                        updated_at: r.get(13)?,
                    })
                })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn task_timings(
        &self,
        hotel: &HotelId,
        since: jiff::Timestamp,
    ) -> Result<Vec<TaskTiming>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT t.task_name, t.status, t.created_at, t.due_at,
                        (SELECT min(e.at) FROM task_events e
                         WHERE e.task_id = t.id AND e.to_status = 'done')
                 FROM tasks t WHERE t.hotel_id = ?1 AND t.created_at >= ?2 ORDER BY t.seq",
            )?;
            let rows = stmt.query_map(params![hotel.as_str(), time::format(since)], |r| {
                let status: String = r.get(1)?;
                Ok(TaskTiming {
                    task_name: r.get(0)?,
                    status: status_from(&status)?,
                    created_at: r.get(2)?,
                    due_at: r.get(3)?,
                    done_at: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn task_origin(
        &self,
        hotel: &HotelId,
        task_id: &str,
    ) -> Result<Option<InboundEntry>, StoreError> {
        let hotel = hotel.clone();
        // Task ids are UUIDs (checked by the caller), so the pattern holds no LIKE wildcard. The
        // log has no index on task ids: the scan runs newest first, so the recent tasks people open
        // cost a short scan; an old task's page reads the hotel's log back to it.
        let pattern = format!("%\"{task_id}\"%");
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT seq, received_at, event, code, details, task_ids, duration_us, body
                 FROM inbound WHERE hotel_id = ?1 AND code = 'created' AND task_ids LIKE ?2
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![hotel.as_str(), pattern], inbound_from_row)
            .optional()?)
        })
        .await
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |c| {
            hotel_exists(c, key.hotel_id.as_str())?;
            c.prepare_cached(
                "INSERT INTO api_keys (id, hotel_id, hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                key.id,
                key.hotel_id.as_str(),
                &hash[..],
                key.role.as_str(),
                time::format(time::now())
            ])?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        self.read(move |c| {
            let row: Option<(String, String, String)> = c
                .prepare_cached("SELECT id, hotel_id, role FROM api_keys WHERE hash = ?1")?
                .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            Ok(row.and_then(|(id, hotel, role)| {
                Some(ApiKey {
                    id,
                    hotel_id: HotelId::parse(&hotel).ok()?,
                    role: Role::parse(&role)?,
                })
            }))
        })
        .await
    }

    async fn create_user(&self, u: NewUser) -> Result<(), StoreError> {
        self.write(move |c| {
            hotel_exists(c, u.hotel.as_str())?;
            let inserted = c
                .prepare_cached(
                    "INSERT INTO users (id, hotel_id, email, role, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
                )?
                .execute(params![
                    u.id,
                    u.hotel.as_str(),
                    u.email,
                    u.role.as_str(),
                    u.password_hash,
                    time::format(time::now())
                ])?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "an account with the email {} already exists",
                    u.email
                )));
            }
            Ok(())
        })
        .await
    }

    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_owned();
        self.read(move |c| {
            let row: Option<(String, String, String, String, String)> = c
                .prepare_cached(
                    "SELECT id, hotel_id, email, role, password_hash FROM users WHERE email = ?1",
                )?
                .query_row([&email], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            Ok(row.and_then(|(id, hotel, email, role, password_hash)| {
                Some(User {
                    id,
                    hotel: HotelId::parse(&hotel).ok()?,
                    email,
                    role: Role::parse(&role)?,
                    password_hash,
                })
            }))
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |c| {
            let now = time::format(time::now());
            c.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([&now])?;
            c.prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &token_hash[..],
                user_id,
                now,
                time::format(expires_at)
            ])?;
            Ok(())
        })
        .await
    }

    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: jiff::Timestamp,
    ) -> Result<Option<SessionUser>, StoreError> {
        self.read(move |c| {
            let row: Option<(String, String, String, String)> = c
                .prepare_cached(
                    "SELECT u.id, u.email, u.hotel_id, u.role FROM sessions s
                     JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                )?
                .query_row(params![&token_hash[..], time::format(now)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            Ok(row.and_then(|(user_id, email, hotel, role)| {
                Some(SessionUser {
                    user_id,
                    email,
                    hotel: HotelId::parse(&hotel).ok()?,
                    role: Role::parse(&role)?,
                })
            }))
        })
        .await
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([&token_hash[..]])?;
            Ok(())
        })
        .await
    }

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, role, created_at FROM api_keys WHERE hotel_id = ?1 ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map([hotel.as_str()], |r| {
                let role: String = r.get(1)?;
                Ok((r.get::<_, String>(0)?, role, r.get::<_, String>(2)?))
            })?;
            let mut keys = Vec::new();
            for row in rows {
                let (id, role, created_at) = row?;
                if let Some(role) = Role::parse(&role) {
                    keys.push(ApiKeyInfo {
                        id,
                        role,
                        created_at,
                    });
                }
            }
            Ok(keys)
        })
        .await
    }

    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        let id = id.to_owned();
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM api_keys WHERE hotel_id = ?1 AND id = ?2")?
                .execute([hotel.as_str(), &id])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    async fn create_subscription(&self, sub: NewSubscription) -> Result<Subscription, StoreError> {
        self.write(move |c| {
            hotel_exists(c, sub.hotel.as_str())?;
            let now = time::format(time::now());
            outbox::insert_subscription(
                c,
                &sub,
                &crate::domain::outbound::new_subscription_id(),
                &now,
            )
        })
        .await
    }

    async fn list_subscriptions(&self, scope: Scope<'_>) -> Result<Vec<Subscription>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        self.read(move |c| with_scope(&hotel, |s| outbox::list_subscriptions(c, s)))
            .await
    }

    async fn remove_subscription(&self, scope: Scope<'_>, id: &str) -> Result<(), StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        self.write(move |c| {
            let now = time::format(time::now());
            with_scope(&hotel, |s| outbox::remove_subscription(c, s, &id, &now))
        })
        .await
    }

    async fn rotate_secret(
        &self,
        scope: Scope<'_>,
        id: &str,
        secret: String,
        keep_old_until: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        self.write(move |c| {
            let until = time::format(keep_old_until);
            with_scope(&hotel, |s| {
                outbox::rotate_secret(c, s, &id, &secret, &until)
            })
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.write(move |c| {
            let now = time::now();
            let until = now
                .checked_add(jiff::SignedDuration::try_from(lease).unwrap_or_default())
                .unwrap_or(now);
            outbox::claim(c, &time::format(now), &time::format(until), limit)
        })
        .await
    }

    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        self.write(move |c| outbox::record(c, &attempt)).await
    }

    async fn release_claims(&self, ids: Vec<String>) -> Result<(), StoreError> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE deliveries SET claimed_until = NULL WHERE id = ?1 AND status = 'pending'",
            )?;
            for id in &ids {
                stmt.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self,
        scope: Scope<'_>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        self.read(move |c| with_scope(&hotel, |s| outbox::list_deliveries(c, s, status, limit)))
            .await
    }

    async fn delivery(&self, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        self.read(move |c| with_scope(&hotel, |s| outbox::delivery(c, s, &id)))
            .await
    }

    async fn replay_delivery(&self, scope: Scope<'_>, id: &str) -> Result<Delivery, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        let d = self
            .write(move |c| {
                let now = time::format(time::now());
                with_scope(&hotel, |s| outbox::replay(c, s, &id, &now))
            })
            .await?;
        self.queued(1);
        Ok(d)
    }

    async fn raise_overdue(&self, limit: u32) -> Result<u32, StoreError> {
        let (n, queued) = self
            .write(move |c| outbox::raise_overdue(c, &time::format(time::now()), limit))
            .await?;
        self.queued(queued);
        Ok(n)
    }

    async fn next_outbox_work(&self) -> Result<Option<Timestamp>, StoreError> {
        let next = self.read(outbox::next_work).await?;
        Ok(next.and_then(|t| time::parse_instant(&t)))
    }
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn prune_inbound(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        // One small job through the writer like any other: a batch never holds it for long.
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM inbound WHERE seq IN (
                         SELECT seq FROM inbound WHERE received_at < ?1
                         ORDER BY received_at LIMIT ?2)",
                )?
                .execute(params![time::format(before), limit])?;
            Ok(n as u64)
        })
        .await
    }

    async fn prune_attempts(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM delivery_attempts WHERE seq IN (
                         SELECT a.seq FROM delivery_attempts a
                         WHERE a.at < ?1 AND NOT EXISTS (
                             SELECT 1 FROM deliveries d
                             WHERE d.id = a.delivery_id AND d.status = 'pending')
                         ORDER BY a.at LIMIT ?2)",
                )?
                .execute(params![time::format(before), limit])?;
            Ok(n as u64)
        })
        .await
    }
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

#[cfg(test)]
mod tests {
    //! The writer's batches on a real database file: what one request's failure or panic leaves of
    //! the others queued with it.

    use std::time::Duration;

    use super::*;

    fn insert(c: &Connection, key: &str) -> Result<(), StoreError> {
        c.execute("INSERT INTO meta (key, value) VALUES (?1, 1)", [key])?;
        Ok(())
    }

    fn keys(path: &Path) -> Vec<String> {
        let c = Connection::open(path).expect("open");
        let mut stmt = c
            .prepare("SELECT key FROM meta WHERE key LIKE 't%' ORDER BY key")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    type Held = (
        tempfile::TempDir,
        PathBuf,
        Arc<SqliteStore>,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    );

    /// A store on a fresh file whose writer is held busy for a moment, so that everything queued
    /// meanwhile forms one batch (the handle ends when the hold does).
    async fn held_store() -> Held {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        let store = Arc::new(SqliteStore::open(&path).expect("open"));
        let s = store.clone();
        let hold = tokio::spawn(async move {
            s.write(|_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        (dir, path, store, hold)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_repeatable_job_is_rolled_back_alone() {
        let (_dir, path, store, hold) = held_store().await;
        let s = store.clone();
        let first = tokio::spawn(async move { s.write_repeatable(|c| insert(c, "t1")).await });
        let s = store.clone();
        // Writes, then fails: its row must not survive, and neither may the batch's others be lost.
        let failing = tokio::spawn(async move {
            s.write_repeatable(|c| {
                insert(c, "t2")?;
                insert(c, "t2")
            })
            .await
        });
        let s = store.clone();
        let once = tokio::spawn(async move { s.write(|c| insert(c, "t3")).await });
        let s = store.clone();
        let last = tokio::spawn(async move { s.write_repeatable(|c| insert(c, "t4")).await });
        hold.await.expect("join").expect("hold");
        first.await.expect("join").expect("t1 committed");
        assert!(
            failing.await.expect("join").is_err(),
            "the failing job gets its error"
        );
        once.await.expect("join").expect("t3 committed");
        last.await.expect("join").expect("t4 committed");
        assert_eq!(keys(&path), ["t1", "t3", "t4"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_repeatable_job_leaves_the_batch_and_the_writer_working() {
        let (_dir, path, store, hold) = held_store().await;
        let s = store.clone();
        let panics = tokio::spawn(async move {
            s.write_repeatable(|c| -> Result<(), StoreError> {
                insert(c, "t1")?;
                panic!("a bug in one request's work")
            })
            .await
        });
        let s = store.clone();
        let other = tokio::spawn(async move { s.write_repeatable(|c| insert(c, "t2")).await });
        hold.await.expect("join").expect("hold");
        assert!(matches!(
            panics.await.expect("join"),
            Err(StoreError::Unavailable(_))
        ));
        other.await.expect("join").expect("t2 committed");
        store
            .write_repeatable(|c| insert(c, "t3"))
            .await
            .expect("the writer still works");
        assert_eq!(keys(&path), ["t2", "t3"]);
    }
}
