//! What both backends' outbox code shares: the column lists they select, turning a result row into
//! the store's outbox types, and applying the outbound rules of [`crate::domain::outbound`] to what
//! was read. `sqlite_outbox.rs` and `postgres_outbox.rs` hold only their SQL and how to run it.

use super::{Attempt, AttemptRecord, Claimed, Delivery, Header, StoreError, Subscription};
use crate::domain::{
    Task, TaskStatus,
    outbound::{
        self, DeliveryStatus, EventType, NewDelivery, OrderRefs, Resolution, SubscriptionKind,
        Target, Verdict,
    },
    time,
};

/// One result row, read by column index; each backend implements it for its own row type.
pub(super) trait Columns {
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column of any width.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A nullable integer column of any width.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    /// A nullable boolean column (from an outer join).
    fn opt_flag(&self, i: usize) -> Result<Option<bool>, StoreError>;
}

fn stored(what: &str, raw: &str) -> StoreError {
    StoreError::Unavailable(format!("unknown {what} {raw:?} stored"))
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// The columns [`subscription_from_row`] reads, in its order.
pub(super) const SUB_COLS: &str = "id, hotel_id, kind, url, events, headers, enabled, \
                                   disabled_reason, old_secret_until, created_at";

/// A subscription from the columns of [`SUB_COLS`].
pub(super) fn subscription_from_row(r: &impl Columns) -> Result<Subscription, StoreError> {
    let kind = r.text(2)?;
    Ok(Subscription {
        id: r.text(0)?,
        hotel_id: r.text(1)?,
        kind: SubscriptionKind::parse(&kind).ok_or_else(|| stored("subscription kind", &kind))?,
        url: r.text(3)?,
        events: outbound::events_from_text(&r.text(4)?),
        headers: headers_from_text(&r.text(5)?),
        enabled: r.flag(6)?,
        disabled_reason: r.opt_text(7)?,
        previous_secret_until: r.opt_text(8)?,
        created_at: r.text(9)?,
    })
}

/// Extra headers as stored: a JSON array of `{name, value}`.
pub(super) fn headers_to_text(headers: &[Header]) -> Result<String, StoreError> {
    serde_json::to_string(headers).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn headers_from_text(raw: &str) -> Vec<Header> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// Why a rotation changed no row: the subscription (as then read) is not a signed webhook, or is
/// not there.
pub(super) fn not_rotated(found: Option<Subscription>) -> StoreError {
    match found {
        Some(_) => {
            StoreError::Invalid("only a signed webhook subscription has a secret to rotate".into())
        }
        None => StoreError::NotFound,
    }
}

/// A queueing target from `id, kind, events, template`.
pub(super) fn target_from_row(r: &impl Columns) -> Result<Target, StoreError> {
    Ok(Target::from_stored(
        r.text(0)?,
        &r.text(1)?,
        &r.text(2)?,
        r.opt_text(3)?,
    ))
}

/// A task's order references from `order_id, reservation_id`.
pub(super) fn order_refs_from_row(r: &impl Columns) -> Result<OrderRefs, StoreError> {
    Ok(OrderRefs {
        order_id: r.opt_text(0)?,
        reservation_id: r.opt_text(1)?,
    })
}

/// The deliveries to insert for `events` on `task` (see [`outbound::deliveries_for`]).
pub(super) fn deliveries(
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
    targets: &[Target],
    refs: &OrderRefs,
) -> Result<Vec<NewDelivery>, StoreError> {
    outbound::deliveries_for(hotel, task, events, now, targets, refs)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A claimed delivery from `d.id, d.hotel_id, d.payload, d.attempts, s.id, s.kind, s.url,
/// s.headers, s.secret, s.old_secret, s.old_secret_until, s.bearer`, claimed at `now`.
pub(super) fn claimed_from_row(r: &impl Columns, now: &str) -> Result<Claimed, StoreError> {
    let kind = r.text(5)?;
    Ok(Claimed {
        id: r.text(0)?,
        hotel_id: r.text(1)?,
        payload: r.text(2)?,
        attempts: count(r.int(3)?),
        subscription_id: r.text(4)?,
        kind: SubscriptionKind::parse(&kind).ok_or_else(|| stored("subscription kind", &kind))?,
        url: r.text(6)?,
        headers: headers_from_text(&r.text(7)?),
        secrets: outbound::signing_secrets(r.opt_text(8)?, r.opt_text(9)?, r.opt_text(10)?, now),
        bearer: r.opt_text(11)?,
    })
}

/// What recording one attempt writes, the same on both backends.
pub(super) struct AttemptWrite {
    /// When it was made, as stored.
    pub at: String,
    /// How long it took, in microseconds.
    pub latency_us: i64,
    /// What the delivery row becomes.
    pub resolution: Resolution,
    /// A 410 Gone: why the subscription is disabled.
    pub gone_reason: Option<String>,
}

impl AttemptWrite {
    /// What `a` writes.
    pub fn of(a: &AttemptRecord) -> Self {
        let at = time::format(a.at);
        Self {
            latency_us: i64::try_from(a.latency.as_micros()).unwrap_or(i64::MAX),
            resolution: outbound::resolve(&a.verdict, a.at, a.status, a.error.as_deref()),
            gone_reason: (a.verdict == Verdict::Gone).then(|| outbound::gone_reason(&at)),
            at,
        }
    }
}

/// The columns [`delivery_from_row`] reads, in its order (`payload` may follow, at 12).
pub(super) const DELIVERY_COLS: &str = "id, hotel_id, subscription_id, task_id, event, status, \
                                        attempts, next_attempt_at, last_code, last_message, \
                                        created_at, updated_at";

/// A delivery from the columns of [`DELIVERY_COLS`], and its payload when `with_payload`.
pub(super) fn delivery_from_row(
    r: &impl Columns,
    with_payload: bool,
) -> Result<Delivery, StoreError> {
    let status = r.text(5)?;
    Ok(Delivery {
        id: r.text(0)?,
        hotel_id: r.text(1)?,
        subscription_id: r.text(2)?,
        task_id: r.opt_text(3)?,
        event: r.text(4)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| stored("delivery status", &status))?,
        attempts: count(r.int(6)?),
        next_attempt_at: r.opt_text(7)?,
        code: r.opt_text(8)?,
        message: r.opt_text(9)?,
        created_at: r.text(10)?,
        updated_at: r.text(11)?,
        payload: if with_payload {
            Some(r.text(12)?)
        } else {
            None
        },
        attempt_log: None,
    })
}

/// One attempt from `at, status, error, latency_us, response`.
pub(super) fn attempt_from_row(r: &impl Columns) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        at: r.text(0)?,
        status: r.opt_int(1)?.and_then(|s| u16::try_from(s).ok()),
        error: r.opt_text(2)?,
        latency_ms: r.int(3)? as f64 / 1000.0,
        response: r.text(4)?,
    })
}

