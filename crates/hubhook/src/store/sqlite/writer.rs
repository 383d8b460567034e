//! The SQLite store's writer: jobs run inside the batch's transaction (group commit), their replies
//! wait for its commit to be on disk (the syncer thread); the checkpointer copies the WAL into the
//! database file and paces it against a saturated writer (WAL restart).

use std::{
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{BUSY_TIMEOUT, WAL_LIMIT, WAL_SOFT_LIMIT};
use crate::store::StoreError;

/// Enough to amortise one fsync over a burst, small enough to keep one batch's latency low.
const MAX_BATCH: usize = 256;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Average requests per group commit from which the writer counts as saturated: checkpoints then
/// wait (see [`spawn_checkpointer`]).
const SATURATED_BATCH: u64 = 8;
/// Frames the checkpointer leaves for the writer's restart to copy (about 1 MiB).
const RESTART_LEFT: i64 = 256;

/// One request's work for the writer, run inside a batch's transaction.
pub(super) trait Job: Send {
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
    /// Answers the job with an error without running it.
    fn abort(self: Box<Self>, err: StoreError);
}

/// What a job that ran leaves to answer once its batch's commit is known.
pub(super) trait Finish: Send {
    /// Whether the job succeeded (a failed one is rolled back to its savepoint).
    fn ok(&self) -> bool;
    /// Answers the job once its batch's commit is known (a failed job keeps its own error).
    fn finish(self: Box<Self>, commit: &Result<(), StoreError>);
}

/// A job that runs once, inside a savepoint of its own.
pub(super) struct FnJob<F, R> {
    /// The work, run once inside the batch's transaction.
    pub(super) f: F,
    /// Where its answer goes, once the commit is on disk.
    pub(super) reply: oneshot::Sender<Result<R, StoreError>>,
}

/// A job that may run more than once (see [`Job::repeatable`]).
pub(super) struct RepeatJob<F, R> {
    /// The work, which may run again after a rollback.
    pub(super) f: F,
    /// Its latest result, answered once the commit is on disk.
    pub(super) result: Option<Result<R, StoreError>>,
    /// Where its answer goes.
    pub(super) reply: oneshot::Sender<Result<R, StoreError>>,
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
pub(super) struct WalPacing {
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
pub(super) struct Durability {
    /// The number of the latest commit the writer started (taken before its `COMMIT`).
    pub(super) committed: AtomicU64,
    /// Every commit up to this number is on disk.
    durable: tokio::sync::watch::Sender<u64>,
    /// An fsync of the WAL failed: what it covered may not be on disk, and on Linux a later fsync
    /// may succeed without having written it. The writer then refuses everything.
    failed: AtomicBool,
}

impl Durability {
    /// No commit yet, none failed.
    pub(super) fn new() -> Self {
        Self {
            committed: AtomicU64::new(0),
            durable: tokio::sync::watch::Sender::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Waits until every commit a read finished after may have shown is on disk.
    pub(super) async fn settle(&self, seen: u64) {
        if *self.durable.borrow() >= seen {
            return;
        }
        let mut durable = self.durable.subscribe();
        let _ = durable.wait_for(|d| *d >= seen).await;
    }
}

/// A committed batch on its way to the syncer: its jobs are answered once the WAL is synced.
pub(super) struct Committed {
    seq: u64,
    commit: Result<(), StoreError>,
    done: Vec<Box<dyn Finish>>,
}

/// The writer thread: takes what queued up, runs it as one batch, hands the commit to the syncer.
pub(super) fn writer_loop(
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
pub(super) fn sync_loop(
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
pub(super) fn spawn_checkpointer(
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

#[cfg(test)]
mod tests {
    //! The writer's batches on a real database file: what one request's failure or panic leaves of
    //! the others queued with it.

    use std::{
        path::{Path, PathBuf},
        sync::Arc,
        time::Duration,
    };

    use rusqlite::Connection;

    use super::super::SqliteStore;
    use crate::store::StoreError;

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
