//! The SQLite store's outbox SQL: queueing deliveries inside the writer's transaction, claiming them,
//! recording attempts. Called from the jobs in `sqlite.rs`.

use crate::outbox::{Resolution, duve_connect_body, resolve, webhook_body};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Attempt, AttemptRecord, Claimed, Delivery, Header, Scope, StoreError, Subscription};
use crate::{
    domain::{Task, time},
    outbox::{CODE_GONE, DeliveryStatus, EventType, SubscriptionKind, Verdict},
};

/// The code pending deliveries end with when their subscription is removed.
pub const CODE_REMOVED: &str = "WEB_HUK_SUBSCRIPTION_REMOVED";

pub fn new_delivery_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

pub fn new_subscription_id() -> String {
    format!("sub_{}", uuid::Uuid::now_v7().simple())
}

fn events_to_text(events: &[EventType]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn events_from_text(raw: &str) -> Vec<EventType> {
    raw.split(',').filter_map(EventType::parse).collect()
}

fn conversion(msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, msg.into())
}

/// Queues a delivery of each of `events` for `task` to every enabled subscription of the hotel that
/// wants it; returns how many. Runs inside the transaction that changed the task.
pub fn enqueue(
    conn: &Connection,
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(super::sqlite_hot::ENQUEUE_SUBSCRIPTIONS)?;
    let subs: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([hotel], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    if subs.is_empty() {
        return Ok(0);
    }
    let mut order: Option<(Option<String>, Option<String>)> = None;
    let mut queued = 0;
    for (sub_id, kind, wanted, tmpl) in &subs {
        let wanted = events_from_text(wanted);
        for event in events.iter().filter(|e| wanted.contains(e)) {
            let payload = match SubscriptionKind::parse(kind) {
                Some(SubscriptionKind::DuveConnect) => {
                    if order.is_none() {
                        order = Some(
                            conn.prepare_cached(super::sqlite_hot::TASK_ORDER_REFS)?
                                .query_row([&task.id], |r| Ok((r.get(0)?, r.get(1)?)))
                                .optional()?
                                .unwrap_or((None, None)),
                        );
                    }
                    let (order_id, reservation_id) = order.clone().unwrap_or((None, None));
                    duve_connect_body(
                        tmpl.as_deref(),
                        task,
                        order_id.as_deref(),
                        reservation_id.as_deref(),
                        now,
                    )
                    .map_err(|e| StoreError::Invalid(e.to_string()))?
                }
                _ => webhook_body(*event, now, hotel, task),
            };
            conn.prepare_cached(super::sqlite_hot::INSERT_DELIVERY)?
                .execute(params![
                    new_delivery_id(),
                    hotel,
                    sub_id,
                    task.id,
                    event.as_str(),
                    payload,
                    now
                ])?;
            queued += 1;
        }
    }
    Ok(queued)
}

const SUB_COLS: &str = "id, hotel_id, kind, url, events, headers, enabled, disabled_reason, \
                        old_secret_until, created_at";

fn subscription_from_row(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    let kind: String = r.get(2)?;
    let events: String = r.get(4)?;
    let headers: String = r.get(5)?;
    Ok(Subscription {
        id: r.get(0)?,
        hotel_id: r.get(1)?,
        kind: SubscriptionKind::parse(&kind)
            .ok_or_else(|| conversion(format!("unknown subscription kind {kind:?}")))?,
        url: r.get(3)?,
        events: events_from_text(&events),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        enabled: r.get(6)?,
        disabled_reason: r.get(7)?,
        previous_secret_until: r.get(8)?,
        created_at: r.get(9)?,
    })
}

pub fn insert_subscription(
    conn: &Connection,
    sub: &super::NewSubscription,
    id: &str,
    now: &str,
) -> Result<Subscription, StoreError> {
    let headers =
        serde_json::to_string(&sub.headers).map_err(|e| StoreError::Invalid(e.to_string()))?;
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

pub fn subscription(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
) -> Result<Option<Subscription>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE id = ?1 AND (?2 IS NULL OR hotel_id = ?2)"
        ))?
        .query_row(params![id, scope.hotel()], subscription_from_row)
        .optional()?)
}

