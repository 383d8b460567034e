//! The SQLite store's outbox: queueing deliveries inside the writer's transaction, claiming them,
//! recording attempts (the SQL), and [`OutboxStore`]'s jobs. What is not SQL is in `store/outbox.rs`.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, hotel_exists};
use crate::intake::Raised;
use crate::{
    domain::{
        Task,
        escalation::Reason,
        outbound::{
            CODE_GONE, CODE_REMOVED, ChatFacts, DeliveryStatus, EventType, GONE_MESSAGE, OrderRefs,
            REMOVED_MESSAGE, Target, earliest, events_to_text, fair::REPLAY_PENDING_CAP,
            needs_chat_facts, needs_order_refs,
        },
        time,
    },
    store::{
        AttemptRecord, Claimed, Delivery, NewSubscription, OutboxStore, Scope, StoreError,
        Subscription,
        outbox::{
            self as shared, AttemptWrite, DELIVERY_COLS, Detail, SUB_COLS, check_replay,
            check_replay_limit, check_subscription_cap, delivery_from_row, subscription_from_row,
        },
        rows::TASK_COLS,
    },
};

/// Runs `sql` and reads every row with `f`.
pub(super) fn rows<T>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    conn.prepare_cached(sql)?.query_and_then(p, f)?.collect()
}

/// Runs `sql` and reads its first row, if any, with `f`.
fn first<T>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    conn.prepare_cached(sql)?
        .query_and_then(p, f)?
        .next()
        .transpose()
}

/// Queues a delivery of each of `events` for `task` to every enabled subscription of the hotel that
/// wants it; returns how many. Runs inside the transaction that changed the task.
pub(super) fn enqueue(
    conn: &Connection,
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
) -> Result<usize, StoreError> {
    enqueue_with(conn, hotel, task, events, None, now)
}

/// Queues `task.escalated` for `task`'s escalation for `reason`; returns how many deliveries.
pub(super) fn enqueue_escalation(
    conn: &Connection,
    hotel: &str,
    task: &Task,
    reason: Reason,
    now: &str,
) -> Result<usize, StoreError> {
    enqueue_with(
        conn,
        hotel,
        task,
        &[EventType::Escalated],
        Some(Detail::Escalation(reason)),
        now,
    )
}

/// Queues what a webhook's settlement raised on `task`; returns how many deliveries.
pub(super) fn enqueue_raised(
    conn: &Connection,
    hotel: &str,
    task: &Task,
    raised: &Raised,
    now: &str,
) -> Result<usize, StoreError> {
    let events = crate::store::raised_events(raised);
    let detail = crate::store::raised_detail(raised);
    enqueue_with(conn, hotel, task, events, detail, now)
}

/// Queues `task.assigned` for `task`, whose assignee was `previous` (an email, or nobody); returns
/// how many deliveries.
pub(super) fn enqueue_assignment(
    conn: &Connection,
    hotel: &str,
    task: &Task,
    previous: Option<&str>,
    now: &str,
) -> Result<usize, StoreError> {
    let detail = Some(Detail::PreviousAssignee(previous));
    enqueue_with(conn, hotel, task, &[EventType::Assigned], detail, now)
}

fn enqueue_with(
    conn: &Connection,
    hotel: &str,
    task: &Task,
    events: &[EventType],
    detail: Option<Detail<'_>>,
    now: &str,
) -> Result<usize, StoreError> {
    let targets: Vec<Target> = rows(conn, super::hot::ENQUEUE_SUBSCRIPTIONS, [hotel], |r| {
        shared::target_from_row(r)
    })?;
    let refs = match needs_order_refs(&targets, events) {
        true => first(conn, super::hot::TASK_ORDER_REFS, [&task.id], |r| {
            shared::order_refs_from_row(r)
        })?
        .unwrap_or_default(),
        false => OrderRefs::default(),
    };
    let chat = match needs_chat_facts(&targets, events) {
        true => shared::chat_facts(
            first(conn, super::hot::HOTEL_TIMEZONE, [hotel], |r| Ok(r.get(0)?))?,
            first(conn, super::hot::TASK_LAST_ACTOR, [&task.id], |r| {
                Ok(r.get(0)?)
            })?,
        ),
        false => ChatFacts::default(),
    };
    let queued = shared::deliveries(hotel, task, events, detail, now, &targets, (&refs, &chat))?;
    let mut insert = conn.prepare_cached(super::hot::INSERT_DELIVERY)?;
    for d in &queued {
        let event = d.event.as_str();
        insert.execute(params![
            d.id,
            hotel,
            d.subscription_id,
            task.id,
            event,
            d.payload,
            now
        ])?;
    }
    Ok(queued.len())
}

