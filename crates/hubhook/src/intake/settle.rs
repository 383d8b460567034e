//! The settlement of one webhook, written once for every backend: from the plan, the hotel and the
//! rows the store read for this order and reservation, the outcome and every row to write. Pure.
//!
//! A backend runs it in four steps inside its transaction: read the order's state
//! ([`Plan::state_key`]), read what [`Plan::reads`] then names, read the holders of the merge slots
//! [`merge::slot_keys`] names (a new order of a hotel that merges), call [`settle`], and write what
//! the [`Settlement`] lists. It decides nothing itself.

use std::borrow::Cow;

use duve::{OrderData, ReservationFacts};
use jiff::Timestamp;

use super::merge::{self, MergeRows, Share, ShareCancel, SlotHolder};
use super::{
    OrderDecision, OrderPlan, Outcome, Plan, REASON_UNKNOWN_ORDER, TaskDraft, decide_order,
};
use crate::domain::{
    HotelFacts, Task, TaskId, TaskStatus,
    outbound::{MergeNote, MergeReason},
    time,
};

/// Who the history lines and moves of a webhook are written by (a chat line names it "Duve").
pub const ACTOR: &str = crate::domain::outbound::chat::DUVE_ACTOR;
/// The history note of a task cancelled because its order was.
pub const NOTE_CANCELLED: &str = "order cancelled in Duve";

/// What the `orders` table says of an order hubhook has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Its tasks were created.
    Created,
    /// Its cancellation arrived first: a creation delivered later makes no task.
    Cancelled,
}

impl OrderState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Cancelled => "cancelled",
        }
    }

    /// Reads the stored form back; `None` for anything this version never wrote.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "created" => Some(OrderState::Created),
            "cancelled" => Some(OrderState::Cancelled),
            _ => None,
        }
    }
}

/// The rows a settlement needs besides the order's state, as [`Plan::reads`] names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads<'a> {
    /// Read this order's tasks: those it made in creation order, then those it merged into in the
    /// order it merged.
    pub tasks_of: Option<&'a str>,
    /// Lock them too (they are about to move: a staff member's move elsewhere waits its turn).
    pub lock_tasks: bool,
    /// Read the shares of every task of this order that orders share ([`OrderRead::shares`]),
    /// after the tasks (and their locks).
    pub shares_of: Option<&'a str>,
    /// Read this reservation's stored context.
    pub context_of: Option<&'a str>,
}

impl Reads<'_> {
    /// Whether the settlement needs nothing read besides the order's state.
    pub fn is_empty(&self) -> bool {
        self.tasks_of.is_none() && self.context_of.is_none() && self.shares_of.is_none()
    }
}

impl Plan {
    /// The order whose stored state decides this webhook, read first.
    pub fn state_key(&self) -> Option<&str> {
        match self {
            Plan::Order(p) => Some(&p.order_key),
            Plan::Cancel { order_key } => Some(order_key),
            _ => None,
        }
    }

    /// What else to read, once the order's state is known.
    pub fn reads(&self, state: Option<OrderState>) -> Reads<'_> {
        match (self, state) {
            // A redelivery: answered with the tasks the first delivery made.
            (Plan::Order(p), Some(OrderState::Created)) => Reads {
                tasks_of: Some(&p.order_key),
                ..Reads::default()
            },
            (Plan::Order(p), None) => Reads {
                context_of: p
                    .data
                    .reservation_id
                    .as_deref()
                    .filter(|_| p.needs_context()),
                ..Reads::default()
            },
            (Plan::Cancel { order_key }, Some(OrderState::Created)) => Reads {
                tasks_of: Some(order_key),
                lock_tasks: true,
                shares_of: Some(order_key),
                context_of: None,
            },
            (Plan::Refund { order_key, .. }, _) => Reads {
                tasks_of: Some(order_key),
                ..Reads::default()
            },
            _ => Reads::default(),
        }
    }
}

