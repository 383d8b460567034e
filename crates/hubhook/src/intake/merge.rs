//! Merging repeated requests (CONTRACT.md section 7), pure: which task a new order's item merges
//! into, what that task's quantity and `orderIds` become, and what cancelling one of a merged
//! task's orders does to it. [`super::settle()`] applies it; the store only reads the rows named
//! here and writes the [`MergeRows`] it is handed.
//!
//! The rules (docs/operations-model.md, "Merging repeated requests"):
//! - While a hotel merges (its merge window is not 0), the first task an order makes for a room and
//!   service holds that room's and service's *merge slot*: at most one open or accepted task per
//!   hotel, room and service holds it (a unique index, which is also what keeps two instances
//!   racing on the same room and service from both making a task).
//! - A later order's item for that room and service merges into the holder when the holder is
//!   `open` or `accepted` and the latest order in it (the one that made it, or the last one merged
//!   in) arrived at most the window before: the window counts from the latest request, so a guest
//!   who asks again every few minutes while nothing comes keeps one task.
//! - Otherwise the item makes a task as it always did; that task takes the slot over (the old
//!   holder keeps its orders and takes no more).
//! - Only tasks made from Duve orders hold a slot: a task staff made stands for no order.
//! - An order never merges with itself: each of its items is compared with the tasks that existed
//!   before it; two of its items that merge into one task add up.
//! - Cancelling one order of a merged task takes that order's quantity back off; the task is
//!   cancelled only when every order in it is.

use std::borrow::Cow;

use jiff::{SignedDuration, Timestamp};

use super::{OrderDecision, OrderPlan, OrderRead, Plan, TaskDraft, decide_order};
use crate::domain::{
    HotelFacts, Task, TaskStatus,
    outbound::{MergeNote, MergeReason},
};

/// A room and a service of a hotel: what a repeated request repeats.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotKey {
    /// The room number.
    pub room: String,
    /// The service's external ID.
    pub external_id: String,
}

/// The task holding a room's and service's merge slot, as the store read it (PostgreSQL locks it
/// for the transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotHolder {
    /// The task.
    pub task: Task,
    /// The idempotency key of the order that made it.
    pub order_key: String,
    /// That order's Duve id.
    pub order_id: Option<String>,
    /// When the latest order in it arrived: the last one merged in, else its creation.
    pub last_order_at: Timestamp,
    /// Whether an order merged into it already (its [`Share`]s exist).
    pub merged: bool,
}

impl SlotHolder {
    /// Whether this holder takes an order arriving at `now`, under a window of `window_secs`.
    pub fn takes(&self, window_secs: u32, now: Timestamp) -> bool {
        matches!(self.task.status, TaskStatus::Open | TaskStatus::Accepted)
            && now.duration_since(self.last_order_at)
                <= SignedDuration::from_secs(i64::from(window_secs))
    }

    fn holds(&self, room: &str, external_id: &str) -> bool {
        self.task.room == room && self.task.external_id.as_deref() == Some(external_id)
    }
}

/// One order's share of a merged task (a `task_orders` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The task.
    pub task_id: String,
    /// The order's idempotency key.
    pub order_key: String,
    /// The quantity it brought.
    pub quantity: u32,
    /// Whether that order was cancelled.
    pub cancelled: bool,
}

/// A share to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// The task.
    pub task_id: String,
    /// The order's idempotency key.
    pub order_key: String,
    /// The order's Duve id.
    pub order_id: Option<String>,
    /// The quantity it brought.
    pub quantity: u32,
    /// Whether the order merged into the task (false: the order that made it).
    pub merged: bool,
}

/// A task whose quantity changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityWrite {
    /// The task.
    pub task_id: String,
    /// Its quantity after.
    pub quantity: u32,
    /// Its `orderIds` after, when an order merged in (its `merged_at` becomes the settlement's time).
    pub order_ids: Option<Vec<String>>,
}

/// The rows a merge, or the cancellation of an order of a merged task, writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeRows {
    /// Slot holders whose window passed, whose slot a new task of this order takes over: released
    /// before the new tasks are inserted.
    pub released: Vec<String>,
    /// Tasks whose quantity changes.
    pub quantities: Vec<QuantityWrite>,
    /// Shares to insert.
    pub shares: Vec<ShareRow>,
    /// Shares of a cancelled order, marked cancelled.
    pub cancelled_shares: Vec<ShareKey>,
}

/// Which share: an order's in a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareKey {
    /// The order's idempotency key.
    pub order_key: String,
    /// The task.
    pub task_id: String,
}

impl MergeRows {
    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.released.is_empty()
            && self.quantities.is_empty()
            && self.shares.is_empty()
            && self.cancelled_shares.is_empty()
    }
}

