//! `hubhook webhooks add|list|remove|rotate-secret`: outbound subscriptions (CONTRACT.md section 4).

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, hotel_id, not_found};
use crate::{
    domain::time,
    http::outbound::ROTATION_OVERLAP,
    outbox::{SubscriptionRequest, check_subscription, sign},
    store::{Scope, StoreError},
};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe a URL to a hotel's task events; a signed webhook's secret is shown only now
    Add {
        hotel_id: String,
        #[arg(long)]
        url: String,
        /// Comma-separated: task.created, task.status_changed, task.completed, task.cancelled,
        /// task.overdue, task.escalated, task.assigned, task.merged, report.shift (default: every
        /// task.* event; for slack, task.created, task.status_changed, task.escalated, task.merged
        /// and report.shift)
        #[arg(long)]
        events: Option<String>,
        /// An extra header for every delivery, "Name: value" (repeatable)
        #[arg(long = "header")]
        headers: Vec<String>,
        /// webhook (signed, the default), duve-connect, or slack (a chat's incoming webhook)
        #[arg(long, default_value = "webhook")]
        kind: String,
        /// duve-connect: the Duve Connect access token
        #[arg(long)]
        bearer: Option<String>,
        /// duve-connect: a file holding the JSON body template
        #[arg(long)]
        body_template: Option<std::path::PathBuf>,
        /// duve-connect: the additional field the default template writes
        #[arg(long)]
        field: Option<String>,
    },
    /// A hotel's subscriptions
    List { hotel_id: String },
    /// Remove a subscription; its pending deliveries end as failed
    Remove { subscription_id: String },
    /// A new signing secret; the old one keeps signing alongside it for 24 hours
    RotateSecret { subscription_id: String },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Added {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rotated {
    id: String,
    secret: String,
    previous_secret_until: Option<String>,
}

fn named(id: &str) -> impl FnOnce(StoreError) -> anyhow::Error + '_ {
    move |e| match e {
        StoreError::NotFound => anyhow::anyhow!("no subscription {id}"),
        other => other.into(),
    }
}

pub async fn run(ctx: &Ctx, cmd: WebhooksCommand) -> anyhow::Result<()> {
    match cmd {
        WebhooksCommand::Add {
            hotel_id: h,
            url,
            events,
            headers,
            kind,
            bearer,
            body_template,
            field,
        } => {
            let id = hotel_id(&h)?;
            let body_template = match body_template {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                ),
                None => None,
            };
            let req = SubscriptionRequest {
                url,
                kind: Some(kind),
                // `--events a,b`: the request lists each name on its own.
                events: events.map(|e| {
                    e.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                headers: Some(headers),
                bearer,
                body_template,
                field,
            };
            let new = check_subscription(id.clone(), req)?;
            let secret = new.secret.clone();
            let sub = ctx
                .store()
                .await?
                .create_subscription(new, ctx.globals.max_subscriptions)
                .await
                .map_err(not_found(&id))?;
            let added = Added {
                id: sub.id.clone(),
                secret,
            };
            ctx.print(&added, || match &added.secret {
                Some(s) => format!(
                    "Subscription {} for hotel {id}: {} -> {}\nSigning secret (shown only now): {s}",
                    sub.id,
                    sub.events
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    sub.url
                ),
                None => format!(
                    "{} subscription {} for hotel {id}: {} -> {}",
                    match sub.kind {
                        crate::outbox::SubscriptionKind::Slack => "Chat (slack)",
                        _ => "Duve Connect",
                    },
                    sub.id,
                    sub.events
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    sub.url
                ),
            })
        }
        WebhooksCommand::List { hotel_id: h } => {
            let id = hotel_id(&h)?;
            let subs = ctx
                .store()
                .await?
                .list_subscriptions(Scope::Hotel(id.as_str()))
                .await?;
            ctx.print(&subs, || {
                if subs.is_empty() {
                    return format!("Hotel {id} has no subscriptions.");
                }
                subs.iter()
                    .map(|s| {
                        format!(
                            "{}  {}  {}  {}{}",
                            s.id,
                            s.kind.as_str(),
                            s.url,
                            s.events
                                .iter()
                                .map(|e| e.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                            if s.enabled {
                                String::new()
                            } else {
                                format!(
                                    "  DISABLED: {}",
                                    s.disabled_reason.as_deref().unwrap_or("")
                                )
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        WebhooksCommand::Remove { subscription_id } => {
            ctx.store()
                .await?
                .remove_subscription(Scope::Any, &subscription_id)
                .await
                .map_err(named(&subscription_id))?;
            ctx.print(
                &serde_json::json!({"id": subscription_id, "removed": true}),
                || format!("Removed subscription {subscription_id}."),
            )
        }
        WebhooksCommand::RotateSecret { subscription_id } => {
            let secret = sign::new_secret();
            let until = time::now().checked_add(ROTATION_OVERLAP)?;
            let sub = ctx
                .store()
                .await?
                .rotate_secret(Scope::Any, &subscription_id, secret.clone(), until)
                .await
                .map_err(named(&subscription_id))?;
            let rotated = Rotated {
                id: sub.id,
                secret,
                previous_secret_until: sub.previous_secret_until,
            };
            ctx.print(&rotated, || {
                format!(
                    "New signing secret for {} (shown only now): {}\nThe previous one also signs until {}.",
                    rotated.id,
                    rotated.secret,
                    rotated.previous_secret_until.as_deref().unwrap_or("-")
                )
            })
        }
    }
}
