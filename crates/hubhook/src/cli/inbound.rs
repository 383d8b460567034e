//! `hubhook inbound replay INBOUND_ID`: a delivery refused for data the hotel has since fixed,
//! decided again from its stored body as the webhook would now (CONTRACT.md section 7). Run by
//! the operator on the database: any hotel's entry, by its id (`id` in the inbound log).

use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, send::Silent};
use crate::{
    http::{error::ErrorBody, webhooks::answer_of},
    review::ReplayError,
    store::Scope,
};

#[derive(Debug, Subcommand)]
pub enum InboundCommand {
    /// Decide a refused delivery again, as the webhook would now (exits 1 when refused again)
    Replay {
        /// The inbound log entry's id
        inbound_id: i64,
    },
}

/// What a replay printed: the webhook's status and answer now.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    hotel_id: String,
    replay_of: i64,
    status: u16,
    answer: serde_json::Value,
}

/// Runs `hubhook inbound replay`.
pub async fn run(ctx: &Ctx, cmd: InboundCommand) -> anyhow::Result<()> {
    let InboundCommand::Replay { inbound_id } = cmd;
    let store = ctx.store().await?;
    let map = ctx.file.field_map()?;
    let done = crate::review::replay(store.as_ref(), Scope::Any, inbound_id, &map)
        .await
        .map_err(|e| match e {
            ReplayError::NotFound(id) => anyhow::anyhow!("no inbound entry {id}"),
            ReplayError::NotReplayable(n) => anyhow::anyhow!(
                "inbound entry {inbound_id} cannot be replayed: {} {}",
                n.message(),
                n.details().join("; ")
            ),
            ReplayError::Store(e) => e.into(),
        })?;
    let status = done.outcome.status();
    let answer = match answer_of(done.outcome) {
        Ok(a) => serde_json::to_value(a)?,
        Err(r) => serde_json::to_value(ErrorBody {
            code: r.code(),
            message: r.message().to_owned(),
            details: r.details,
        })?,
    };
    let refused = !(200..300).contains(&status);
    let report = Report {
        hotel_id: done.hotel.as_str().to_owned(),
        replay_of: done.replay_of,
        status,
        answer,
    };
    ctx.print(&report, || {
        let a = &report.answer;
        let word = a["status"].as_str().or(a["code"].as_str()).unwrap_or("");
        let mut out = format!(
            "inbound entry {} of hotel {} replayed: {} {}",
            report.replay_of, report.hotel_id, report.status, word
        );
        for t in a["tasks"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n  task {} {} for room {}",
                t["id"].as_str().unwrap_or(""),
                t["taskName"].as_str().unwrap_or(""),
                t["room"].as_str().unwrap_or("")
            ));
        }
        for d in a["details"].as_array().into_iter().flatten() {
            out.push_str(&format!("\n  {}", d.as_str().unwrap_or("")));
        }
        out
    })?;
    if refused { Err(Silent.into()) } else { Ok(()) }
}
