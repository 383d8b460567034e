//! What both backends' outbox code shares: the column lists they select, turning a result row into
//! the store's outbox types, and applying the outbound rules of [`crate::domain::outbound`] to what
//! was read. `sqlite_outbox.rs` and `postgres_outbox.rs` hold only their SQL and how to run it.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use super::StoreError;
use super::rows::{Columns, count, stored, task_at};
use crate::domain::HotelId;
pub(super) use crate::domain::outbound::Detail;
use crate::domain::{
    Task,
    hotel::parse_timezone,
    outbound::{
        self, ChatFacts, DeliveryStatus, EventType, NewDelivery, OrderRefs, Resolution,
        SubscriptionKind, Target, Verdict,
    },
    time,
};

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

/// Why a rotation changed no row: the subscription (as then read) is not a signed webhook (a
/// conflict with what it is), or is not there.
pub(super) fn not_rotated(found: Option<Subscription>) -> StoreError {
    match found {
        Some(_) => {
            StoreError::Conflict("only a signed webhook subscription has a secret to rotate".into())
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

/// A chat line's facts from the hotel's stored timezone (UTC if it does not parse) and the
/// task's newest history actor.
pub(super) fn chat_facts(timezone: Option<String>, actor: Option<String>) -> ChatFacts {
    ChatFacts {
        tz: timezone
            .as_deref()
            .and_then(parse_timezone)
            .unwrap_or(jiff::tz::TimeZone::UTC),
        actor,
    }
}

/// The deliveries to insert for `events` on `task`, with what `detail` adds to a webhook's body
/// (see [`outbound::deliveries_with`]: a reason for `task.escalated`, the order and quantity for
/// `task.merged`, the previous assignee for `task.assigned`).
pub(super) fn deliveries(
    hotel: &str,
    task: &Task,
    events: &[EventType],
    detail: Option<Detail<'_>>,
    now: &str,
    targets: &[Target],
    (refs, chat): (&OrderRefs, &ChatFacts),
) -> Result<Vec<NewDelivery>, StoreError> {
    outbound::deliveries_with(hotel, task, events, now, targets, (refs, chat), detail)
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

/// Refuses a replay by [`outbound::fair::replay_refusal`], from `status, in_flight, pending` (the
/// delivery's status, whether its lease runs, and how many deliveries its hotel has pending,
/// counted up to the cap): a delivery being sent is a conflict, a backlog a limit.
pub(super) fn check_replay_limit(r: &impl Columns) -> Result<(), StoreError> {
    let already_pending = r.text(0)? == DeliveryStatus::Pending.as_str();
    let pending = u64::from(count(r.int(2)?));
    match outbound::fair::replay_refusal(pending, already_pending, r.flag(1)?) {
        Some(why @ outbound::fair::ReplayRefusal::InFlight) => {
            Err(StoreError::Conflict(why.to_string()))
        }
        Some(why) => Err(StoreError::Limit(why.to_string())),
        None => Ok(()),
    }
}

/// Refuses a new subscription of a hotel that has `existing` of at most `max`.
pub(super) fn check_subscription_cap(existing: i64, max: u32) -> Result<(), StoreError> {
    match outbound::fair::subscription_refusal(u64::from(count(existing)), max) {
        Some(why) => Err(StoreError::Limit(why)),
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

/// An overdue task and its hotel from `hotel_id` and [`super::rows::TASK_COLS`].
pub(super) fn overdue_from_row(r: &impl Columns) -> Result<(String, Task), StoreError> {
    Ok((r.text(0)?, task_at(r, 1)?))
}

/// Which hotel's rows an operation may touch: the API passes its key's hotel; the CLI, run by the
/// operator on the database itself, may name any row by its id.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A hotel's id (as `HotelId::as_str` gives it).
    Hotel(&'a str),
    Any,
}

impl Scope<'_> {
    pub(crate) fn hotel(&self) -> Option<&str> {
        match self {
            Scope::Hotel(h) => Some(h),
            Scope::Any => None,
        }
    }
}

/// An extra header a subscription sends with every delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

pub struct NewSubscription {
    pub hotel: HotelId,
    pub kind: SubscriptionKind,
    pub url: String,
    pub events: Vec<EventType>,
    pub headers: Vec<Header>,
    /// `whsec_…` for a signed webhook; kept in clear, since signing needs it (see docs/outbound.md).
    pub secret: Option<String>,
    /// The Bearer token of a Duve Connect subscription.
    pub bearer: Option<String>,
    /// The body template of a Duve Connect subscription.
    pub template: Option<String>,
}

/// A subscription as the API and the CLI show it: never its secret or Bearer token.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub hotel_id: String,
    pub kind: SubscriptionKind,
    pub url: String,
    pub events: Vec<EventType>,
    pub headers: Vec<Header>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_until: Option<String>,
    pub created_at: String,
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub hotel_id: String,
    pub subscription_id: String,
    pub kind: SubscriptionKind,
    pub url: String,
    pub headers: Vec<Header>,
    /// Valid signing secrets, newest first.
    pub secrets: Vec<String>,
    pub bearer: Option<String>,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery: String,
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency: Duration,
    /// The first KiB of the answer's body.
    pub response: String,
    pub verdict: Verdict,
}

/// One recorded attempt of a delivery, as its detail shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: f64,
    pub response: String,
}

/// A delivery as the API and the CLI show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Also the `webhook-id` header: stable across the delivery's attempts.
    pub id: String,
    pub hotel_id: String,
    pub subscription_id: String,
    pub task_id: Option<String>,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only in a single delivery's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<Attempt>>,
}

/// The outbox: subscriptions, deliveries and their attempts.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Woken after every commit that queued deliveries (and by a poll, for other processes' commits).
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify>;
    /// Adds a subscription, refused ([`StoreError::Limit`]) when its hotel has `max_per_hotel`.
    async fn create_subscription(
        &self,
        sub: NewSubscription,
        max_per_hotel: u32,
    ) -> Result<Subscription, StoreError>;
    async fn list_subscriptions(&self, scope: Scope<'_>) -> Result<Vec<Subscription>, StoreError>;
    /// Removes a subscription; its pending deliveries end as failed.
    async fn remove_subscription(&self, scope: Scope<'_>, id: &str) -> Result<(), StoreError>;
    /// A new secret; the previous one keeps signing until `keep_old_until`.
    async fn rotate_secret(
        &self,
        scope: Scope<'_>,
        id: &str,
        secret: String,
        keep_old_until: Timestamp,
    ) -> Result<Subscription, StoreError>;
    /// Claims up to `limit` due deliveries for `lease` (the oldest pending delivery of a task and
    /// subscription only: a task's events go out in order), at most `per_hotel` claimed at once
    /// for any one hotel, those held already counted ([`outbound::pick_fair`]).
    async fn claim_deliveries(
        &self,
        limit: u32,
        per_hotel: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;
    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError>;
    /// Gives claimed deliveries back unattempted (a dispatcher stopping).
    async fn release_claims(&self, ids: Vec<String>) -> Result<(), StoreError>;
    async fn list_deliveries(
        &self,
        scope: Scope<'_>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    async fn delivery(&self, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError>;
    /// Sends a delivery again, from its first attempt, as soon as the dispatcher can; refused
    /// while it is being sent, or ([`StoreError::Limit`]) while its hotel has too many pending.
    async fn replay_delivery(&self, scope: Scope<'_>, id: &str) -> Result<Delivery, StoreError>;
    /// Marks tasks past their due time as overdue, queueing `task.overdue`; returns how many.
    async fn raise_overdue(&self, limit: u32) -> Result<u32, StoreError>;
    /// The earliest moment the dispatcher has work: a delivery's next attempt, a task's due time or
    /// its escalation deadline.
    async fn next_outbox_work(&self) -> Result<Option<Timestamp>, StoreError>;
}