fn insert_subscription(
    conn: &Connection,
    sub: &crate::store::NewSubscription,
    id: &str,
    now: &str,
) -> Result<Subscription, StoreError> {
    let headers = shared::headers_to_text(&sub.headers)?;
    conn.prepare_cached(
        "INSERT INTO subscriptions (id, hotel_id, kind, url, events, headers, secret, bearer,
             template, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)",
    )?
    .execute(params![
        id,
        sub.hotel.as_str(),
        sub.kind.as_str(),
        sub.url,
        events_to_text(&sub.events),
        headers,
        sub.secret,
        sub.bearer,
        sub.template,
        now
    ])?;
    subscription(conn, Scope::Any, id)?.ok_or(StoreError::NotFound)
}

fn subscription(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
) -> Result<Option<Subscription>, StoreError> {
    first(
        conn,
        &format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE id = ?1 AND (?2 IS NULL OR hotel_id = ?2)"
        ),
        params![id, scope.hotel()],
        |r| subscription_from_row(r),
    )
}

fn list_subscriptions(
    conn: &Connection,
    scope: Scope<'_>,
) -> Result<Vec<Subscription>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE (?1 IS NULL OR hotel_id = ?1)
             ORDER BY created_at, id"
        ),
        [scope.hotel()],
        |r| subscription_from_row(r),
    )
}

fn remove_subscription(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
    now: &str,
) -> Result<(), StoreError> {
    let n = conn
        .prepare_cached(
            "DELETE FROM subscriptions WHERE id = ?1 AND (?2 IS NULL OR hotel_id = ?2)",
        )?
        .execute(params![id, scope.hotel()])?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    end_pending(conn, id, CODE_REMOVED, REMOVED_MESSAGE, now)
}

fn end_pending(
    conn: &Connection,
    subscription: &str,
    code: &str,
    message: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'failed', last_code = ?2, last_message = ?3,
             claimed_until = NULL, next_attempt_at = NULL, updated_at = ?4
         WHERE subscription_id = ?1 AND status = 'pending'",
    )?
    .execute(params![subscription, code, message, now])?;
    Ok(())
}

fn rotate_secret(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
    secret: &str,
    keep_until: &str,
) -> Result<Subscription, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE subscriptions SET old_secret = secret, old_secret_until = ?3, secret = ?4
             WHERE id = ?1 AND (?2 IS NULL OR hotel_id = ?2) AND kind = 'webhook'",
        )?
        .execute(params![id, scope.hotel(), keep_until, secret])?;
    let found = subscription(conn, scope, id)?;
    match n {
        0 => Err(shared::not_rotated(found)),
        _ => found.ok_or(StoreError::NotFound),
    }
}

fn record(conn: &Connection, a: &AttemptRecord) -> Result<(), StoreError> {
    let AttemptWrite {
        at,
        latency_us,
        resolution: res,
        gone_reason,
    } = AttemptWrite::of(a);
    conn.prepare_cached(
        "INSERT INTO delivery_attempts (delivery_id, at, status, error, latency_us, response)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        a.delivery, at, a.status, a.error, latency_us, a.response
    ])?;
    let (status, next) = (res.status.as_str(), res.next_attempt_at);
    let sub: Option<String> = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3,
                 claimed_until = NULL, last_code = ?4, last_message = ?5, updated_at = ?6
             WHERE id = ?1 RETURNING subscription_id",
        )?
        .query_row(
            params![a.delivery, status, next, res.code, res.message, at],
            |r| r.get(0),
        )
        .optional()?;
    if let (Some(reason), Some(sub)) = (gone_reason, sub) {
        conn.prepare_cached(
            "UPDATE subscriptions SET enabled = 0, disabled_reason = ?2 WHERE id = ?1",
        )?
        .execute(params![sub, reason])?;
        end_pending(conn, &sub, CODE_GONE, GONE_MESSAGE, &at)?;
    }
    Ok(())
}

