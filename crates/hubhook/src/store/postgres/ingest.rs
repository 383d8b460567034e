//! One webhook's transaction on the general path: what it reads of the order and the reservation,
//! and the rows its settlement writes.

use deadpool_postgres::{GenericClient, Transaction};
use duve::ReservationFacts;

use super::hot;
use super::outbox;
use super::tasks::order_tasks;
use super::{exec, query, query_opt, text};
use crate::events::TaskChange;
use crate::store::rows::{InboundWrite, context_from_row, holder_from_row, share_from_row};
use crate::store::{IngestRequest, Ingested, StoreError};
use crate::{
    domain::{TaskStatus, time},
    intake::{
        self, ContextWrite, MergeRows, OrderRead, OrderState, Outcome, Plan, Settlement, Share,
        SlotHolder, SlotKey, TaskDraft,
    },
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

/// The hotel's configuration version (None for an unknown hotel) and the state of the order whose
/// state decides `plan` ([`Plan::state_key`]), in one round trip.
pub(super) async fn version_and_order_state(
    tx: &Transaction<'_>,
    hotel: &str,
    plan: &Plan,
) -> Result<(Option<u64>, Option<OrderState>), StoreError> {
    let key = plan.state_key().map(text);
    let row = query_opt(tx, hot::VERSION_AND_ORDER_STATE, &[&hotel, &key.as_deref()])
        .await?
        .ok_or_else(|| StoreError::Unavailable("no row from a scalar query".into()))?;
    let v: Option<i64> = row.try_get(0)?;
    let state = crate::store::order_state_from(row.try_get(1)?)?;
    Ok((v.map(|v| v as u64), state))
}

/// The rest of what a settlement of `plan` reads once the order's state is known ([`Plan::reads`]):
/// the webhook's transaction locks the tasks it is about to move (`lock`); a dry run locks nothing.
pub(super) async fn order_read(
    tx: &Transaction<'_>,
    hid: &str,
    plan: &Plan,
    state: Option<OrderState>,
    lock: bool,
) -> Result<OrderRead, StoreError> {
    let reads = plan.reads(state);
    let tasks = match reads.tasks_of {
        Some(key) => order_tasks(tx, hid, &text(key), reads.lock_tasks && lock).await?,
        None => Vec::new(),
    };
    // After the tasks' locks: a cancellation of another order of the same task waited for them,
    // and this reads what it wrote.
    let shares = match reads.shares_of {
        Some(key) => order_shares(tx, hid, key).await?,
        None => Vec::new(),
    };
    let context = match reads.context_of {
        Some(reservation) => load_context(tx, hid, reservation).await?,
        None => None,
    };
    Ok(OrderRead {
        state,
        tasks,
        context,
        shares,
        holders: Vec::new(),
    })
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
    let quantity = column_quantity(d.quantity);
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
            &d.merge_slot,
            &d.later_until(now),
        ],
    )
    .await?;
    Ok(())
}

/// A quantity as its `INTEGER` column holds it.
pub(super) fn column_quantity(q: u32) -> i32 {
    i32::try_from(q).unwrap_or(i32::MAX)
}

/// Every order's share of the order's tasks that orders share.
async fn order_shares(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: &str,
) -> Result<Vec<Share>, StoreError> {
    query(tx, hot::ORDER_SHARES, &[&hotel, &text(order_key)])
        .await?
        .iter()
        .map(share_from_row)
        .collect()
}

/// The holders of the merge slots a new order names, those that exist; `lock`: locked in the keys'
/// order (the webhook's transaction; a dry run locks nothing).
pub(super) async fn slot_holders(
    tx: &Transaction<'_>,
    hotel: &str,
    keys: &[SlotKey],
    lock: bool,
) -> Result<Vec<SlotHolder>, StoreError> {
    let sql = if lock {
        hot::SLOT_HOLDER_LOCKED
    } else {
        hot::SLOT_HOLDER
    };
    let mut holders = Vec::new();
    for k in keys {
        let (room, ext) = (text(&k.room), text(&k.external_id));
        if let Some(r) = query_opt(tx, sql, &[&hotel, &room, &ext]).await? {
            holders.push(holder_from_row(&r)?);
        }
    }
    Ok(holders)
}

