//! Keeps a long-running server fast and its resident memory at what it uses.
//!
//! Two allocators serve the process. Rust's own allocations (requests, JSON, tasks, the outbox)
//! go to mimalloc 2 ([`Allocator`], the binary's `#[global_allocator]`): glibc's allocator, which
//! served them before, cost 12% of the server's CPU at saturation plus 7% in its arena locks
//! (a worker's buffer freed by the SQLite writer takes the lock of the arena it came from);
//! mimalloc frees such a block without a lock, and the durable ingest took 25-30% more webhooks per
//! second on the same two cores (docs/benchmarks.md, 2026-12-06).
//! [`configure_allocator`] keeps its idle footprint at glibc's: memory it takes from the system is
//! committed page by page as it is used, not in advance, and pages freed are handed back at once,
//! so an idle server holds what it uses (3.7 MB of anonymous memory after startup, against glibc's
//! 4.1 MB). An operator's `MIMALLOC_ARENA_EAGER_COMMIT` / `MIMALLOC_PURGE_DELAY` win.
//!
//! SQLite's C code still allocates through glibc, whose defaults suit a server badly:
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
//!   to the largest block freed so far (up to 32 MiB).
//!
//! Elsewhere (musl, macOS) the glibc settings do nothing.

use std::time::Duration;

/// The allocator of the `hubhook` binary's Rust allocations (its `#[global_allocator]`).
pub type Allocator = mimalloc::MiMalloc;

/// mimalloc's option numbers (`mi_option_e` in mimalloc 2's `mimalloc.h`; the crate versions are
/// pinned in Cargo.toml, and a unit test checks the numbers name the options meant).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's options: memory committed as it is used, freed pages handed back at once. Runs
/// before any Rust allocation (a constructor of the binary, `main.rs`), since mimalloc reserves its
/// first memory on the first one; it allocates nothing itself.
pub extern "C" fn configure_allocator() {
    for (option, env, value) in [
        (
            MI_OPTION_ARENA_EAGER_COMMIT,
            c"MIMALLOC_ARENA_EAGER_COMMIT",
            0,
        ),
        (MI_OPTION_PURGE_DELAY, c"MIMALLOC_PURGE_DELAY", 0),
    ] {
        // SAFETY: getenv reads the environment, which nothing writes during the process's
        // constructors; mi_option_set only stores a value.
        unsafe {
            if libc::getenv(env.as_ptr()).is_null() {
                libmimalloc_sys::mi_option_set(option, value);
            }
        }
    }
}

/// Arenas for the process: two per core of the 2-core machines hubhook is sized for. The busy
/// threads (two tokio workers, the SQLite writer, its syncer and checkpointer) then rarely share one:
/// with two arenas they queued on the arena locks (at saturation, 4.5% of the server's CPU was
/// glibc's lock waking a waiter), and four gave 10% more throughput at the same idle RSS
/// (docs/benchmarks.md, 2026-12-04); the 30-minute soak still passes with four (docs/reliability.md).
const ARENAS: i32 = 4;
/// glibc blocks of this size or more are mapped on their own and unmapped when freed (no SQLite
/// allocation comes near it; a password check's 19 MiB is a Rust allocation, served by mimalloc).
pub const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;
/// How often freed memory is handed back. A trim walks the arenas (a few MB here) under their locks:
/// rare enough not to matter to a request.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Caps glibc's arenas. Call before any thread is started (first thing in `main`). An
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

#[cfg(test)]
mod tests {
    use super::{MI_OPTION_ARENA_EAGER_COMMIT, MI_OPTION_PURGE_DELAY};

    /// The option numbers name the options meant: mimalloc's defaults for them (`options.c` of
    /// mimalloc 2) are 2 and 10, which their neighbours do not have (a renumbered enum fails here).
    #[test]
    fn the_option_numbers_name_the_options_meant() {
        // SAFETY: reads an option (the tests' own allocator is the system's, untouched by this).
        let (eager, delay) = unsafe {
            (
                libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            )
        };
        assert_eq!((eager, delay), (2, 10));
    }
}
