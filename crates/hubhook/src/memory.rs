//! Keeps a long-running server's resident memory at what it uses, on glibc.
//!
//! glibc's allocator gives each thread that allocates an arena of its own (up to eight per core)
//! and keeps freed memory inside them for reuse. A server whose work moves across tokio's workers
//! and blocking threads (SQLite readers) thus spreads its peaks over many arenas, each kept at its
//! own high-water mark: in the 30-minute soak (docs/reliability.md) the live heap stayed at 10-12 MB
//! while the arenas' footprint, hence RSS, kept creeping up. Two settings stop that:
//!
//! - [`limit_arenas`]: four arenas for the whole process (unless `MALLOC_ARENA_MAX` says otherwise);
//! - [`spawn_trimmer`]: every [`TRIM_EVERY`], free pages inside the arenas go back to the system
//!   (`malloc_trim`), off the request path;
//! - [`limit_arenas`] also fixes the size from which a block is mapped on its own
//!   ([`MMAP_THRESHOLD`]) and returned to the system when freed. glibc otherwise raises that size
//!   to the largest block freed so far (up to 32 MiB), after which the 19 MiB of every argon2
//!   password check (`http::passwords`) is served from, and kept in, whichever arena its thread
//!   uses: after a burst of logins each arena held one (docs/security.md).
//!
//! Elsewhere (musl, macOS) both do nothing.

use std::time::Duration;

/// Arenas for the process: two per core of the 2-core machines hubhook is sized for. The busy
/// threads (two tokio workers, the SQLite writer, its syncer and checkpointer) then rarely share one:
/// with two arenas they queued on the arena locks (at saturation, 4.5% of the server's CPU was
/// glibc's lock waking a waiter), and four gave 10% more throughput at the same idle RSS
/// (docs/benchmarks.md, 2026-12-04); the 30-minute soak still passes with four (docs/reliability.md).
const ARENAS: i32 = 4;
/// Blocks of this size or more are mapped on their own and unmapped when freed (a password check's
/// 19 MiB; no request's working memory comes near it).
pub const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;
/// How often freed memory is handed back. A trim walks the arenas (a few MB here) under their locks:
/// rare enough not to matter to a request.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Caps the allocator's arenas. Call before any thread is started (first thing in `main`). An
/// operator's `MALLOC_ARENA_MAX` wins.
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        imp::set_arena_max(ARENAS);
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        imp::set_mmap_threshold(MMAP_THRESHOLD);
    }
}

/// Starts a thread that hands free memory back to the system every [`TRIM_EVERY`].
pub fn spawn_trimmer() {
    if !imp::SUPPORTED {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("hubhook-malloc-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TRIM_EVERY);
                imp::trim();
            }
        });
    if let Err(e) = spawned {
        // Only memory footprint is at stake: run without it.
        tracing::warn!(error = %e, "cannot start the memory trimmer");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    pub const SUPPORTED: bool = true;

    pub fn set_arena_max(n: i32) {
        // SAFETY: mallopt only sets an allocator parameter; any value is accepted or refused (0).
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, n);
        }
    }

    pub fn set_mmap_threshold(bytes: i32) {
        // SAFETY: as above.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim takes the allocator's own locks and releases only free pages.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub const SUPPORTED: bool = false;
    pub fn set_arena_max(_: i32) {}
    pub fn set_mmap_threshold(_: i32) {}
    pub fn trim() {}
}