pub fn list_subscriptions(
    conn: &Connection,
    scope: Scope<'_>,
) -> Result<Vec<Subscription>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE (?1 IS NULL OR hotel_id = ?1)
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([scope.hotel()], subscription_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn remove_subscription(
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
    end_pending(conn, id, CODE_REMOVED, "The subscription was removed.", now)
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

pub fn rotate_secret(
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
    if n == 0 {
        return match subscription(conn, scope, id)? {
            Some(_) => Err(StoreError::Invalid(
                "only a signed webhook subscription has a secret to rotate".into(),
            )),
            None => Err(StoreError::NotFound),
        };
    }
    subscription(conn, scope, id)?.ok_or(StoreError::NotFound)
}

pub fn claim(
    conn: &Connection,
    now: &str,
    until: &str,
    limit: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.hotel_id, d.payload, d.attempts, s.id, s.kind, s.url, s.headers, s.secret,
                s.old_secret, s.old_secret_until, s.bearer
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
           AND (d.claimed_until IS NULL OR d.claimed_until <= ?1)
           AND NOT EXISTS (
               SELECT 1 FROM deliveries e
               WHERE e.subscription_id = d.subscription_id AND e.task_id = d.task_id
                 AND e.status = 'pending' AND e.seq < d.seq)
         ORDER BY d.next_attempt_at, d.seq
         LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], |r| {
        let kind: String = r.get(5)?;
        let headers: String = r.get(7)?;
        let secret: Option<String> = r.get(8)?;
        let old: Option<String> = r.get(9)?;
        let old_until: Option<String> = r.get(10)?;
        let mut secrets: Vec<String> = secret.into_iter().collect();
        if let (Some(old), Some(until)) = (old, old_until)
            && until.as_str() > now
        {
            secrets.push(old);
        }
        Ok(Claimed {
            id: r.get(0)?,
            hotel_id: r.get(1)?,
            payload: r.get(2)?,
            attempts: r.get(3)?,
            subscription_id: r.get(4)?,
            kind: SubscriptionKind::parse(&kind)
                .ok_or_else(|| conversion(format!("unknown subscription kind {kind:?}")))?,
            url: r.get(6)?,
            headers: serde_json::from_str::<Vec<Header>>(&headers).unwrap_or_default(),
            secrets,
            bearer: r.get(11)?,
        })
    })?;
    let claimed: Vec<Claimed> = rows.collect::<Result<_, _>>()?;
    let mut mark = conn.prepare_cached("UPDATE deliveries SET claimed_until = ?2 WHERE id = ?1")?;
    for c in &claimed {
        mark.execute([&c.id, until])?;
    }
    Ok(claimed)
}

pub fn record(conn: &Connection, a: &AttemptRecord) -> Result<(), StoreError> {
    let at = time::format(a.at);
    conn.prepare_cached(
        "INSERT INTO delivery_attempts (delivery_id, at, status, error, latency_us, response)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        a.delivery,
        at,
        a.status,
        a.error,
        a.latency.as_micros() as i64,
        a.response
    ])?;
    let Resolution {
        status,
        next_attempt_at: next,
        code,
        message,
    } = resolve(&a.verdict, a.at, a.status, a.error.as_deref());
    let sub: Option<String> = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?2, attempts = attempts + 1, next_attempt_at = ?3,
                 claimed_until = NULL, last_code = ?4, last_message = ?5, updated_at = ?6
             WHERE id = ?1 RETURNING subscription_id",
        )?
        .query_row(
            params![a.delivery, status.as_str(), next, code, message, at],
            |r| r.get(0),
        )
        .optional()?;
    if let (Verdict::Gone, Some(sub)) = (&a.verdict, sub) {
        conn.prepare_cached(
            "UPDATE subscriptions SET enabled = 0, disabled_reason = ?2 WHERE id = ?1",
        )?
        .execute(params![
            sub,
            format!("The receiver answered 410 Gone at {at}.")
        ])?;
        end_pending(
            conn,
            &sub,
            CODE_GONE,
            "The subscription was disabled by a 410 Gone answer.",
            &at,
        )?;
    }
    Ok(())
}

const DELIVERY_COLS: &str = "id, hotel_id, subscription_id, task_id, event, status, attempts, \
                             next_attempt_at, last_code, last_message, created_at, updated_at";

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let status: String = r.get(5)?;
    Ok(Delivery {
        id: r.get(0)?,
        hotel_id: r.get(1)?,
        subscription_id: r.get(2)?,
        task_id: r.get(3)?,
        event: r.get(4)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| conversion(format!("unknown delivery status {status:?}")))?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        code: r.get(8)?,
        message: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        payload: None,
        attempt_log: None,
    })
}

