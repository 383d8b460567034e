//! `hubhook deliveries list|replay`: the outbound delivery log.

use clap::Subcommand;

use super::{Ctx, hotel_id};
use crate::{
    outbox::DeliveryStatus,
    store::{Scope, StoreError},
};

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// A hotel's deliveries, newest first
    List {
        hotel_id: String,
        /// pending, delivered or failed
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send a delivery again from its first attempt (the running server picks it up)
    Replay { delivery_id: String },
}

pub async fn run(ctx: &Ctx, cmd: DeliveriesCommand) -> anyhow::Result<()> {
    match cmd {
        DeliveriesCommand::List {
            hotel_id: h,
            status,
            limit,
        } => {
            let id = hotel_id(&h)?;
            let status = status.as_deref().and_then(DeliveryStatus::parse);
            let list = ctx
                .store()
                .await?
                .list_deliveries(Scope::Hotel(id.as_str()), status, limit.clamp(1, 10_000))
                .await?;
            ctx.print(&list, || {
                if list.is_empty() {
                    return format!("No deliveries for hotel {id}.");
                }
                list.iter()
                    .map(|d| {
                        format!(
                            "{}  {}  {}  {} attempt(s)  {}{}",
                            d.id,
                            d.event,
                            d.status.as_str(),
                            d.attempts,
                            d.code.as_deref().unwrap_or(""),
                            d.message
                                .as_deref()
                                .map(|m| format!(" {m}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        DeliveriesCommand::Replay { delivery_id } => {
            let d = ctx
                .store()
                .await?
                .replay_delivery(Scope::Any, &delivery_id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => anyhow::anyhow!("no delivery {delivery_id}"),
                    other => other.into(),
                })?;
            ctx.print(&d, || {
                format!(
                    "Delivery {} queued again; a running `hubhook serve` sends it within a second.",
                    d.id
                )
            })
        }
    }
}
