//! New orders, batched: the common webhook (a new order whose tasks need no stored context) goes to
//! a few batch workers; each takes whatever has queued up and writes it in one statement (one round
//! trip, one commit for the whole batch: group commit, as the SQLite writer does). Only orders that
//! are new, decided with the current configuration version, and whose tasks would take merge slots
//! no task holds (so nothing to merge into) are written; the others are handed back and take the
//! general path, which reads what it needs first. A batch that loses a race for a merge slot to
//! another instance (the slot's unique index) is handed back whole.

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::{mpsc, oneshot};

use super::hot;
use super::ingest::clean_new_tasks;
use super::notify::{Signals, announce, change};
use super::outbox;
use super::{query, query_opt, text};
use crate::store::rows::{body_text, json_list};
use crate::store::{IngestRequest, StoreError};
use crate::{
    domain::{HotelId, Task, time},
    events::ChangeKind,
    intake::{self, Enqueue, OrderRead, Outcome, Plan, Settlement},
};

/// Enough to amortise one commit over a burst, small enough to keep one batch's latency low.
const MAX_BATCH: usize = 128;
/// Batches in flight at once per instance (each on its own pooled connection), unless the URL's
/// `batch_workers` says otherwise. One: while a batch commits, the next one gathers, so batches
/// are as large as the load makes them and the database pays one commit per batch; more workers
/// overlap commits but split the load into smaller batches, which cost the database more CPU per
/// order (docs/benchmarks.md: one worker was faster for one instance and for two).
pub(super) const DEFAULT_BATCH_WORKERS: usize = 1;

/// One new order, ready to be written: its settlement, every value already in its column's form.
struct NewOrder {
    hotel_id: String,
    order_key: String,
    order_id: Option<String>,
    reservation_id: Option<String>,
    state: &'static str,
    version: i64,
    now: String,
    task_ids: Vec<String>,
    /// The tasks as the answer and the outbox show them.
    tasks: Vec<Task>,
    /// The deliveries to queue, per task of `tasks`.
    outbox: Vec<Enqueue>,
    /// Per task: item_key, order_id, reservation_id, external_id, task_name, room, guest_name,
    /// department, notes, language, requested_at, due_at, escalate_at, later_until.
    task_cols: Vec<[Option<String>; 14]>,
    quantities: Vec<i32>,
    /// Per task: whether it takes its room's and service's merge slot.
    merge_slots: Vec<bool>,
    /// The room and service of each slot its tasks take.
    slots: Vec<(String, String)>,
    /// Reservation id, room, first name, last name, language, check-in, check-out.
    context: Option<[Option<String>; 7]>,
    received_at: String,
    event: Option<String>,
    /// The inbound log's outcome code.
    code: &'static str,
    task_ids_json: String,
    body: String,
    duration_us: i64,
}

/// A new order handed to the batch workers, and where to answer whether it was written.
pub(super) struct NewOrderJob {
    order: NewOrder,
    /// Whether the order was written (false: take the general path).
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

type JobQueue = Arc<tokio::sync::Mutex<mpsc::Receiver<NewOrderJob>>>;

/// Starts `workers` batch workers on the pool; returns the queue that feeds them.
pub(super) fn start_batch_workers(
    pool: &Pool,
    signals: &Signals,
    workers: usize,
) -> mpsc::Sender<NewOrderJob> {
    let (tx, rx) = mpsc::channel::<NewOrderJob>(4096);
    let rx: JobQueue = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..workers {
        let (pool, rx, signals) = (pool.clone(), rx.clone(), signals.clone());
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            loop {
                {
                    let mut queue = rx.lock().await;
                    if queue.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                        return;
                    }
                }
                write_batch(&pool, &mut jobs, &signals).await;
            }
        });
    }
    tx
}