pub fn list_deliveries(
    conn: &Connection,
    scope: Scope<'_>,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLS} FROM deliveries
         WHERE (?1 IS NULL OR hotel_id = ?1) AND (?2 IS NULL OR status = ?2)
         ORDER BY seq DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![scope.hotel(), status.map(DeliveryStatus::as_str), limit],
        delivery_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delivery(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
) -> Result<Option<Delivery>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLS}, payload FROM deliveries
             WHERE id = ?1 AND (?2 IS NULL OR hotel_id = ?2)"
        ))?
        .query_row(params![id, scope.hotel()], |r| {
            let mut d = delivery_from_row(r)?;
            d.payload = Some(r.get(12)?);
            Ok(d)
        })
        .optional()?;
    let Some(mut d) = found else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT at, status, error, latency_us, response FROM delivery_attempts
         WHERE delivery_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        let us: i64 = r.get(3)?;
        Ok(Attempt {
            at: r.get(0)?,
            status: r.get(1)?,
            error: r.get(2)?,
            latency_ms: us as f64 / 1000.0,
            response: r.get(4)?,
        })
    })?;
    d.attempt_log = Some(rows.collect::<Result<_, _>>()?);
    Ok(Some(d))
}

pub fn replay(
    conn: &Connection,
    scope: Scope<'_>,
    id: &str,
    now: &str,
) -> Result<Delivery, StoreError> {
    let sub: Option<(String, Option<bool>)> = conn
        .prepare_cached(
            "SELECT d.subscription_id, s.enabled FROM deliveries d
             LEFT JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.id = ?1 AND (?2 IS NULL OR d.hotel_id = ?2)",
        )?
        .query_row(params![id, scope.hotel()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match sub {
        None => return Err(StoreError::NotFound),
        Some((_, None)) => {
            return Err(StoreError::Conflict(
                "the delivery's subscription was removed: add it again, then replay".into(),
            ));
        }
        Some((s, Some(false))) => {
            return Err(StoreError::Conflict(format!(
                "the delivery's subscription {s} is disabled (its receiver answered 410 Gone)"
            )));
        }
        Some(_) => {}
    }
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2,
             claimed_until = NULL, last_code = NULL, last_message = NULL, updated_at = ?2
         WHERE id = ?1",
    )?
    .execute([id, now])?;
    let mut d = delivery(conn, scope, id)?.ok_or(StoreError::NotFound)?;
    d.payload = None;
    d.attempt_log = None;
    Ok(d)
}

/// Tasks past their due time and not yet reported: marked, and `task.overdue` queued for each.
pub fn raise_overdue(conn: &Connection, now: &str, limit: u32) -> Result<(u32, usize), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hotel_id, id, external_id, task_name, room, guest_name, quantity, status, due_at,
                created_at
         FROM tasks
         WHERE overdue_raised = 0 AND due_at IS NOT NULL AND status NOT IN ('done', 'cancelled')
           AND due_at <= ?1
         ORDER BY due_at LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], |r| {
        let status: String = r.get(7)?;
        Ok((
            r.get::<_, String>(0)?,
            Task {
                id: r.get(1)?,
                external_id: r.get(2)?,
                task_name: r.get(3)?,
                room: r.get(4)?,
                guest_name: r.get(5)?,
                quantity: r.get(6)?,
                status: crate::domain::TaskStatus::parse(&status)
                    .ok_or_else(|| conversion(format!("unknown task status {status:?}")))?,
                due_at: r.get(8)?,
                created_at: r.get(9)?,
            },
        ))
    })?;
    let due: Vec<(String, Task)> = rows.collect::<Result<_, _>>()?;
    let mut queued = 0;
    for (hotel, task) in &due {
        conn.prepare_cached("UPDATE tasks SET overdue_raised = 1 WHERE id = ?1")?
            .execute([&task.id])?;
        queued += enqueue(conn, hotel, task, &[EventType::Overdue], now)?;
    }
    Ok((due.len() as u32, queued))
}

pub fn next_work(conn: &Connection) -> Result<Option<String>, StoreError> {
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
    Ok(match (delivery, due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}