/// What the store read for one webhook: the order's state and what [`Plan::reads`] named.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderRead {
    /// The order's state, `None` when hubhook has not seen it.
    pub state: Option<OrderState>,
    /// The order's tasks in creation order (empty unless asked for).
    pub tasks: Vec<Task>,
    /// The reservation's stored context (unless not asked for, or none is stored).
    pub context: Option<ReservationFacts>,
    /// The shares of the order's tasks that orders share, every order's (unless not asked for).
    pub shares: Vec<Share>,
    /// The holders of the merge slots [`merge::slot_keys`] named, those that exist.
    pub holders: Vec<SlotHolder>,
}

/// The `orders` row to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRow<'a> {
    /// The idempotency key.
    pub order_key: &'a str,
    /// Duve's order id.
    pub order_id: Option<&'a str>,
    /// The reservation the order belongs to.
    pub reservation_id: Option<&'a str>,
    /// The order's state.
    pub state: OrderState,
}

/// One line of a task's history written by [`ACTOR`]: a move when `from != to`, else a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine<'a> {
    /// The task's id.
    pub task_id: String,
    /// Its status before.
    pub from: TaskStatus,
    /// Its status after.
    pub to: TaskStatus,
    /// Why.
    pub note: Cow<'a, str>,
}

/// What a task change raises on the hotel's subscriptions (the outbox names the event types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    /// The task was created.
    Created,
    /// The task moved to this status.
    Moved(TaskStatus),
    /// Its quantity changed: an order merged into it, or one of its merged orders was cancelled.
    Merged(MergeNote),
}

/// Deliveries to queue for one task of the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The task's position in [`Outcome::tasks`].
    pub task: usize,
    /// What happened to it.
    pub raised: Raised,
}

/// The deliveries to queue, each with its task (positions outside `tasks` are passed over).
pub fn deliveries<'t>(
    outbox: &'t [Enqueue],
    tasks: &'t [Task],
) -> impl Iterator<Item = (&'t Task, &'t Raised)> + 't {
    outbox
        .iter()
        .filter_map(|e| tasks.get(e.task).map(|t| (t, &e.raised)))
}

/// What an event teaches about a reservation; a field it does not mention keeps its stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextWrite<'a> {
    /// The reservation's id (the key).
    pub reservation_id: &'a str,
    /// Room number.
    pub room_number: Option<&'a str>,
    /// Verified first name.
    pub first_name: Option<&'a str>,
    /// Verified last name.
    pub last_name: Option<&'a str>,
    /// Preferred language.
    pub language: Option<&'a str>,
    /// Check-in date.
    pub check_in: Option<&'a str>,
    /// Check-out date.
    pub check_out: Option<&'a str>,
}

impl<'a> ContextWrite<'a> {
    /// `None` when the event names no reservation or says nothing about it.
    fn said(self, reservation_id: Option<&'a str>) -> Option<Self> {
        let says_something = self.room_number.is_some()
            || self.first_name.is_some()
            || self.last_name.is_some()
            || self.language.is_some()
            || self.check_in.is_some()
            || self.check_out.is_some();
        reservation_id
            .filter(|_| says_something)
            .map(|reservation_id| Self {
                reservation_id,
                ..self
            })
    }

    /// What a reservation event says.
    pub fn of_facts(f: &'a ReservationFacts) -> Option<Self> {
        Self {
            reservation_id: "",
            room_number: f.room_number.as_deref(),
            first_name: f.first_name.as_deref(),
            last_name: f.last_name.as_deref(),
            language: f.language.as_deref(),
            check_in: f.check_in.as_deref(),
            check_out: f.check_out.as_deref(),
        }
        .said(f.reservation_id.as_deref())
    }

    /// What an order says about its reservation (its own fields, not what context filled in).
    pub fn of_order(d: &'a OrderData) -> Option<Self> {
        Self {
            reservation_id: "",
            room_number: d.room_number.as_deref(),
            first_name: d.first_name.as_deref(),
            last_name: d.last_name.as_deref(),
            language: d.language.as_deref(),
            check_in: None,
            check_out: None,
        }
        .said(d.reservation_id.as_deref())
    }
}