fn list_deliveries(
    conn: &Connection,
    scope: Scope<'_>,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    rows(
        conn,
        &format!(
            "SELECT {DELIVERY_COLS} FROM deliveries
             WHERE (?1 IS NULL OR hotel_id = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY seq DESC LIMIT ?3"
        ),
        params![scope.hotel(), status.map(DeliveryStatus::as_str), limit],
        |r| delivery_from_row(r, false),
    )
}

fn delivery(conn: &Connection, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError> {
    let found = first(
        conn,
        &format!(
            "SELECT {DELIVERY_COLS}, payload FROM deliveries
             WHERE id = ?1 AND (?2 IS NULL OR hotel_id = ?2)"
        ),
        params![id, scope.hotel()],
        |r| delivery_from_row(r, true),
    )?;
    let Some(mut d) = found else {
        return Ok(None);
    };
    d.attempt_log = Some(rows(
        conn,
        "SELECT at, status, error, latency_us, response FROM delivery_attempts
         WHERE delivery_id = ?1 ORDER BY seq",
        [id],
        |r| shared::attempt_from_row(r),
    )?);
    Ok(Some(d))
}

fn replay(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
    now: &str,
) -> Result<Delivery, StoreError> {
    first(
        conn,
        "SELECT d.subscription_id, s.enabled FROM deliveries d
         LEFT JOIN subscriptions s ON s.id = d.subscription_id
         WHERE d.id = ?1 AND (?2 IS NULL OR d.hotel_id = ?2)",
        params![id, scope.hotel()],
        |r| check_replay(r),
    )?
    .ok_or(StoreError::NotFound)?;
    first(
        conn,
        "SELECT d.status, coalesce(d.status = 'pending' AND d.claimed_until > ?2, 0),
                (SELECT count(*) FROM (SELECT 1 FROM deliveries p
                                       WHERE p.hotel_id = d.hotel_id AND p.status = 'pending'
                                       LIMIT ?3))
         FROM deliveries d WHERE d.id = ?1",
        params![id, now, REPLAY_PENDING_CAP],
        |r| check_replay_limit(r),
    )?;
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2,
             claimed_until = NULL, last_code = NULL, last_message = NULL, updated_at = ?2
         WHERE id = ?1",
    )?
    .execute([id, now])?;
    shared::summary(delivery(conn, scope, id)?)
}

/// Tasks past their due time and not yet reported: marked, and `task.overdue` queued for each.
fn raise_overdue(conn: &Connection, now: &str, limit: u32) -> Result<(u32, usize), StoreError> {
    let due = rows(
        conn,
        &format!(
            "SELECT hotel_id, {TASK_COLS}
             FROM tasks
             WHERE overdue_raised = 0 AND due_at IS NOT NULL
               AND status NOT IN ('done', 'cancelled') AND due_at <= ?1
             ORDER BY due_at LIMIT ?2"
        ),
        params![now, limit],
        |r| shared::overdue_from_row(r),
    )?;
    let mut queued = 0;
    for (hotel, task) in &due {
        conn.prepare_cached("UPDATE tasks SET overdue_raised = 1 WHERE id = ?1")?
            .execute([&task.id])?;
        queued += enqueue(conn, hotel, task, &[EventType::Overdue], now)?;
    }
    Ok((due.len() as u32, queued))
}

