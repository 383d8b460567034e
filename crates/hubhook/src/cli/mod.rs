//! The `hubhook` command line (CONTRACT.md section 2): one module per subcommand group.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::{
    config::{FileConfig, GlobalSettings, GlobalValues},
    domain::HotelId,
    store::{self, Store},
};

pub mod apikey;
pub mod catalog;
pub mod deliveries;
pub mod dry_run;
pub mod hotel;
pub mod inbound;
pub mod rooms;
pub mod send;
pub mod serve;
pub mod user;
pub mod webhooks;

#[derive(Debug, Parser)]
#[command(
    name = "hubhook",
    version,
    about = "Duve guest requests in, hotel staff tasks out"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: GlobalSettings,
    /// Settings file (default ./hubhook.toml when it exists)
    #[arg(long, env = "HUBHOOK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout and nothing else
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service
    // Boxed: its settings make it several times the size of every other command.
    Serve(Box<serve::ServeArgs>),
    /// Create, list and configure hotels
    #[command(subcommand)]
    Hotel(hotel::HotelCommand),
    /// Register a hotel's rooms
    #[command(subcommand)]
    Rooms(rooms::RoomsCommand),
    /// The service catalog: Duve external IDs to task types
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// API keys for the HTTP API
    #[command(subcommand)]
    Apikey(apikey::ApikeyCommand),
    /// Send a Duve-shaped webhook (for tests and demos)
    Send(send::SendArgs),
    /// Outbound subscriptions: signed webhooks and Duve Connect
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// The outbound delivery log, and replay
    #[command(subcommand)]
    Deliveries(deliveries::DeliveriesCommand),
    /// Accounts for the web pages
    #[command(subcommand)]
    User(user::UserCommand),
    /// What a Duve webhook body would do for a hotel; stores nothing
    DryRun(dry_run::DryRunArgs),
    /// The inbound webhook log: replay a refused delivery
    #[command(subcommand)]
    Inbound(inbound::InboundCommand),
}

/// What every command gets: where its output goes and how to reach the database.
pub struct Ctx {
    pub json: bool,
    pub file: FileConfig,
    /// The settings every command reads (database, subscriptions per hotel), resolved.
    pub globals: GlobalValues,
}

impl Ctx {
    pub async fn store(&self) -> anyhow::Result<Arc<dyn Store>> {
        store::open(&self.globals.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    store::display_url(&self.globals.database_url)
                )
            })
    }

    pub fn database_url(&self) -> &str {
        &self.globals.database_url
    }

    /// Prints `value` as the one JSON document, or `text` for people.
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            let t = text();
            if !t.is_empty() {
                println!("{t}");
            }
        }
        Ok(())
    }
}

pub fn hotel_id(raw: &str) -> anyhow::Result<HotelId> {
    HotelId::parse(raw).with_context(|| format!("invalid hotel id {raw:?}"))
}

/// Turns store errors into sentences that name what was asked for.
pub fn not_found(hotel: &HotelId) -> impl FnOnce(store::StoreError) -> anyhow::Error + '_ {
    move |e| match e {
        store::StoreError::NotFound => anyhow::anyhow!("no hotel {hotel}"),
        other => other.into(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = FileConfig::load(cli.config.as_deref())?;
    let ctx = Ctx {
        json: cli.json,
        globals: file.globals(cli.settings)?,
        file,
    };
    match cli.command {
        Command::Serve(args) => serve::run(&ctx, *args).await,
        Command::Hotel(cmd) => hotel::run(&ctx, cmd).await,
        Command::Rooms(cmd) => rooms::run(&ctx, cmd).await,
        Command::Catalog(cmd) => catalog::run(&ctx, cmd).await,
        Command::Apikey(cmd) => apikey::run(&ctx, cmd).await,
        Command::Send(args) => send::run(&ctx, args).await,
        Command::Webhooks(cmd) => webhooks::run(&ctx, cmd).await,
        Command::Deliveries(cmd) => deliveries::run(&ctx, cmd).await,
        Command::User(cmd) => user::run(&ctx, cmd).await,
        Command::DryRun(args) => dry_run::run(&ctx, args).await,
        Command::Inbound(cmd) => inbound::run(&ctx, cmd).await,
    }
}
