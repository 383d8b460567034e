//! The PostgreSQL store's escalation checker (the SQL), as `sqlite/escalation.rs`: the tasks whose
//! escalation deadline has come, read through the partial index on `escalate_at` and locked with
//! `FOR UPDATE SKIP LOCKED`, so that instances checking at once split them and each reason fires
//! once; each settled by `domain::escalation` and written back in the caller's transaction with
//! its history lines and `task.escalated` deliveries.

use deadpool_postgres::Transaction;
use jiff::Timestamp;

use super::{exec, ingest::insert_event, outbox, query};
use crate::{
    domain::{HotelId, time},
    events::{ChangeKind, TaskChange},
    store::{
        EscalationWrite, StoreError,
        rows::{TASK_COLS, escalating_from_row},
    },
};

/// Who the history says escalated a task.
const ACTOR: &str = "hubhook";

/// The tasks due at `now` (at most `limit`), locked, settled and written; returns the board's
/// changes, how many tasks and how many deliveries were queued.
pub(super) async fn raise(
    tx: &Transaction<'_>,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<TaskChange>, u32, usize), StoreError> {
    let at = time::format(now);
    // A row another instance holds is skipped; one it has just written is checked again against
    // its new deadline (READ COMMITTED re-reads a locked row's newest version): fired once.
    let due: Vec<EscalationWrite> = query(
        tx,
        &format!(
            "SELECT seq, hotel_id, {TASK_COLS},
                    coalesce((SELECT h.escalate_after_secs FROM hotels h
                              WHERE h.id = tasks.hotel_id), 0)
             FROM tasks WHERE escalate_at IS NOT NULL AND escalate_at <= $1
             ORDER BY escalate_at LIMIT $2
             FOR UPDATE OF tasks SKIP LOCKED"
        ),
        &[&at, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| escalating_from_row(r).map(|e| e.settle(now)))
    .collect::<Result<_, _>>()?;
    let mut changes = Vec::new();
    let mut queued = 0;
    for w in &due {
        write(tx, w, &at).await?;
        if w.fired.is_empty() {
            continue;
        }
        for (reason, note) in w.fired.iter().zip(&w.notes) {
            let s = w.task.status;
            insert_event(tx, &w.task.id, &at, ACTOR, Some(s), s, Some(note)).await?;
            queued += outbox::enqueue_escalation(tx, &w.hotel, &w.task, *reason, &at).await?;
        }
        if let Ok(hotel) = HotelId::parse(&w.hotel) {
            changes.push(TaskChange {
                hotel,
                task_id: w.task.id.clone(),
                status: w.task.status,
                kind: ChangeKind::Escalated,
            });
        }
    }
    Ok((changes, due.len() as u32, queued))
}

/// One task's row after its check: what fired, its priority, its next deadline.
async fn write(tx: &Transaction<'_>, w: &EscalationWrite, at: &str) -> Result<(), StoreError> {
    if w.fired.is_empty() {
        // Nothing due after all (the hotel lengthened its escalate-after, or the task finished
        // without its deadline cleared): only the deadline moves.
        exec(
            tx,
            "UPDATE tasks SET escalate_at = $2 WHERE seq = $1",
            &[&w.seq, &w.next],
        )
        .await?;
        return Ok(());
    }
    let escalations = i32::try_from(w.escalations).unwrap_or_default();
    exec(
        tx,
        "UPDATE tasks SET escalations = $2, priority = $3, escalate_at = $4, updated_at = $5
         WHERE seq = $1",
        &[
            &w.seq,
            &escalations,
            &w.task.priority.as_str(),
            &w.next,
            &at,
        ],
    )
    .await?;
    Ok(())
}
