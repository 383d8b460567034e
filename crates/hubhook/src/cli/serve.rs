//! `hubhook serve`: run the HTTP service until SIGINT or SIGTERM.

use clap::Args;

use super::Ctx;
use crate::{
    Application,
    config::{self, Config, HttpSettings, LimitSettings, OutboxSettings},
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
    /// Days the inbound log and delivery attempts are kept, or a duration such as 36h; 0 keeps
    /// them forever (default 30)
    #[arg(long, env = "HUBHOOK_RETENTION_DAYS")]
    pub retention_days: Option<String>,
    /// Webhooks per second from one client address; 0: no limit (default 200)
    #[arg(long, env = "HUBHOOK_WEBHOOK_IP_RATE")]
    pub webhook_ip_rate: Option<f64>,
    /// Webhooks one client address may send at once above its rate (default 1000)
    #[arg(long, env = "HUBHOOK_WEBHOOK_IP_BURST")]
    pub webhook_ip_burst: Option<u32>,
    /// Authenticated webhooks per second for one hotel; 0: no limit (default 20)
    #[arg(long, env = "HUBHOOK_WEBHOOK_HOTEL_RATE")]
    pub webhook_hotel_rate: Option<f64>,
    /// Authenticated webhooks one hotel may receive at once above its rate (default 200)
    #[arg(long, env = "HUBHOOK_WEBHOOK_HOTEL_BURST")]
    pub webhook_hotel_burst: Option<u32>,
    /// Failed webhook credentials from one address that block it for the window; 0: never (default 60)
    #[arg(long, env = "HUBHOOK_WEBHOOK_AUTH_FAILURES")]
    pub webhook_auth_failures: Option<u32>,
    /// The window of --webhook-auth-failures (default 1m)
    #[arg(long, env = "HUBHOOK_WEBHOOK_AUTH_WINDOW")]
    pub webhook_auth_window: Option<String>,
    /// Failed logins of one account that block it for the window; 0: never (default 5)
    #[arg(long, env = "HUBHOOK_LOGIN_ACCOUNT_FAILURES")]
    pub login_account_failures: Option<u32>,
    /// Failed logins from one address that block it for the window; 0: never (default 20)
    #[arg(long, env = "HUBHOOK_LOGIN_IP_FAILURES")]
    pub login_ip_failures: Option<u32>,
    /// The window of the login limits (default 15m)
    #[arg(long, env = "HUBHOOK_LOGIN_WINDOW")]
    pub login_window: Option<String>,
    /// Comma-separated proxy address ranges whose X-Forwarded-For is believed (default: none)
    #[arg(long, env = "HUBHOOK_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Time a client has to send a request's headers; also how long an idle connection stays open (default 10s)
    #[arg(long, env = "HUBHOOK_HEADER_TIMEOUT")]
    pub header_timeout: Option<String>,
    /// Time a client has to send a request's body after its headers (default 30s)
    #[arg(long, env = "HUBHOOK_BODY_TIMEOUT")]
    pub body_timeout: Option<String>,
    /// Connections served at once; more wait in the listen backlog (default 512)
    #[arg(long, env = "HUBHOOK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// On SIGTERM or SIGINT, how long requests in flight may take before they are dropped (default 10s)
    #[arg(long, env = "HUBHOOK_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
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
    config.retention = config::resolve_retention(args.retention_days, &ctx.file)?;
    config.limits = LimitSettings {
        webhook_ip_rate: args.webhook_ip_rate,
        webhook_ip_burst: args.webhook_ip_burst,
        webhook_hotel_rate: args.webhook_hotel_rate,
        webhook_hotel_burst: args.webhook_hotel_burst,
        webhook_auth_failures: args.webhook_auth_failures,
        webhook_auth_window: args.webhook_auth_window,
        login_account_failures: args.login_account_failures,
        login_ip_failures: args.login_ip_failures,
        login_window: args.login_window,
        trusted_proxies: args.trusted_proxies,
    }
    .resolve(&ctx.file)?;
    config.http = HttpSettings {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        max_connections: args.max_connections,
        shutdown_timeout: args.shutdown_timeout,
    }
    .resolve(&ctx.file)?;
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
}
