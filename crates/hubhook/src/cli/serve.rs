//! `hubhook serve`: run the HTTP service until SIGINT or SIGTERM.

use clap::Args;

use super::Ctx;
use crate::{Application, config::Config, telemetry};

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
}

pub async fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(
        args.listen,
        Some(ctx.database_url().to_owned()),
        args.body_limit,
        args.log_format,
        &ctx.file,
    )?;
    telemetry::init_logging(config.log_format);
    let database = crate::store::display_url(&config.database_url);
    let app = Application::build(config).await?;
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
