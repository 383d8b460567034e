//! `hubhook catalog list|set`.

use clap::Subcommand;

use super::{Ctx, hotel_id, not_found};
use crate::domain::{CatalogEntry, ExternalId, default_catalog};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// A hotel's catalog; without a hotel, the default catalog every new hotel starts with
    List { hotel_id: Option<String> },
    /// Add or rename a service; department and SLA are kept when not given
    Set {
        hotel_id: String,
        external_id: String,
        name: String,
        #[arg(long)]
        department: Option<String>,
        /// Minutes from creation to due, when the guest asked for no time
        #[arg(long)]
        sla_minutes: Option<u32>,
    },
}

pub async fn run(ctx: &Ctx, cmd: CatalogCommand) -> anyhow::Result<()> {
    match cmd {
        CatalogCommand::List { hotel_id: None } => print(ctx, default_catalog().collect()),
        CatalogCommand::List { hotel_id: Some(h) } => {
            let id = hotel_id(&h)?;
            let entries = ctx
                .store()
                .await?
                .list_catalog(&id)
                .await
                .map_err(not_found(&id))?;
            print(ctx, entries)
        }
        CatalogCommand::Set {
            hotel_id: h,
            external_id,
            name,
            department,
            sla_minutes,
        } => {
            let id = hotel_id(&h)?;
            let ext = ExternalId::parse(&external_id)
                .map_err(|e| anyhow::anyhow!("invalid external id {external_id:?}: {e}"))?;
            let name = name.trim().to_owned();
            anyhow::ensure!(!name.is_empty(), "the service name is empty");
            let entry = CatalogEntry {
                external_id: ext.into_string(),
                name,
                department: department
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty()),
                sla_minutes,
            };
            ctx.store()
                .await?
                .set_catalog(&id, entry.clone())
                .await
                .map_err(not_found(&id))?;
            ctx.print(&entry, || {
                format!(
                    "Hotel {id}: external ID {} is now {:?}.",
                    entry.external_id, entry.name
                )
            })
        }
    }
}

fn print(ctx: &Ctx, entries: Vec<CatalogEntry>) -> anyhow::Result<()> {
    ctx.print(&entries, || {
        let mut out = format!(
            "{:<12} {:<24} {:<16} SLA",
            "EXTERNAL ID", "NAME", "DEPARTMENT"
        );
        for e in &entries {
            out.push_str(&format!(
                "\n{:<12} {:<24} {:<16} {}",
                e.external_id,
                e.name,
                e.department.as_deref().unwrap_or(""),
                e.sla_minutes
                    .map(|m| format!("{m} min"))
                    .unwrap_or_default()
            ));
        }
        out
    })
}
