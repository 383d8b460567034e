//! Password checks and hashes (argon2id: about 19 MiB and tens of milliseconds each), bounded so
//! that no burst of logins can exhaust the server's memory or its async workers.
//!
//! - At most [`PasswordGate::permits`] run at once (one per core by default: argon2 is CPU-bound,
//!   more would only share the cores and multiply the memory), each on a blocking thread, never on
//!   an async worker.
//! - A few more may wait for a turn ([`PasswordGate::queue`], four per permit): a shift of staff
//!   signing in together waits a fraction of a second instead of being refused.
//! - Past that, the caller gets [`PasswordError::Busy`] at once (the page answers 503 with
//!   `Retry-After`), holding no memory: the queue never grows without bound.
//!
//! Peak memory of the checks is thus `permits × 19 MiB`, whatever the number of clients, accounts or
//! addresses (docs/security.md, "Login bursts and the login limiter").

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Semaphore;

/// Callers that may wait for a turn, per permit.
const QUEUE_PER_PERMIT: usize = 4;

/// Why a password operation did not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every permit is taken and the queue is full.
    #[error("too many password checks at once")]
    Busy,
    /// The blocking thread failed (it panicked, or the runtime is shutting down).
    #[error("password check failed: {0}")]
    Failed(String),
}

/// The bound on password checks in flight (see the module's documentation).
pub struct PasswordGate {
    permits: Arc<Semaphore>,
    size: usize,
    waiting: AtomicUsize,
    queue: usize,
}

/// Takes its place in the queue back when the waiting caller gets a permit or goes away.
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordGate {
    /// `permits` operations at once (at least one), `queue` more waiting.
    pub fn new(permits: usize, queue: usize) -> Self {
        let size = permits.max(1);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// One permit per core this process may use (`std::thread::available_parallelism`).
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, cores * QUEUE_PER_PERMIT)
    }

    /// How many operations run at once.
    pub fn permits(&self) -> usize {
        self.size
    }

    /// How many callers may wait for a turn.
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Runs `f` (a password check or hash) on a blocking thread once a permit is free; `Busy` at
    /// once when the queue is full. The permit is held until `f` returns, even if the caller has
    /// gone away meanwhile (a client that disconnects does not free a core that is still busy).
    pub async fn run<R, F>(&self, f: F) -> Result<R, PasswordError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(PasswordError::Busy);
                }
                let _in_line = InLine(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| PasswordError::Failed(e.to_string()))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let r = f();
            drop(permit);
            r
        })
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn runs_at_most_its_permits_queues_a_few_and_refuses_the_rest() {
        let gate = Arc::new(PasswordGate::new(1, 1));
        let (release, held) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        // The permit: busy until told.
        let first = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    let _ = started_tx.send(());
                    held.recv().ok();
                    1
                })
                .await
            }
        });
        started.await.unwrap();
        // The one place in the queue.
        let second = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(|| 2).await }
        });
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Nothing left: refused at once, without waiting.
        assert!(matches!(gate.run(|| 3).await, Err(PasswordError::Busy)));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(gate.run(|| 4).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_gives_its_place_in_the_queue_back() {
        let gate = Arc::new(PasswordGate::new(1, 1));
        let (release, held) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let first = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    let _ = started_tx.send(());
                    held.recv().ok();
                })
                .await
            }
        });
        started.await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(|| ()).await }
        });
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert!(gate.permits() == 1 && gate.queue() == 1);
    }
}
