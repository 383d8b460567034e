//! The SQLite store's webhook transaction: an order's state and context, its tasks and events, the
//! inbound log, and applying the settlement `intake` decided.

use duve::ReservationFacts;
use rusqlite::{Connection, OptionalExtension, params};

use super::{hot, hotels, outbox};
use crate::store::rows::{InboundWrite, context_from_row, task_from_row};
use crate::{
    domain::{Task, TaskStatus, time},
    intake::{self, ContextWrite, OrderRead, Settlement, TaskDraft},
    store::{IngestRequest, Ingested, StoreError},
};

fn order_tasks(conn: &Connection, hotel: &str, order_key: &str) -> Result<Vec<Task>, StoreError> {
    let mut stmt = conn.prepare_cached(hot::ORDER_TASKS)?;
    let rows = stmt.query_and_then([hotel, order_key], |r| task_from_row(r))?;
    rows.collect()
}

fn order_state(
    conn: &Connection,
    hotel: &str,
    order_key: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(hot::ORDER_STATE)?
        .query_row([hotel, order_key], |r| r.get(0))
        .optional()?)
}

fn insert_order(
    conn: &Connection,
    hotel: &str,
    order_key: &str,
    plan_order_id: Option<&str>,
    reservation_id: Option<&str>,
    state: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_ORDER)?.execute(params![
        hotel,
        order_key,
        plan_order_id,
        reservation_id,
        state,
        now
    ])?;
    Ok(())
}

/// Records one entry of a task's history: a status change, by whom and when.
pub(super) fn insert_event(
    conn: &Connection,
    task: &str,
    at: &str,
    actor: &str,
    from: Option<TaskStatus>,
    to: TaskStatus,
    note: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_EVENT)?.execute(params![
        task,
        at,
        actor,
        from.map(TaskStatus::as_str),
        to.as_str(),
        note
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn insert_task(
    conn: &Connection,
    hotel: &str,
    order_key: Option<&str>,
    id: &str,
    d: &TaskDraft,
    actor: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_TASK)?.execute(params![
        id,
        hotel,
        order_key,
        d.item_key,
        d.order_id,
        d.reservation_id,
        d.external_id,
        d.task_name,
        d.room,
        d.guest_name,
        d.quantity,
        d.department,
        d.notes,
        d.language,
        d.requested_at.map(time::format),
        d.due_at.map(time::format),
        now,
        d.escalate_at.map(time::format),
        d.later_until(now),
    ])?;
    insert_event(conn, id, now, actor, None, TaskStatus::Open, None)?;
    Ok(())
}

fn load_context(
    conn: &Connection,
    hotel: &str,
    reservation: &str,
) -> Result<Option<ReservationFacts>, StoreError> {
    conn.prepare_cached(hot::LOAD_CONTEXT)?
        .query_and_then([hotel, reservation], |r| context_from_row(r, reservation))?
        .next()
        .transpose()
}

/// Keeps what an event says about a reservation; a field it does not mention keeps its earlier value.
fn upsert_context(
    conn: &Connection,
    hotel: &str,
    f: &ContextWrite<'_>,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::UPSERT_CONTEXT)?.execute(params![
        hotel,
        f.reservation_id,
        f.room_number,
        f.first_name,
        f.last_name,
        f.language,
        f.check_in,
        f.check_out,
        now
    ])?;
    Ok(())
}

/// Writes the inbound log's entry of a delivery (refusals too).
pub(super) fn insert_inbound(
    conn: &Connection,
    hotel: &str,
    e: &InboundWrite<'_>,
) -> Result<(), StoreError> {
    conn.prepare_cached(hot::INSERT_INBOUND)?.execute(params![
        hotel,
        e.received_at,
        e.event,
        e.code,
        e.details,
        e.task_ids,
        e.body,
        e.duration_us
    ])?;
    Ok(())
}

/// The webhook's transaction; also returns how many outbound deliveries it queued. It reads what the
/// settlement needs, and writes what it says (`intake::settle` decides).
pub(super) fn ingest_tx(
    conn: &Connection,
    req: &IngestRequest,
) -> Result<(Ingested, usize), StoreError> {
    if hotels::hotel_version(conn, req.hotel.id.as_str())? != Some(req.cache_version) {
        return Ok((Ingested::Stale, 0));
    }
    let hotel = &*req.hotel;
    let hid = hotel.id.as_str();
    let state = match req.plan.state_key() {
        Some(key) => crate::store::order_state_from(order_state(conn, hid, key)?)?,
        None => None,
    };
    let reads = req.plan.reads(state);
    let read = OrderRead {
        state,
        tasks: match reads.tasks_of {
            Some(key) => order_tasks(conn, hid, key)?,
            None => Vec::new(),
        },
        context: match reads.context_of {
            Some(reservation) => load_context(conn, hid, reservation)?,
            None => None,
        },
    };
    let settled = intake::settle(&req.plan, hotel, read, time::now());
    let queued = apply(conn, hid, &settled)?;
    let outcome = settled.outcome;
    insert_inbound(conn, hid, &InboundWrite::settled(req, &outcome))?;
    Ok((Ingested::Done(outcome), queued))
}

/// Writes a settlement's rows (all but the inbound log's); returns the deliveries queued.
fn apply(conn: &Connection, hid: &str, s: &Settlement<'_>) -> Result<usize, StoreError> {
    let at = s.at.as_str();
    if let Some(o) = &s.order {
        insert_order(
            conn,
            hid,
            o.order_key,
            o.order_id,
            o.reservation_id,
            o.state.as_str(),
            at,
        )?;
    }
    let key = s.order.as_ref().map(|o| o.order_key);
    for (draft, task) in s.new_tasks() {
        insert_task(conn, hid, key, &task.id, draft, intake::ACTOR, at)?;
    }
    for m in &s.moves {
        conn.prepare_cached(hot::MOVE_TASK)?
            .execute([&m.task_id, at, m.to.as_str()])?;
    }
    for line in s.moves.iter().chain(&s.notes) {
        insert_event(
            conn,
            &line.task_id,
            at,
            intake::ACTOR,
            Some(line.from),
            line.to,
            Some(line.note),
        )?;
    }
    let mut queued = 0;
    for (task, raised) in s.deliveries() {
        queued += outbox::enqueue(conn, hid, task, crate::store::raised_events(raised), at)?;
    }
    if let Some(c) = &s.context {
        upsert_context(conn, hid, c, at)?;
    }
    Ok(queued)
}