/// A webhook's outcome and every row its transaction writes, besides the inbound log's row (whose
/// code, details and task ids are the outcome's).
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement<'a> {
    /// The answer, complete before anything is written (new tasks' ids included).
    pub outcome: Outcome,
    /// The time of every row written, RFC 3339.
    pub at: String,
    /// The `orders` row to insert.
    pub order: Option<OrderRow<'a>>,
    /// Tasks to insert, for `order`: the i-th is the outcome's i-th task, which carries its id and
    /// creation time. Each starts `open` with one line of history by [`ACTOR`].
    pub new_tasks: Vec<TaskDraft>,
    /// Tasks whose status changes to `to`, with that line of history.
    pub moves: Vec<HistoryLine<'a>>,
    /// History lines on tasks whose status stays.
    pub notes: Vec<HistoryLine<'a>>,
    /// Deliveries to queue, per task of the outcome.
    pub outbox: Vec<Enqueue>,
    /// The reservation context to upsert.
    pub context: Option<ContextWrite<'a>>,
    /// What merging writes: slots released, quantities, shares (see [`merge`]).
    pub merge: MergeRows,
}

impl Settlement<'_> {
    /// The tasks to insert, each with the task the answer shows.
    pub fn new_tasks(&self) -> impl Iterator<Item = (&TaskDraft, &Task)> {
        self.new_tasks.iter().zip(self.outcome.tasks())
    }

    /// The deliveries to queue, each with its task.
    pub fn deliveries(&self) -> impl Iterator<Item = (&Task, &Raised)> {
        deliveries(&self.outbox, self.outcome.tasks())
    }
}

/// Settles a webhook (CONTRACT.md section 1): `read` holds what the store read as [`Plan::reads`]
/// asked, under the write lock of the transaction that will apply the result.
pub fn settle<'a>(
    plan: &'a Plan,
    hotel: &HotelFacts,
    read: OrderRead,
    now: Timestamp,
) -> Settlement<'a> {
    let mut s = Settlement {
        outcome: Outcome::Recorded,
        at: time::format(now),
        order: None,
        new_tasks: Vec::new(),
        moves: Vec::new(),
        notes: Vec::new(),
        outbox: Vec::new(),
        context: None,
        merge: MergeRows::default(),
    };
    s.outcome = match plan {
        Plan::Order(p) => settle_order(p, hotel, read, now, &mut s),
        Plan::Cancel { order_key } => match read.state {
            Some(OrderState::Created) => {
                let mut tasks = read.tasks;
                for (i, t) in tasks.iter_mut().enumerate() {
                    if !t.status.is_final() {
                        cancel_task(order_key, i, t, &read.shares, &mut s);
                    }
                }
                Outcome::Cancelled { tasks }
            }
            Some(OrderState::Cancelled) => Outcome::Ignored {
                reason: REASON_UNKNOWN_ORDER,
            },
            None => {
                // Remembered, so that a creation delivered after its cancellation makes no task.
                s.order = Some(OrderRow {
                    order_key,
                    order_id: Some(order_key),
                    reservation_id: None,
                    state: OrderState::Cancelled,
                });
                Outcome::Ignored {
                    reason: REASON_UNKNOWN_ORDER,
                }
            }
        },
        Plan::Refund { note, .. } => {
            s.notes = read
                .tasks
                .into_iter()
                .map(|t| HistoryLine {
                    task_id: t.id,
                    from: t.status,
                    to: t.status,
                    note: Cow::Borrowed(note.as_str()),
                })
                .collect();
            Outcome::Recorded
        }
        Plan::Record { facts } => {
            s.context = ContextWrite::of_facts(facts);
            Outcome::Recorded
        }
        Plan::Ignore { reason } => Outcome::Ignored { reason },
        Plan::Refuse(r) => Outcome::Refused(r.clone()),
    };
    s
}

