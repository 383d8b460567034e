//! The SQLite store's escalation checker (the SQL): the tasks whose escalation deadline has come,
//! read through the partial index on `escalate_at`, each settled by `domain::escalation` and written
//! back with its history lines and `task.escalated` deliveries in the writer's one transaction.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{ingest::insert_event, outbox};
use crate::{
    domain::time,
    events::{ChangeKind, TaskChange},
    store::{
        EscalationWrite, StoreError,
        rows::{TASK_COLS, escalating_from_row},
    },
};

/// Who the history says escalated a task.
pub(super) const ACTOR: &str = "hubhook";

/// The tasks due at `now` (at most `limit`), settled and written; returns the board's changes
/// and how many deliveries were queued.
pub(super) fn raise(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<TaskChange>, u32, usize), StoreError> {
    let at = time::format(now);
    let due: Vec<EscalationWrite> = conn
        .prepare_cached(&format!(
            "SELECT seq, hotel_id, {TASK_COLS},
                    coalesce((SELECT h.escalate_after_secs FROM hotels h
                              WHERE h.id = tasks.hotel_id), 0)
             FROM tasks WHERE escalate_at IS NOT NULL AND escalate_at <= ?1
             ORDER BY escalate_at LIMIT ?2"
        ))?
        .query_and_then(params![at, limit], |r| escalating_from_row(r))?
        .map(|e| e.map(|e| e.settle(now)))
        .collect::<Result<_, StoreError>>()?;
    let mut changes = Vec::new();
    let mut queued = 0;
    for w in &due {
        write(conn, w, &at)?;
        if w.fired.is_empty() {
            continue;
        }
        for (reason, note) in w.fired.iter().zip(&w.notes) {
            let s = w.task.status;
            insert_event(conn, &w.task.id, &at, ACTOR, Some(s), s, Some(note))?;
            queued += outbox::enqueue_escalation(conn, &w.hotel, &w.task, *reason, &at)?;
        }
        if let Ok(hotel) = crate::domain::HotelId::parse(&w.hotel) {
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
fn write(conn: &Connection, w: &EscalationWrite, at: &str) -> Result<(), StoreError> {
    match w.fired.is_empty() {
        // Nothing due after all (the hotel lengthened its escalate-after, or the task finished
        // without its deadline cleared): only the deadline moves.
        true => conn
            .prepare_cached("UPDATE tasks SET escalate_at = ?2 WHERE seq = ?1")?
            .execute(params![w.seq, w.next])?,
        false => conn
            .prepare_cached(
                "UPDATE tasks SET escalations = ?2, priority = ?3, escalate_at = ?4,
                     updated_at = ?5
                 WHERE seq = ?1",
            )?
            .execute(params![
                w.seq,
                w.escalations,
                w.task.priority.as_str(),
                w.next,
                at
            ])?,
    };
    Ok(())
}
