//! One webhook's transaction on the general path: what it reads of the order and the reservation,
//! and the rows its settlement writes.

use deadpool_postgres::{GenericClient, Transaction};
use duve::ReservationFacts;

use super::hot;
use super::outbox;
use super::tasks::{order_tasks, order_tasks_locked};
use super::{exec, query_opt, text};
use crate::store::rows::{InboundWrite, context_from_row};
use crate::store::{IngestRequest, Ingested, StoreError};
use crate::{
    domain::{TaskStatus, time},
    intake::{self, ContextWrite, OrderRead, Outcome, Plan, Settlement, TaskDraft},
};

fn clean(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

fn clean_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        clean(s);
    }
}

/// A task draft's text as stored (NUL replaced).
pub(super) fn clean_draft(d: &mut TaskDraft) {
    for s in [&mut d.task_name, &mut d.room] {
        clean(s);
    }
    for s in [
        &mut d.item_key,
        &mut d.external_id,
        &mut d.guest_name,
        &mut d.department,
        &mut d.notes,
        &mut d.language,
        &mut d.order_id,
        &mut d.reservation_id,
    ] {
        clean_opt(s);
    }
}

/// The new tasks of a settlement as stored, and so as answered: the drafts' text cleaned, and the
/// fields the answer takes from them.
pub(super) fn clean_new_tasks(s: &mut Settlement<'_>) {
    s.new_tasks.iter_mut().for_each(clean_draft);
    if let Outcome::Created { tasks, .. } = &mut s.outcome {
        for t in tasks {
            clean(&mut t.task_name);
            clean(&mut t.room);
            clean_opt(&mut t.external_id);
            clean_opt(&mut t.guest_name);
        }
    }
}

/// The hotel's configuration version (None for an unknown hotel) and the order's state, in one
/// round trip.
async fn version_and_order_state(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: Option<&str>,
) -> Result<(Option<u64>, Option<String>), StoreError> {
    let row = query_opt(tx, hot::VERSION_AND_ORDER_STATE, &[&hotel, &order_key])
        .await?
        .ok_or_else(|| StoreError::Unavailable("no row from a scalar query".into()))?;
    let v: Option<i64> = row.try_get(0)?;
    Ok((v.map(|v| v as u64), row.try_get(1)?))
}

#[allow(clippy::too_many_arguments)]
async fn insert_order(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: &str,
    plan_order_id: Option<&str>,
    reservation_id: Option<&str>,
    state: &str,
    now: &str,
) -> Result<(), StoreError> {
    exec(
        tx,
        hot::INSERT_ORDER,
        &[
            &hotel,
            &text(order_key),
            &plan_order_id.map(text),
            &reservation_id.map(text),
            &state,
            &now,
        ],
    )
    .await?;
    Ok(())
}

/// Writes one line of a task's history.
pub(super) async fn insert_event(
    tx: &Transaction<'_>,
    task: &str,
    at: &str,
    actor: &str,
    from: Option<TaskStatus>,
    to: TaskStatus,
    note: Option<&str>,
) -> Result<(), StoreError> {
    exec(
        tx,
        hot::INSERT_EVENT,
        &[
            &task,
            &at,
            &text(actor),
            &from.map(TaskStatus::as_str),
            &to.as_str(),
            &note.map(text),
        ],
    )
    .await?;
    Ok(())
}

/// Inserts a task (its draft already cleaned) and the first line of its history in one statement.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_task(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: Option<&str>,
    id: &str,
    d: &TaskDraft,
    actor: &str,
    now: &str,
) -> Result<(), StoreError> {
    let quantity = i32::try_from(d.quantity).unwrap_or(i32::MAX);
    exec(
        tx,
        hot::INSERT_TASK,
        &[
            &id,
            &hotel,
            &order_key.map(text),
            &d.item_key,
            &d.order_id,
            &d.reservation_id,
            &d.external_id,
            &d.task_name,
            &d.room,
            &d.guest_name,
            &quantity,
            &d.department,
            &d.notes,
            &d.language,
            &d.requested_at.map(time::format),
            &d.due_at.map(time::format),
            &now,
            &text(actor),
            &d.escalate_at.map(time::format),
            &d.later_until(now),
        ],
    )
    .await?;
    Ok(())
}

async fn load_context(
    tx: &Transaction<'_>,
    hotel: &str,
    reservation: &str,
) -> Result<Option<ReservationFacts>, StoreError> {
    let row = query_opt(tx, hot::LOAD_CONTEXT, &[&hotel, &text(reservation)]).await?;
    let Some(r) = row else {
        return Ok(None);
    };
    context_from_row(&r, reservation).map(Some)
}