/// Writes what merging decided: slots released (before any new task takes one over), quantities,
/// shares, a cancelled order's shares.
async fn apply_merge(
    tx: &Transaction<'_>,
    hid: &str,
    m: &MergeRows,
    at: &str,
) -> Result<(), StoreError> {
    for id in &m.released {
        exec(tx, hot::RELEASE_SLOT, &[id]).await?;
    }
    for q in &m.quantities {
        let ids = q
            .order_ids
            .as_deref()
            .map(|ids| text(&crate::store::rows::json_list(ids)).into_owned());
        let quantity = column_quantity(q.quantity);
        exec(tx, hot::SET_QUANTITY, &[&q.task_id, &quantity, &ids, &at]).await?;
    }
    for sh in &m.shares {
        let quantity = column_quantity(sh.quantity);
        exec(
            tx,
            hot::INSERT_SHARE,
            &[
                &hid,
                &text(&sh.order_key),
                &sh.task_id,
                &sh.order_id.as_deref().map(text),
                &quantity,
                &sh.merged,
                &at,
            ],
        )
        .await?;
    }
    for c in &m.cancelled_shares {
        exec(
            tx,
            hot::CANCEL_SHARE,
            &[&hid, &text(&c.order_key), &c.task_id],
        )
        .await?;
    }
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
            &e.replay_of,
        ],
    )
    .await?;
    Ok(())
}

/// One attempt at a webhook's transaction; also returns how many deliveries it queued and the task
/// changes to announce. `Err` with a unique violation means another instance committed the same
/// order, or a task holding the same merge slot, meanwhile: the caller rolls back and decides
/// again.
pub(super) async fn ingest_tx(
    tx: &Transaction<'_>,
    req: &IngestRequest,
) -> Result<(Ingested, usize, Vec<TaskChange>), StoreError> {
    let hotel = &*req.hotel;
    let hid = hotel.id.as_str();
    let (version, state) = version_and_order_state(tx, hid, &req.plan).await?;
    if version != Some(req.cache_version) {
        return Ok((Ingested::Stale, 0, Vec::new()));
    }
    let mut read = order_read(tx, hid, &req.plan, state, true).await?;
    let now = time::now();
    read.holders = slot_holders(
        tx,
        hid,
        &intake::slot_keys(&req.plan, hotel, &read, now),
        true,
    )
    .await?;
    let mut settled = intake::settle(&req.plan, hotel, read, now);
    clean_new_tasks(&mut settled);
    let queued = apply(tx, hid, &settled).await?;
    let changes = crate::store::settled_changes(&hotel.id, settled.deliveries());
    let outcome = settled.outcome;
    insert_inbound(tx, hid, &InboundWrite::settled(req, &outcome)).await?;
    Ok((Ingested::Done(outcome), queued, changes))
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
    apply_merge(tx, hid, &s.merge, at).await?;
    for (draft, task) in s.new_tasks() {
        insert_task(tx, hid, key, &task.id, draft, intake::ACTOR, at).await?;
    }
    for m in &s.moves {
        let done_at = m.to.done_at(at);
        exec(
            tx,
            hot::MOVE_TASK,
            &[&m.task_id, &at, &m.to.as_str(), &done_at],
        )
        .await?;
    }
    for line in s.moves.iter().chain(&s.notes) {
        insert_event(
            tx,
            &line.task_id,
            at,
            intake::ACTOR,
            Some(line.from),
            line.to,
            Some(&line.note),
        )
        .await?;
    }
    let mut queued = 0;
    for (task, raised) in s.deliveries() {
        queued += outbox::enqueue_raised(tx, hid, task, raised, at).await?;
    }
    if let Some(c) = &s.context {
        upsert_context(tx, hid, c, at).await?;
    }
    Ok(queued)
}