async fn write_batch(pool: &Pool, jobs: &mut Vec<NewOrderJob>, signals: &Signals) {
    // One order key, and one reservation's context, at most once per statement: a second one waits
    // for the general path (which finds the first once it has committed).
    // One merge slot too: the second order for a room and service merges into the first's task.
    let mut keys = std::collections::HashSet::new();
    let mut contexts = std::collections::HashSet::new();
    let mut slots = std::collections::HashSet::new();
    let mut batch = Vec::with_capacity(jobs.len());
    for job in jobs.drain(..) {
        let o = &job.order;
        let key_free = keys.insert((o.hotel_id.clone(), o.order_key.clone()));
        let context_free = match &o.context {
            Some(c) => contexts.insert((o.hotel_id.clone(), c[0].clone())),
            None => true,
        };
        let taken: Vec<_> = o
            .slots
            .iter()
            .map(|(room, ext)| (o.hotel_id.clone(), room.clone(), ext.clone()))
            .collect();
        let slots_free = taken.iter().all(|k| !slots.contains(k));
        if key_free && context_free && slots_free {
            slots.extend(taken);
            batch.push(job);
        } else {
            let _ = job.reply.send(Ok(false));
        }
    }
    let result = match pool.get().await {
        Ok(mut client) => write_new_orders(&mut client, &batch, signals).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok((written, queued)) => {
            signals.queued(queued);
            // The same counters as the SQLite writer's group commits (`/metrics`).
            crate::store::stats::batch_committed(batch.len());
            for job in batch {
                let o = &job.order;
                let done = written.contains(&(o.hotel_id.clone(), o.order_key.clone()));
                let _ = job.reply.send(Ok(done));
            }
        }
        // Another instance took a merge slot of this batch meanwhile: nothing of the batch was
        // written; every order is decided again on the general path (which merges).
        Err(StoreError::Conflict(_)) => {
            for job in batch {
                let _ = job.reply.send(Ok(false));
            }
        }
        Err(e) => {
            for job in batch {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// Writes a batch and, in the same transaction, the outbox deliveries its tasks raise; announces
/// the new tasks to the other instances. Returns the orders written and how many deliveries.
async fn write_new_orders(
    client: &mut deadpool_postgres::Client,
    batch: &[NewOrderJob],
    signals: &Signals,
) -> Result<(std::collections::HashSet<(String, String)>, usize), StoreError> {
    let mut hotels: Vec<&str> = batch.iter().map(|j| j.order.hotel_id.as_str()).collect();
    hotels.sort_unstable();
    hotels.dedup();
    let subscribed = query_opt(&*client, hot::BATCH_SUBSCRIBED, &[&hotels])
        .await?
        .is_some();
    let changes = |written: &std::collections::HashSet<(String, String)>| {
        let mut changes = Vec::new();
        for job in batch {
            let o = &job.order;
            if !written.contains(&(o.hotel_id.clone(), o.order_key.clone())) {
                continue;
            }
            let Ok(hotel) = HotelId::parse(&o.hotel_id) else {
                continue;
            };
            changes.extend(
                o.tasks
                    .iter()
                    .map(|t| change(&hotel, t, ChangeKind::Created)),
            );
        }
        changes
    };
    if !subscribed {
        // No outbox work: one statement, its own transaction; the announcement follows its commit.
        let written = insert_new_orders(&*client, batch, false).await?;
        if let Err(e) = announce(&*client, signals, &changes(&written), 0).await {
            tracing::warn!(error = %e, "could not announce new tasks to the other instances");
        }
        return Ok((written, 0));
    }
    let tx = client.transaction().await?;
    let result: Result<_, StoreError> = async {
        let written = insert_new_orders(&tx, batch, true).await?;
        let mut queued = 0;
        for job in batch {
            let o = &job.order;
            if !written.contains(&(o.hotel_id.clone(), o.order_key.clone())) {
                continue;
            }
            for (t, raised) in intake::deliveries(&o.outbox, &o.tasks) {
                let events = crate::store::raised_events(raised);
                queued += outbox::enqueue(&tx, &o.hotel_id, t, events, &o.now).await?;
            }
        }
        announce(&tx, signals, &changes(&written), queued).await?;
        Ok((written, queued))
    }
    .await;
    match result {
        Ok(r) => {
            tx.commit().await?;
            Ok(r)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// `with_outbox`: the caller queues the deliveries in the same transaction; without it, an order of
/// a hotel with a subscription is not written (the general path takes it).
async fn insert_new_orders<C: GenericClient + Sync>(
    client: &C,
    batch: &[NewOrderJob],
    with_outbox: bool,
) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
    let orders: Vec<&NewOrder> = batch.iter().map(|j| &j.order).collect();
    let col = |f: fn(&NewOrder) -> Option<String>| orders.iter().map(|o| f(o)).collect::<Vec<_>>();
    let o_hotel = col(|o| Some(o.hotel_id.clone()));
    let o_key = col(|o| Some(o.order_key.clone()));
    let o_order_id = col(|o| o.order_id.clone());
    let o_res = col(|o| o.reservation_id.clone());
    let o_now = col(|o| Some(o.now.clone()));
    let o_version: Vec<i64> = orders.iter().map(|o| o.version).collect();
    let o_state = col(|o| Some(o.state.to_owned()));
    let (mut t_id, mut t_hotel, mut t_key, mut t_now) = (vec![], vec![], vec![], vec![]);
    let mut t_cols: [Vec<Option<String>>; 14] = Default::default();
    let mut t_qty = vec![];
    let mut t_slot: Vec<bool> = vec![];
    let (mut p_hotel, mut p_key, mut p_room, mut p_ext) = (vec![], vec![], vec![], vec![]);
    let mut t_n: Vec<i32> = vec![];
    let mut c: [Vec<Option<String>>; 9] = Default::default();
    for o in &orders {
        for ((id, cols), qty) in o.task_ids.iter().zip(&o.task_cols).zip(&o.quantities) {
            t_id.push(id.clone());
            t_hotel.push(o.hotel_id.clone());
            t_key.push(o.order_key.clone());
            t_now.push(o.now.clone());
            for (dst, v) in t_cols.iter_mut().zip(cols) {
                dst.push(v.clone());
            }
            t_qty.push(*qty);
            t_n.push(t_n.len() as i32);
        }
        t_slot.extend(&o.merge_slots);
        for (room, ext) in &o.slots {
            p_hotel.push(o.hotel_id.clone());
            p_key.push(o.order_key.clone());
            p_room.push(room.clone());
            p_ext.push(ext.clone());
        }
        if let Some(ctx) = &o.context {
            c[0].push(Some(o.hotel_id.clone()));
            c[1].push(Some(o.order_key.clone()));
            for (dst, v) in c[2..].iter_mut().zip(ctx) {
                dst.push(v.clone());
            }
        }
    }
    let i_received = col(|o| Some(o.received_at.clone()));
    let i_event = col(|o| o.event.clone());
    let i_task_ids = col(|o| Some(o.task_ids_json.clone()));
    let i_body = col(|o| Some(o.body.clone()));
    let i_duration: Vec<i64> = orders.iter().map(|o| o.duration_us).collect();
    let i_code = col(|o| Some(o.code.to_owned()));
    let rows = query(
        client,
        hot::INSERT_NEW_ORDERS,
        &[
            &o_hotel,
            &o_key,
            &o_order_id,
            &o_res,
            &o_now,
            &o_version,
            &t_id,
            &t_hotel,
            &t_key,
            &t_cols[0],
            &t_cols[1],
            &t_cols[2],
            &t_cols[3],
            &t_cols[4],
            &t_cols[5],
            &t_cols[6],
            &t_cols[7],
            &t_cols[8],
            &t_cols[9],
            &t_cols[10],
            &t_cols[11],
            &t_qty,
            &t_now,
            &t_n,
            &c[0],
            &c[1],
            &c[2],
            &c[3],
            &c[4],
            &c[5],
            &c[6],
            &i_received,
            &i_event,
            &i_task_ids,
            &i_body,
            &i_duration,
            &with_outbox,
            &o_state,
            &c[7],
            &c[8],
            &i_code,
            &t_cols[12],
            &t_slot,
            &p_hotel,
            &p_key,
            &p_room,
            &p_ext,
            &t_cols[13],
        ],
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Hands a new order to the batch workers; `None` when the plan is not such an order, or it was not
/// written (not new, or decided with an outdated configuration): the general path decides then.
///
/// The order is settled as new, as if the store had read no row of it: the batch's insert of its
/// `orders` row checks that (an order seen before is handed back). One whose settlement needs more
/// read (a reservation's context) takes the general path at once.
pub(super) async fn ingest_new_order(
    batcher: &mpsc::Sender<NewOrderJob>,
    req: &IngestRequest,
) -> Result<Option<Outcome>, StoreError> {
    // A replay's log entry names the entry it replays, which the batch's statement does not write.
    if !matches!(req.plan, Plan::Order(_))
        || !req.plan.reads(None).is_empty()
        || req.replay_of.is_some()
    {
        return Ok(None);
    }
    let hotel = &*req.hotel;
    let mut settled = intake::settle(&req.plan, hotel, OrderRead::default(), time::now());
    let (Outcome::Created { .. }, Some(row)) = (&settled.outcome, settled.order) else {
        return Ok(None);
    };
    clean_new_tasks(&mut settled);
    let Settlement {
        outcome,
        at,
        new_tasks,
        outbox: deliveries,
        context,
        ..
    } = settled;
    let t = |s: Option<&str>| s.map(|s| text(s).into_owned());
    let n = new_tasks.len();
    let mut order = NewOrder {
        hotel_id: hotel.id.as_str().to_owned(),
        order_key: text(row.order_key).into_owned(),
        order_id: t(row.order_id),
        reservation_id: t(row.reservation_id),
        state: row.state.as_str(),
        version: req.cache_version as i64,
        now: at,
        task_ids: Vec::with_capacity(n),
        tasks: outcome.tasks().to_vec(),
        outbox: deliveries,
        task_cols: Vec::with_capacity(n),
        quantities: Vec::with_capacity(n),
        merge_slots: Vec::with_capacity(n),
        slots: Vec::new(),
        context: context.map(|c| {
            [
                t(Some(c.reservation_id)),
                t(c.room_number),
                t(c.first_name),
                t(c.last_name),
                t(c.language),
                t(c.check_in),
                t(c.check_out),
            ]
        }),
        received_at: time::format(req.received_at),
        event: req.event.as_deref().map(|s| text(s).into_owned()),
        code: outcome.code(),
        task_ids_json: String::new(),
        body: text(&body_text(&req.body)).into_owned(),
        duration_us: 0,
    };
    for (d, task) in new_tasks.into_iter().zip(outcome.tasks()) {
        let later_until = d.later_until(&order.now);
        order
            .quantities
            .push(super::ingest::column_quantity(d.quantity));
        order.merge_slots.push(d.merge_slot);
        if let (true, Some(ext)) = (d.merge_slot, &d.external_id) {
            order.slots.push((d.room.clone(), ext.clone()));
        }
        order.task_cols.push([
            d.item_key,
            d.order_id,
            d.reservation_id,
            d.external_id,
            Some(d.task_name),
            Some(d.room),
            d.guest_name,
            d.department,
            d.notes,
            d.language,
            d.requested_at.map(time::format),
            d.due_at.map(time::format),
            d.escalate_at.map(time::format),
            later_until,
        ]);
        order.task_ids.push(task.id.clone());
    }
    order.task_ids_json = json_list(&order.task_ids);
    order.duration_us = req.started.elapsed().as_micros() as i64;
    let (reply, answer) = oneshot::channel();
    let stopped = || StoreError::Unavailable("the batch writer has stopped".into());
    batcher
        .send(NewOrderJob { order, reply })
        .await
        .map_err(|_| stopped())?;
    let written = answer.await.map_err(|_| stopped())??;
    Ok(written.then_some(outcome))
}
