//! `hubhook serve`: run the HTTP service until SIGINT or SIGTERM.

use clap::Args;

use super::Ctx;
use crate::{
    Application,
    config::{Config, OutboxSettings},
    telemetry,
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080)
    #[arg(long, env = "HUBHOOK_LISTEN")]
    pub listen: Option<String>,
    /// Largest accepted webhook body in bytes (default 1048576)
    #[arg(long, env = "HUBHOOK_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// text or json
    #[arg(long, env = "HUBHOOK_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Delays between outbound delivery attempts (default 5s,5m,30m,2h,5h,10h,10h)
    #[arg(long, env = "HUBHOOK_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,
    /// Timeout of one delivery attempt (default 15s)
    #[arg(long, env = "HUBHOOK_OUTBOX_TIMEOUT")]
    pub outbox_timeout: Option<String>,
    /// Deliveries attempted at once (default 64)
    #[arg(long, env = "HUBHOOK_OUTBOX_MAX_IN_FLIGHT")]
    pub outbox_max_in_flight: Option<usize>,
    /// Comma-separated address ranges deliveries may not reach (default: none)
    #[arg(long, env = "HUBHOOK_OUTBOUND_DENY")]
    pub outbound_deny: Option<String>,
    /// Mark session cookies Secure (hubhook is reached over HTTPS through a proxy)
    #[arg(long, env = "HUBHOOK_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

pub async fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::resolve(
        args.listen,
        Some(ctx.database_url().to_owned()),
        args.body_limit,
        args.log_format,
        &ctx.file,
    )?;
    config.outbox = OutboxSettings {
        retry_schedule: args.retry_schedule,
        timeout: args.outbox_timeout,
        max_in_flight: args.outbox_max_in_flight,
        deny: args.outbound_deny,
    }
    .resolve(&ctx.file)?;
    config.secure_cookies |= args.secure_cookies;
    telemetry::init_logging(config.log_format);
    let database = crate::store::display_url(&config.database_url);
    let app = Application::build(config).await?;
    crate::memory::spawn_trimmer();
    tracing::info!(address = %app.local_addr()?, %database, "hubhook is listening");
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("hubhook stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
