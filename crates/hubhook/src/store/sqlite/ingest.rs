//! The SQLite store's webhook transaction: an order's state and context, its tasks and events, the
//! inbound log, and applying the settlement `intake` decided.

use duve::ReservationFacts;
use rusqlite::{Connection, OptionalExtension, params};

use crate::intake::Plan;

use super::{hot, hotels, outbox};
use crate::events::TaskChange;
use crate::store::rows::{
    InboundWrite, context_from_row, holder_from_row, share_from_row, task_from_row,
};
use crate::{
    domain::{Task, TaskStatus, time},
    intake::{self, ContextWrite, MergeRows, OrderRead, Settlement, SlotHolder, TaskDraft},
    store::{IngestRequest, Ingested, StoreError},
};

/// An order's tasks: those it made, in creation order, then those it merged into.
fn order_tasks(conn: &Connection, hotel: &str, order_key: &str) -> Result<Vec<Task>, StoreError> {
    let mut tasks = Vec::new();
    for sql in [hot::ORDER_TASKS, hot::ORDER_MERGED_TASKS] {
        let mut stmt = conn.prepare_cached(sql)?;
        for t in stmt.query_and_then([hotel, order_key], |r| task_from_row(r))? {
            tasks.push(t?);
        }
    }
    Ok(tasks)
}

/// Every order's share of the order's tasks that orders share.
fn order_shares(
    conn: &Connection,
    hotel: &str,
    order_key: &str,
) -> Result<Vec<intake::Share>, StoreError> {
    let mut stmt = conn.prepare_cached(hot::ORDER_SHARES)?;
    let rows = stmt.query_and_then([hotel, order_key], |r| share_from_row(r))?;
    rows.collect()
}

/// The holders of the merge slots a new order names, those that exist.
pub(super) fn slot_holders(
    conn: &Connection,
    hotel: &str,
    keys: &[intake::SlotKey],
) -> Result<Vec<SlotHolder>, StoreError> {
    let mut stmt = conn.prepare_cached(hot::SLOT_HOLDER)?;
    let mut holders = Vec::new();
    for k in keys {
        let mut rows = stmt.query_and_then(params![hotel, k.room, k.external_id], |r| {
            holder_from_row(r)
        })?;
        if let Some(h) = rows.next() {
            holders.push(h?);
        }
    }
    Ok(holders)
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
        d.merge_slot,
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
        e.duration_us,
        e.replay_of
    ])?;
    Ok(())
}

/// What a settlement of `plan` reads before the merge slots: the order's state, then what
/// [`Plan::reads`] names. The webhook's transaction reads it under the write lock; a dry run on a
/// reader, in a read transaction (one snapshot), locking nothing.
pub(super) fn order_read(
    conn: &Connection,
    hid: &str,
    plan: &Plan,
) -> Result<OrderRead, StoreError> {
    let state = match plan.state_key() {
        Some(key) => crate::store::order_state_from(order_state(conn, hid, key)?)?,
        None => None,
    };
    let reads = plan.reads(state);
    Ok(OrderRead {
        state,
        tasks: match reads.tasks_of {
            Some(key) => order_tasks(conn, hid, key)?,
            None => Vec::new(),
        },
        shares: match reads.shares_of {
            Some(key) => order_shares(conn, hid, key)?,
            None => Vec::new(),
        },
        context: match reads.context_of {
            Some(reservation) => load_context(conn, hid, reservation)?,
            None => None,
        },
        holders: Vec::new(),
    })
}

/// The webhook's transaction; also returns how many outbound deliveries it queued and the task
/// changes to publish once it committed. It reads what the settlement needs, and writes what it
/// says (`intake::settle` decides).
pub(super) fn ingest_tx(
    conn: &Connection,
    req: &IngestRequest,
) -> Result<(Ingested, usize, Vec<TaskChange>), StoreError> {
    if hotels::hotel_version(conn, req.hotel.id.as_str())? != Some(req.cache_version) {
        return Ok((Ingested::Stale, 0, Vec::new()));
    }
    let hotel = &*req.hotel;
    let hid = hotel.id.as_str();
    let now = time::now();
    let mut read = order_read(conn, hid, &req.plan)?;
    read.holders = slot_holders(conn, hid, &intake::slot_keys(&req.plan, hotel, &read, now))?;
    let settled = intake::settle(&req.plan, hotel, read, now);
    let queued = apply(conn, hid, &settled)?;
    let changes = crate::store::settled_changes(&hotel.id, settled.deliveries());
    let outcome = settled.outcome;
    insert_inbound(conn, hid, &InboundWrite::settled(req, &outcome))?;
    Ok((Ingested::Done(outcome), queued, changes))
}

/// Writes what merging decided: slots released (before any new task takes one over), quantities,
/// shares, a cancelled order's shares.
fn apply_merge(conn: &Connection, hid: &str, m: &MergeRows, at: &str) -> Result<(), StoreError> {
    for id in &m.released {
        conn.prepare_cached(hot::RELEASE_SLOT)?.execute([id])?;
    }
    for q in &m.quantities {
        let ids = q.order_ids.as_deref().map(crate::store::rows::json_list);
        conn.prepare_cached(hot::SET_QUANTITY)?
            .execute(params![q.task_id, q.quantity, ids, at])?;
    }
    for sh in &m.shares {
        conn.prepare_cached(hot::INSERT_SHARE)?.execute(params![
            hid,
            sh.order_key,
            sh.task_id,
            sh.order_id,
            sh.quantity,
            sh.merged,
            at
        ])?;
    }
    for c in &m.cancelled_shares {
        conn.prepare_cached(hot::CANCEL_SHARE)?
            .execute([hid, &c.order_key, &c.task_id])?;
    }
    Ok(())
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
    apply_merge(conn, hid, &s.merge, at)?;
    for (draft, task) in s.new_tasks() {
        insert_task(conn, hid, key, &task.id, draft, intake::ACTOR, at)?;
    }
    for m in &s.moves {
        conn.prepare_cached(hot::MOVE_TASK)?.execute(params![
            &m.task_id,
            at,
            m.to.as_str(),
            m.to.done_at(at)
        ])?;
    }
    for line in s.moves.iter().chain(&s.notes) {
        insert_event(
            conn,
            &line.task_id,
            at,
            intake::ACTOR,
            Some(line.from),
            line.to,
            Some(&line.note),
        )?;
    }
    let mut queued = 0;
    for (task, raised) in s.deliveries() {
        queued += outbox::enqueue_raised(conn, hid, task, raised, at)?;
    }
    if let Some(c) = &s.context {
        upsert_context(conn, hid, c, at)?;
    }
    Ok(queued)
}