/// The merge slots a new order's items could merge into, for the store to read before it settles
/// (each slot's holder, if any, into [`OrderRead::holders`]): none unless the plan is an order not
/// seen before and the hotel merges. Sorted: PostgreSQL locks the holders in this order.
pub fn slot_keys(
    plan: &Plan,
    hotel: &HotelFacts,
    read: &OrderRead,
    now: Timestamp,
) -> Vec<SlotKey> {
    let (Plan::Order(p), None, Some(_)) = (plan, read.state, hotel.merge_window_secs) else {
        return Vec::new();
    };
    let OrderDecision::Create { drafts, .. } = decide_order(p, hotel, read.context.as_ref(), now)
    else {
        return Vec::new();
    };
    let mut keys: Vec<SlotKey> = drafts
        .into_iter()
        .filter_map(|d| {
            Some(SlotKey {
                external_id: d.external_id?,
                room: d.room,
            })
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A new order's drafts, once compared with the slot holders.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OrderMerge {
    /// Drafts that make tasks, `merge_slot` set on those that take a slot.
    pub new: Vec<TaskDraft>,
    /// The holders merged into, grown, in the order of their first item.
    pub merged: Vec<Task>,
    /// Per merged task: what `task.merged` and its history line say.
    pub notes: Vec<MergeNote>,
    /// The rows to write.
    pub rows: MergeRows,
}

/// Compares a new order's drafts with the slot holders read for it (see the module's rules).
pub(super) fn merge_order(
    plan: &OrderPlan,
    drafts: Vec<TaskDraft>,
    holders: &[SlotHolder],
    hotel: &HotelFacts,
    now: Timestamp,
) -> OrderMerge {
    let mut out = OrderMerge {
        new: Vec::with_capacity(drafts.len()),
        merged: Vec::new(),
        notes: Vec::new(),
        rows: MergeRows::default(),
    };
    let Some(window) = hotel.merge_window_secs else {
        out.new = drafts;
        return out;
    };
    // Per holder merged into: its position in `holders`, and the quantity this order adds.
    let mut grows: Vec<(usize, u32)> = Vec::new();
    let mut claimed: Vec<SlotKey> = Vec::new();
    for mut d in drafts {
        let Some(ext) = d.external_id.clone() else {
            out.new.push(d);
            continue;
        };
        let holder = holders.iter().position(|h| h.holds(&d.room, &ext));
        if let Some(i) = holder.filter(|&i| holders[i].takes(window, now)) {
            match grows.iter_mut().find(|(j, _)| *j == i) {
                Some((_, q)) => *q = q.saturating_add(d.quantity),
                None => grows.push((i, d.quantity)),
            }
            continue;
        }
        let key = SlotKey {
            room: d.room.clone(),
            external_id: ext,
        };
        if !claimed.contains(&key) {
            claimed.push(key);
            d.merge_slot = true;
            if let Some(i) = holder {
                out.rows.released.push(holders[i].task.id.clone());
            }
        }
        out.new.push(d);
    }
    let order_id = plan.data.order_id.clone();
    for (i, added) in grows {
        let h = &holders[i];
        let mut task = h.task.clone();
        task.quantity = task.quantity.saturating_add(added);
        if let Some(id) = order_id.as_ref().filter(|id| !task.order_ids.contains(id)) {
            task.order_ids.push(id.clone());
        }
        out.rows.quantities.push(QuantityWrite {
            task_id: task.id.clone(),
            quantity: task.quantity,
            order_ids: Some(task.order_ids.clone()),
        });
        if !h.merged {
            // The first merge: the order that made the task gets its share too.
            out.rows.shares.push(ShareRow {
                task_id: task.id.clone(),
                order_key: h.order_key.clone(),
                order_id: h.order_id.clone(),
                quantity: h.task.quantity,
                merged: false,
            });
        }
        out.rows.shares.push(ShareRow {
            task_id: task.id.clone(),
            order_key: plan.order_key.clone(),
            order_id: order_id.clone(),
            quantity: added,
            merged: true,
        });
        out.notes.push(MergeNote {
            order_id: order_id.clone(),
            quantity_delta: i64::from(added),
            reason: MergeReason::OrderMerged,
        });
        out.merged.push(task);
    }
    out
}

/// How an order is named in a history line: its Duve id, else its idempotency key.
fn order_label<'a>(order_id: Option<&'a str>, order_key: &'a str) -> &'a str {
    order_id.unwrap_or(order_key)
}

/// The history line of an order merged into a task.
pub(super) fn merged_line(
    order_id: Option<&str>,
    order_key: &str,
    added: u32,
) -> Cow<'static, str> {
    Cow::Owned(format!(
        "merged order {}, quantity +{added}",
        order_label(order_id, order_key)
    ))
}

/// The history line of a merged task one of whose orders was cancelled.
pub(super) fn cancelled_line(order_key: &str, by: u32) -> Cow<'static, str> {
    Cow::Owned(format!(
        "order {order_key} cancelled in Duve, quantity -{by}"
    ))
}

/// What cancelling an order does to one of its tasks that is not final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShareCancel {
    /// No other order shares the task: it is cancelled, as any task of the order.
    Unshared,
    /// This order's share was cancelled before (a repeated cancellation): nothing changes.
    Already,
    /// The last order of the task still standing: the task is cancelled.
    Last,
    /// Other orders remain: the task's quantity comes down by `by`, to `quantity`.
    Shrink {
        /// The quantity after.
        quantity: u32,
        /// This order's quantity.
        by: u32,
    },
}

/// What cancelling the order `order_key` does to `task`, from the shares read for it.
pub(super) fn cancel_share(order_key: &str, task: &Task, shares: &[Share]) -> ShareCancel {
    let of_task = || shares.iter().filter(|s| s.task_id == task.id);
    let Some(mine) = of_task().find(|s| s.order_key == order_key) else {
        return ShareCancel::Unshared;
    };
    if mine.cancelled {
        return ShareCancel::Already;
    }
    let others = of_task()
        .filter(|s| s.order_key != order_key && !s.cancelled)
        .count();
    if others == 0 {
        return ShareCancel::Last;
    }
    ShareCancel::Shrink {
        quantity: task.quantity.saturating_sub(mine.quantity).max(1),
        by: mine.quantity,
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