fn next_work(conn: &Connection) -> Result<Option<String>, StoreError> {
    let delivery: Option<String> = conn
        .prepare_cached(
            "SELECT min(coalesce(max(next_attempt_at, coalesce(claimed_until, '')), next_attempt_at))
             FROM deliveries WHERE status = 'pending'",
        )?
        .query_row([], |r| r.get(0))?;
    let due: Option<String> = conn
        .prepare_cached(
            "SELECT min(due_at) FROM tasks
             WHERE overdue_raised = 0 AND due_at IS NOT NULL AND status NOT IN ('done', 'cancelled')",
        )?
        .query_row([], |r| r.get(0))?;
    let escalation: Option<String> = conn
        .prepare_cached("SELECT min(escalate_at) FROM tasks WHERE escalate_at IS NOT NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(earliest(earliest(delivery, due), escalation))
}

/// Runs `f` with the scope an owned hotel id (moved into a job) describes.
fn with_scope<R>(hotel: &Option<String>, f: impl FnOnce(Scope<'_>) -> R) -> R {
    match hotel {
        Some(h) => f(Scope::Hotel(h)),
        None => f(Scope::Any),
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    async fn create_subscription(
        &self,
        sub: NewSubscription,
        max_per_hotel: u32,
    ) -> Result<Subscription, StoreError> {
        self.write(move |c| {
            hotel_exists(c, sub.hotel.as_str())?;
            let existing: i64 = c
                .prepare_cached("SELECT count(*) FROM subscriptions WHERE hotel_id = ?1")?
                .query_row([sub.hotel.as_str()], |r| r.get(0))?;
            check_subscription_cap(existing, max_per_hotel)?;
            let now = time::format(time::now());
            insert_subscription(
                c,
                &sub,
                &crate::domain::outbound::new_subscription_id(),
                &now,
            )
        })
        .await
    }

    async fn list_subscriptions(&self, scope: Scope<'_>) -> Result<Vec<Subscription>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        self.read(move |c| with_scope(&hotel, |s| list_subscriptions(c, s)))
            .await
    }

    async fn remove_subscription(&self, scope: Scope<'_>, id: &str) -> Result<(), StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        self.write(move |c| {
            let now = time::format(time::now());
            with_scope(&hotel, |s| remove_subscription(c, s, &id, &now))
        })
        .await
    }

    async fn rotate_secret(
        &self,
        scope: Scope<'_>,
        id: &str,
        secret: String,
        keep_old_until: Timestamp,
    ) -> Result<Subscription, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        self.write(move |c| {
            let until = time::format(keep_old_until);
            with_scope(&hotel, |s| rotate_secret(c, s, &id, &secret, &until))
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        per_hotel: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.write(move |c| {
            let now = time::now();
            let until = now
                .checked_add(jiff::SignedDuration::try_from(lease).unwrap_or_default())
                .unwrap_or(now);
            super::claim::claim(
                c,
                &time::format(now),
                &time::format(until),
                limit,
                per_hotel,
            )
        })
        .await
    }

    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        self.write(move |c| record(c, &attempt)).await
    }

    async fn release_claims(&self, ids: Vec<String>) -> Result<(), StoreError> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE deliveries SET claimed_until = NULL WHERE id = ?1 AND status = 'pending'",
            )?;
            for id in &ids {
                stmt.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self,
        scope: Scope<'_>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        self.read(move |c| with_scope(&hotel, |s| list_deliveries(c, s, status, limit)))
            .await
    }

    async fn delivery(&self, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        self.read(move |c| with_scope(&hotel, |s| delivery(c, s, &id)))
            .await
    }

    async fn replay_delivery(&self, scope: Scope<'_>, id: &str) -> Result<Delivery, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        let id = id.to_owned();
        let d = self
            .write(move |c| {
                let now = time::format(time::now());
                with_scope(&hotel, |s| replay(c, s, &id, &now))
            })
            .await?;
        self.queued(1);
        Ok(d)
    }

    async fn raise_overdue(&self, limit: u32) -> Result<u32, StoreError> {
        let (n, queued) = self
            .write(move |c| raise_overdue(c, &time::format(time::now()), limit))
            .await?;
        self.queued(queued);
        Ok(n)
    }

    async fn next_outbox_work(&self) -> Result<Option<Timestamp>, StoreError> {
        let next = self.read(next_work).await?;
        Ok(next.and_then(|t| time::parse_instant(&t)))
    }
}
