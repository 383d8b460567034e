//! The `hubhook` binary: parses the command line and hands over to the library.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: hubhook::memory::Allocator = mimalloc::MiMalloc;

/// mimalloc's options, set before the first allocation (ELF constructors run before `main`).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static CONFIGURE_ALLOCATOR: extern "C" fn() = hubhook::memory::configure_allocator;

fn main() -> std::process::ExitCode {
    // Before the runtime starts its threads: the arena limit applies to threads made after it.
    hubhook::memory::limit_arenas();
    let cli = hubhook::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(hubhook::cli::run(cli));
    // A blocking task still running (a database read stuck on a lock) must not hold the exit:
    // `serve` has already drained what matters within its own bound.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<hubhook::cli::send::Silent>() => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