/// Cancels the `i`-th task of a cancelled order, `t`, not final; or, when other orders still
/// stand in it, takes this order's quantity off (see [`merge`]).
fn cancel_task<'a>(
    order_key: &str,
    i: usize,
    t: &mut Task,
    shares: &[Share],
    s: &mut Settlement<'a>,
) {
    let share = merge::cancel_share(order_key, t, shares);
    if matches!(share, ShareCancel::Last | ShareCancel::Shrink { .. }) {
        s.merge.cancelled_shares.push(merge::ShareKey {
            order_key: order_key.to_owned(),
            task_id: t.id.clone(),
        });
    }
    let raised = match share {
        ShareCancel::Already => return,
        ShareCancel::Unshared | ShareCancel::Last => {
            s.moves.push(HistoryLine {
                task_id: t.id.clone(),
                from: t.status,
                to: TaskStatus::Cancelled,
                note: Cow::Borrowed(NOTE_CANCELLED),
            });
            t.status = TaskStatus::Cancelled;
            Raised::Moved(TaskStatus::Cancelled)
        }
        ShareCancel::Shrink { quantity, by } => {
            s.merge.quantities.push(merge::QuantityWrite {
                task_id: t.id.clone(),
                quantity,
                order_ids: None,
            });
            s.notes.push(HistoryLine {
                task_id: t.id.clone(),
                from: t.status,
                to: t.status,
                note: merge::cancelled_line(order_key, by),
            });
            t.quantity = quantity;
            Raised::Merged(MergeNote {
                order_id: Some(order_key.to_owned()),
                quantity_delta: -i64::from(by),
                reason: MergeReason::OrderCancelled,
            })
        }
    };
    s.outbox.push(Enqueue { task: i, raised });
}

fn settle_order<'a>(
    plan: &'a OrderPlan,
    hotel: &HotelFacts,
    read: OrderRead,
    now: Timestamp,
    s: &mut Settlement<'a>,
) -> Outcome {
    let order_id = plan.data.order_id.clone();
    match read.state {
        Some(OrderState::Cancelled) => Outcome::CancelledBeforeArrival,
        Some(OrderState::Created) => Outcome::Duplicate {
            order_id,
            tasks: read.tasks,
        },
        None => match decide_order(plan, hotel, read.context.as_ref(), now) {
            OrderDecision::Refuse(r) => Outcome::Refused(r),
            OrderDecision::Create { drafts, skipped } => {
                s.order = Some(OrderRow {
                    order_key: &plan.order_key,
                    order_id: plan.data.order_id.as_deref(),
                    reservation_id: plan.data.reservation_id.as_deref(),
                    state: OrderState::Created,
                });
                let merged = merge::merge_order(plan, drafts, &read.holders, hotel, now);
                // The answer's tasks: the new ones first (the i-th is `new_tasks`' i-th), then those
                // the order merged into.
                let mut tasks: Vec<Task> = merged
                    .new
                    .iter()
                    .map(|d| d.to_task(TaskId::generate().into_string(), s.at.clone()))
                    .collect();
                let created = tasks.len();
                s.outbox = (0..created)
                    .map(|task| Enqueue {
                        task,
                        raised: Raised::Created,
                    })
                    .collect();
                for (j, (task, note)) in merged.merged.into_iter().zip(merged.notes).enumerate() {
                    s.notes.push(HistoryLine {
                        task_id: task.id.clone(),
                        from: task.status,
                        to: task.status,
                        note: merge::merged_line(
                            plan.data.order_id.as_deref(),
                            &plan.order_key,
                            u32::try_from(note.quantity_delta).unwrap_or(u32::MAX),
                        ),
                    });
                    s.outbox.push(Enqueue {
                        task: created + j,
                        raised: Raised::Merged(note),
                    });
                    tasks.push(task);
                }
                s.new_tasks = merged.new;
                s.merge = merged.rows;
                // Only an order the hotel accepted teaches the reservation anything: a refused one
                // (say, naming a room the hotel lacks) must not spoil later orders.
                s.context = ContextWrite::of_order(&plan.data);
                if created == 0 {
                    Outcome::Merged {
                        order_id,
                        tasks,
                        skipped,
                    }
                } else {
                    Outcome::Created {
                        order_id,
                        tasks,
                        skipped,
                    }
                }
            }
        },
    }
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
