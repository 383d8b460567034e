//! `hubhook dry-run HOTEL_ID FILE`: what a Duve body would do for a hotel, stored nowhere
//! (CONTRACT.md section 7). The same decision as the webhook's, with the same field mapping
//! (hubhook.toml's `[mapping]`) and body limit (`HUBHOOK_BODY_LIMIT`) as `hubhook serve`.

use std::{io::Read, path::PathBuf};

use anyhow::Context;
use clap::Args;

use super::{Ctx, hotel_id};
use crate::{
    config::ServeSettings,
    intake::review::{DryRun, FieldAt},
};

#[derive(Debug, Args)]
pub struct DryRunArgs {
    pub hotel_id: String,
    /// A file holding the webhook's body as Duve sends it (`-` reads standard input)
    pub file: PathBuf,
    /// Largest webhook body in bytes, as `hubhook serve --body-limit` (default 1048576)
    #[arg(long, env = "HUBHOOK_BODY_LIMIT")]
    pub body_limit: Option<usize>,
}

/// Runs `hubhook dry-run`.
pub async fn run(ctx: &Ctx, args: DryRunArgs) -> anyhow::Result<()> {
    let id = hotel_id(&args.hotel_id)?;
    let limit = ServeSettings {
        body_limit: args.body_limit,
        ..Default::default()
    }
    .or(ctx.file.serve.clone())
    .values()?
    .body_limit;
    // One byte past the limit is enough to know the body is too large: a huge file is not read.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut body = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin().take(cap).read_to_end(&mut body)
    } else {
        std::fs::File::open(&args.file).and_then(|f| f.take(cap).read_to_end(&mut body))
    }
    .with_context(|| format!("cannot read {}", args.file.display()))?;
    let map = ctx.file.field_map()?;
    let store = ctx.store().await?;
    let hotel = store
        .hotel_facts(id.as_str())
        .await?
        .with_context(|| format!("no hotel {id}"))?;
    let hotel = std::sync::Arc::new(hotel);
    let run = crate::review::dry_run(store.as_ref(), &hotel, &map, &body, limit).await?;
    ctx.print(&run, || text(&run))
}

fn at(f: &Option<FieldAt>) -> String {
    match f {
        Some(f) => format!("{:?} at {}", f.value, f.path),
        None => "not found".to_owned(),
    }
}

/// The dry run for people: the answer, why, the tasks, and where each field was found.
fn text(run: &DryRun) -> String {
    let mut out = vec![format!("{} ({})", run.outcome, run.status)];
    if let (Some(code), Some(message)) = (run.code, run.message) {
        out[0].push_str(&format!(": {code} {message}"));
    }
    if let Some(reason) = run.reason {
        out[0].push_str(&format!(": {reason}"));
    }
    out.extend(run.details.iter().map(|d| format!("  {d}")));
    if !run.tasks.is_empty() {
        out.push("tasks:".into());
        for t in &run.tasks {
            let t = &t.0;
            out.push(format!(
                "  {} x{}, room {}, {}{}",
                t.task_name,
                t.quantity,
                t.room,
                t.status.as_str(),
                t.due_at
                    .as_deref()
                    .map(|d| format!(", due {d}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !run.skipped.is_empty() {
        out.push("skipped:".into());
        for s in &run.skipped {
            out.push(format!(
                "  {} (external ID {}): {}",
                s.name.as_deref().unwrap_or("unnamed item"),
                s.external_id.as_deref().unwrap_or("none"),
                s.reason
            ));
        }
    }
    let f = &run.fields;
    out.push("fields:".into());
    for (name, v) in [
        ("reservation_id", &f.reservation_id),
        ("room_number", &f.room_number),
        ("first_name", &f.first_name),
        ("last_name", &f.last_name),
        ("order_id", &f.order_id),
        ("delivery_time", &f.delivery_time),
        ("notes", &f.notes),
        ("charge_amount", &f.charge_amount),
        ("language", &f.language),
        ("check_in", &f.check_in),
        ("check_out", &f.check_out),
    ] {
        out.push(format!("  {name:<15} {}", at(v)));
    }
    match &f.products {
        None => out.push(format!("  {:<15} not found", "products")),
        Some(p) => {
            out.push(format!(
                "  {:<15} {} item(s) at {}",
                "products",
                p.value.len(),
                p.path
            ));
            for i in &p.value {
                out.push(format!(
                    "    [{}] {}: external_id {}, quantity {}",
                    i.key,
                    i.name.as_deref().unwrap_or("unnamed"),
                    at(&i.external_id),
                    at(&i.quantity)
                ));
            }
        }
    }
    out.join("\n")
}