/// Keeps what an event says about a reservation; a field it does not mention keeps its earlier value.
async fn upsert_context(
    tx: &Transaction<'_>,
    hotel: &str,
    f: &ContextWrite<'_>,
    now: &str,
) -> Result<(), StoreError> {
    exec(
        tx,
        hot::UPSERT_CONTEXT,
        &[
            &hotel,
            &text(f.reservation_id),
            &f.room_number.map(text),
            &f.first_name.map(text),
            &f.last_name.map(text),
            &f.language.map(text),
            &f.check_in.map(text),
            &f.check_out.map(text),
            &now,
        ],
    )
    .await?;
    Ok(())
}

/// Writes the inbound log's entry of a delivery (refusals too).
pub(super) async fn insert_inbound<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    e: &InboundWrite<'_>,
) -> Result<(), StoreError> {
    exec(
        c,
        hot::INSERT_INBOUND,
        &[
            &hotel,
            &e.received_at,
            &e.event.map(text),
            &e.code,
            &text(&e.details),
            &e.task_ids,
            &text(&e.body),
            &e.duration_us,
        ],
    )
    .await?;
    Ok(())
}

/// One attempt at a webhook's transaction. `Err` with a unique violation means another instance
/// committed the same order meanwhile: the caller rolls back and decides again.
pub(super) async fn ingest_tx(
    tx: &Transaction<'_>,
    req: &IngestRequest,
) -> Result<(Ingested, usize), StoreError> {
    let hotel = &*req.hotel;
    let hid = hotel.id.as_str();
    let key = match &req.plan {
        Plan::Order(p) => Some(p.order_key.as_str()),
        Plan::Cancel { order_key } => Some(order_key.as_str()),
        _ => None,
    };
    let key_text = key.map(text);
    let (version, state) = version_and_order_state(tx, hid, key_text.as_deref()).await?;
    if version != Some(req.cache_version) {
        return Ok((Ingested::Stale, 0));
    }
    let state = crate::store::order_state_from(state)?;
    let reads = req.plan.reads(state);
    let tasks = match reads.tasks_of {
        Some(key) if reads.lock_tasks => order_tasks_locked(tx, hid, &text(key)).await?,
        Some(key) => order_tasks(tx, hid, &text(key)).await?,
        None => Vec::new(),
    };
    let context = match reads.context_of {
        Some(reservation) => load_context(tx, hid, reservation).await?,
        None => None,
    };
    let read = OrderRead {
        state,
        tasks,
        context,
    };
    let mut settled = intake::settle(&req.plan, hotel, read, time::now());
    clean_new_tasks(&mut settled);
    let queued = apply(tx, hid, &settled).await?;
    let outcome = settled.outcome;
    insert_inbound(tx, hid, &InboundWrite::settled(req, &outcome)).await?;
    Ok((Ingested::Done(outcome), queued))
}

/// Writes a settlement's rows (all but the inbound log's); returns the deliveries queued.
async fn apply(tx: &Transaction<'_>, hid: &str, s: &Settlement<'_>) -> Result<usize, StoreError> {
    let at = s.at.as_str();
    if let Some(o) = &s.order {
        // First, so that a race with another instance is lost before any work.
        insert_order(
            tx,
            hid,
            o.order_key,
            o.order_id,
            o.reservation_id,
            o.state.as_str(),
            at,
        )
        .await?;
    }
    let key = s.order.as_ref().map(|o| o.order_key);
    for (draft, task) in s.new_tasks() {
        insert_task(tx, hid, key, &task.id, draft, intake::ACTOR, at).await?;
    }
    for m in &s.moves {
        exec(tx, hot::MOVE_TASK, &[&m.task_id, &at, &m.to.as_str()]).await?;
    }
    for line in s.moves.iter().chain(&s.notes) {
        insert_event(
            tx,
            &line.task_id,
            at,
            intake::ACTOR,
            Some(line.from),
            line.to,
            Some(line.note),
        )
        .await?;
    }
    let mut queued = 0;
    for (task, raised) in s.deliveries() {
        queued += outbox::enqueue(tx, hid, task, crate::store::raised_events(raised), at).await?;
    }
    if let Some(c) = &s.context {
        upsert_context(tx, hid, c, at).await?;
    }
    Ok(queued)
}
