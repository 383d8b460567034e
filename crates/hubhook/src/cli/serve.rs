//! `hubhook serve`: run the HTTP service until SIGINT or SIGTERM.

use clap::Args;

use super::Ctx;
use crate::{
    Application,
    config::{Config, ServeSettings},
    telemetry,
};

/// `hubhook serve`'s flags: every one is a setting (config/settings.rs).
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: ServeSettings,
}

pub async fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(ctx.globals.clone(), args.settings, &ctx.file)?;
    telemetry::init_logging(config.log_format);
    let database = crate::store::display_url(&config.database_url);
    let app = Application::build(config).await?;
    crate::memory::spawn_trimmer();
    tracing::info!(address = %app.local_addr()?, %database, "hubhook is listening");
    // A first run: the one place the setup link is shown (the log line and stderr, once).
    if let Some(link) = app.open_setup().await? {
        tracing::info!(%link, "no hotel yet: open the setup link to create the first one");
        eprintln!(
            "\nNo hotel yet. Open this link to set up hubhook (it works once):\n\n  {link}\n"
        );
    }
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::config::settings::{self, Scope};

    const BEGIN: &str =
        "<!-- settings-table: generated from crates/hubhook/src/config/settings.rs -->\n";
    const END: &str = "<!-- /settings-table -->";

    /// docs/operations.md's settings table is the declarations' (edit settings.rs, then paste the
    /// table this test prints).
    #[test]
    fn the_settings_table_in_the_docs_is_the_declarations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
        let doc = std::fs::read_to_string(path).expect("docs/operations.md");
        let start = doc.find(BEGIN).expect("the table's begin marker") + BEGIN.len();
        let end = start + doc[start..].find(END).expect("the table's end marker");
        let expected = settings::markdown_table();
        assert!(
            doc[start..end] == expected,
            "docs/operations.md's settings table differs from the declarations; it should read:\n\n{expected}"
        );
    }

    /// Every flag clap knows is declared with the environment variable the docs give it, and back.
    #[test]
    fn clap_has_exactly_the_declared_flags() {
        let cli = super::super::Cli::command();
        let serve = cli.find_subcommand("serve").expect("serve");
        // The global flags (`--database-url`) are the top command's, then `serve`'s own.
        let flags: Vec<(String, Option<String>)> = cli
            .get_arguments()
            .chain(serve.get_arguments())
            .filter(|a| a.get_long().is_some_and(|l| l != "config" && l != "json"))
            .map(|a| {
                let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
                (a.get_long().unwrap_or_default().to_owned(), env)
            })
            .collect();
        let declared: Vec<(String, Option<String>)> = settings::all()
            .filter(|s| matches!(s.scope, Scope::Global | Scope::Serve))
            .map(|s| (s.flag(), s.env.map(str::to_owned)))
            .collect();
        assert_eq!(flags, declared);
    }
}