/// Refuses a replay (from `d.subscription_id, s.enabled`, the subscription outer-joined) unless
/// the delivery's subscription is still there and enabled.
pub(super) fn check_replay(r: &impl Columns) -> Result<(), StoreError> {
    match outbound::replay_refusal(&r.text(0)?, r.opt_flag(1)?) {
        Some(why) => Err(StoreError::Conflict(why)),
        None => Ok(()),
    }
}

/// A replayed delivery as the API answers it: without its payload and attempt log.
pub(super) fn summary(d: Option<Delivery>) -> Result<Delivery, StoreError> {
    let mut d = d.ok_or(StoreError::NotFound)?;
    d.payload = None;
    d.attempt_log = None;
    Ok(d)
}

/// An overdue task and its hotel from `hotel_id, id, external_id, task_name, room, guest_name,
/// quantity, status, due_at, created_at`.
pub(super) fn overdue_from_row(r: &impl Columns) -> Result<(String, Task), StoreError> {
    let status = r.text(7)?;
    Ok((
        r.text(0)?,
        Task {
            id: r.text(1)?,
            external_id: r.opt_text(2)?,
            task_name: r.text(3)?,
            room: r.text(4)?,
            guest_name: r.opt_text(5)?,
            quantity: count(r.int(6)?),
            status: TaskStatus::parse(&status).ok_or_else(|| stored("task status", &status))?,
            due_at: r.opt_text(8)?,
            created_at: r.text(9)?,
        },
    ))
}
