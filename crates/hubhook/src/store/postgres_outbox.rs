//! The PostgreSQL store's outbox SQL, the same behaviour as `sqlite_outbox.rs`: queueing deliveries
//! inside the transaction that changed a task, claiming them across instances (`FOR UPDATE SKIP
//! LOCKED` and a lease in `claimed_until`), recording attempts.

use crate::outbox::{Resolution, duve_connect_body, resolve, webhook_body};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    Attempt, AttemptRecord, Claimed, Delivery, Header, NewSubscription, Scope, StoreError,
    Subscription,
    postgres::{exec, query, query_opt, text},
    sqlite_outbox::{CODE_REMOVED, new_delivery_id},
};
use crate::{
    domain::{Task, TaskStatus, time},
    outbox::{CODE_GONE, DeliveryStatus, EventType, SubscriptionKind, Verdict},
};

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

fn stored(what: &str, raw: &str) -> StoreError {
    StoreError::Unavailable(format!("unknown {what} {raw:?} stored"))
}

/// Queues a delivery of each of `events` for `task` to every enabled subscription of the hotel that
/// wants it; returns how many. Runs inside the transaction that changed the task.
pub async fn enqueue<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
) -> Result<usize, StoreError> {
    let subs = query(c, super::postgres_hot::ENQUEUE_SUBSCRIPTIONS, &[&hotel]).await?;
    if subs.is_empty() {
        return Ok(0);
    }
    let mut order: Option<(Option<String>, Option<String>)> = None;
    let mut queued = 0;
    for s in &subs {
        let sub_id: String = s.try_get(0)?;
        let kind: String = s.try_get(1)?;
        let wanted: String = s.try_get(2)?;
        let tmpl: Option<String> = s.try_get(3)?;
        let wanted = events_from_text(&wanted);
        for event in events.iter().filter(|e| wanted.contains(e)) {
            let payload = match SubscriptionKind::parse(&kind) {
                Some(SubscriptionKind::DuveConnect) => {
                    if order.is_none() {
                        let row =
                            query_opt(c, super::postgres_hot::TASK_ORDER_REFS, &[&task.id]).await?;
                        order = Some(match row {
                            Some(r) => (r.try_get(0)?, r.try_get(1)?),
                            None => (None, None),
                        });
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
            exec(
                c,
                super::postgres_hot::INSERT_DELIVERY,
                &[
                    &new_delivery_id(),
                    &hotel,
                    &sub_id,
                    &task.id,
                    &event.as_str(),
                    &text(&payload),
                    &now,
                ],
            )
            .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

const SUB_COLS: &str = "id, hotel_id, kind, url, events, headers, enabled, disabled_reason, \
                        old_secret_until, created_at";

fn subscription_from_row(r: &Row) -> Result<Subscription, StoreError> {
    let kind: String = r.try_get(2)?;
    let events: String = r.try_get(4)?;
    let headers: String = r.try_get(5)?;
    Ok(Subscription {
        id: r.try_get(0)?,
        hotel_id: r.try_get(1)?,
        kind: SubscriptionKind::parse(&kind).ok_or_else(|| stored("subscription kind", &kind))?,
        url: r.try_get(3)?,
        events: events_from_text(&events),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        enabled: r.try_get(6)?,
        disabled_reason: r.try_get(7)?,
        previous_secret_until: r.try_get(8)?,
        created_at: r.try_get(9)?,
    })
}

pub async fn insert_subscription<C: GenericClient + Sync>(
    c: &C,
    sub: &NewSubscription,
    id: &str,
    now: &str,
) -> Result<Subscription, StoreError> {
    let headers =
        serde_json::to_string(&sub.headers).map_err(|e| StoreError::Invalid(e.to_string()))?;
    exec(
        c,
        "INSERT INTO subscriptions (id, hotel_id, kind, url, events, headers, secret, bearer,
             template, enabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10)",
        &[
            &id,
            &sub.hotel.as_str(),
            &sub.kind.as_str(),
            &text(&sub.url),
            &events_to_text(&sub.events),
            &text(&headers),
            &sub.secret.as_deref().map(text),
            &sub.bearer.as_deref().map(text),
            &sub.template.as_deref().map(text),
            &now,
        ],
    )
    .await?;
    subscription(c, Scope::Any, id)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn subscription<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    id: &str,
) -> Result<Option<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE id = $1 AND ($2::text IS NULL OR hotel_id = $2)"
    );
    query_opt(c, &sql, &[&text(id), &scope.hotel()])
        .await?
        .as_ref()
        .map(subscription_from_row)
        .transpose()
}

pub async fn list_subscriptions<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
) -> Result<Vec<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUB_COLS} FROM subscriptions WHERE ($1::text IS NULL OR hotel_id = $1)
         ORDER BY created_at, id"
    );
    query(c, &sql, &[&scope.hotel()])
        .await?
        .iter()
        .map(subscription_from_row)
        .collect()
}

pub async fn remove_subscription<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    id: &str,
    now: &str,
) -> Result<(), StoreError> {
    let n = exec(
        c,
        "DELETE FROM subscriptions WHERE id = $1 AND ($2::text IS NULL OR hotel_id = $2)",
        &[&text(id), &scope.hotel()],
    )
    .await?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    end_pending(c, id, CODE_REMOVED, "The subscription was removed.", now).await
}

async fn end_pending<C: GenericClient + Sync>(
    c: &C,
    subscription: &str,
    code: &str,
    message: &str,
    now: &str,
) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE deliveries SET status = 'failed', last_code = $2, last_message = $3,
             claimed_until = NULL, next_attempt_at = NULL, updated_at = $4
         WHERE subscription_id = $1 AND status = 'pending'",
        &[&subscription, &code, &message, &now],
    )
    .await?;
    Ok(())
}

pub async fn rotate_secret<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    id: &str,
    secret: &str,
    keep_until: &str,
) -> Result<Subscription, StoreError> {
    let n = exec(
        c,
        "UPDATE subscriptions SET old_secret = secret, old_secret_until = $3, secret = $4
         WHERE id = $1 AND ($2::text IS NULL OR hotel_id = $2) AND kind = 'webhook'",
        &[&text(id), &scope.hotel(), &keep_until, &text(secret)],
    )
    .await?;
    if n == 0 {
        return match subscription(c, scope, id).await? {
            Some(_) => Err(StoreError::Invalid(
                "only a signed webhook subscription has a secret to rotate".into(),
            )),
            None => Err(StoreError::NotFound),
        };
    }
    subscription(c, scope, id)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Claims due deliveries until `until`. Rows another instance is claiming right now are skipped
/// (`SKIP LOCKED`), rows whose lease ran out (an instance that died holding them) are claimable
/// again, and only the oldest pending delivery of a (subscription, task) is ever claimable.
pub async fn claim<C: GenericClient + Sync>(
    c: &C,
    now: &str,
    until: &str,
    limit: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let rows = query(
        c,
        "WITH due AS (
             SELECT d.seq FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1
               AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
               AND NOT EXISTS (
                   SELECT 1 FROM deliveries e
                   WHERE e.subscription_id = d.subscription_id AND e.task_id = d.task_id
                     AND e.status = 'pending' AND e.seq < d.seq)
             ORDER BY d.next_attempt_at, d.seq
             LIMIT $3
             FOR UPDATE OF d SKIP LOCKED)
         UPDATE deliveries d SET claimed_until = $2
         FROM due, subscriptions s
         WHERE d.seq = due.seq AND s.id = d.subscription_id
         RETURNING d.id, d.hotel_id, d.payload, d.attempts, s.id, s.kind, s.url, s.headers,
                   s.secret, s.old_secret, s.old_secret_until, s.bearer, d.next_attempt_at, d.seq",
        &[&now, &until, &i64::from(limit)],
    )
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for r in &rows {
        let kind: String = r.try_get(5)?;
        let headers: String = r.try_get(7)?;
        let secret: Option<String> = r.try_get(8)?;
        let old: Option<String> = r.try_get(9)?;
        let old_until: Option<String> = r.try_get(10)?;
        let mut secrets: Vec<String> = secret.into_iter().collect();
        if let (Some(old), Some(until)) = (old, old_until)
            && until.as_str() > now
        {
            secrets.push(old);
        }
        let attempts: i32 = r.try_get(3)?;
        let next: Option<String> = r.try_get(12)?;
        let seq: i64 = r.try_get(13)?;
        claimed.push((
            (next, seq),
            Claimed {
                id: r.try_get(0)?,
                hotel_id: r.try_get(1)?,
                payload: r.try_get(2)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                subscription_id: r.try_get(4)?,
                kind: SubscriptionKind::parse(&kind)
                    .ok_or_else(|| stored("subscription kind", &kind))?,
                url: r.try_get(6)?,
                headers: serde_json::from_str::<Vec<Header>>(&headers).unwrap_or_default(),
                secrets,
                bearer: r.try_get(11)?,
            },
        ));
    }
    // RETURNING keeps no order: oldest first, as on SQLite.
    claimed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}

pub async fn record<C: GenericClient + Sync>(c: &C, a: &AttemptRecord) -> Result<(), StoreError> {
    let at = time::format(a.at);
    exec(
        c,
        "INSERT INTO delivery_attempts (delivery_id, at, status, error, latency_us, response)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &text(&a.delivery),
            &at,
            &a.status.map(i32::from),
            &a.error.as_deref().map(text),
            &(a.latency.as_micros() as i64),
            &text(&a.response),
        ],
    )
    .await?;
    let Resolution {
        status,
        next_attempt_at: next,
        code,
        message,
    } = resolve(&a.verdict, a.at, a.status, a.error.as_deref());
    let sub: Option<String> = query_opt(
        c,
        "UPDATE deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
             claimed_until = NULL, last_code = $4, last_message = $5, updated_at = $6
         WHERE id = $1 RETURNING subscription_id",
        &[
            &text(&a.delivery),
            &status.as_str(),
            &next,
            &code,
            &message.as_deref().map(text),
            &at,
        ],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    if let (Verdict::Gone, Some(sub)) = (&a.verdict, sub) {
        exec(
            c,
            "UPDATE subscriptions SET enabled = false, disabled_reason = $2 WHERE id = $1",
            &[&sub, &format!("The receiver answered 410 Gone at {at}.")],
        )
        .await?;
        end_pending(
            c,
            &sub,
            CODE_GONE,
            "The subscription was disabled by a 410 Gone answer.",
            &at,
        )
        .await?;
    }
    Ok(())
}

const DELIVERY_COLS: &str = "id, hotel_id, subscription_id, task_id, event, status, attempts, \
                             next_attempt_at, last_code, last_message, created_at, updated_at";

fn delivery_from_row(r: &Row) -> Result<Delivery, StoreError> {
    let status: String = r.try_get(5)?;
    let attempts: i32 = r.try_get(6)?;
    Ok(Delivery {
        id: r.try_get(0)?,
        hotel_id: r.try_get(1)?,
        subscription_id: r.try_get(2)?,
        task_id: r.try_get(3)?,
        event: r.try_get(4)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| stored("delivery status", &status))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: r.try_get(7)?,
        code: r.try_get(8)?,
        message: r.try_get(9)?,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
        payload: None,
        attempt_log: None,
    })
}

pub async fn list_deliveries<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM deliveries
         WHERE ($1::text IS NULL OR hotel_id = $1) AND ($2::text IS NULL OR status = $2)
         ORDER BY seq DESC LIMIT $3"
    );
    query(
        c,
        &sql,
        &[
            &scope.hotel(),
            &status.map(DeliveryStatus::as_str),
            &i64::from(limit),
        ],
    )
    .await?
    .iter()
    .map(delivery_from_row)
    .collect()
}

pub async fn delivery<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    id: &str,
) -> Result<Option<Delivery>, StoreError> {
    let id = text(id);
    let sql = format!(
        "SELECT {DELIVERY_COLS}, payload FROM deliveries
         WHERE id = $1 AND ($2::text IS NULL OR hotel_id = $2)"
    );
    let Some(r) = query_opt(c, &sql, &[&id, &scope.hotel()]).await? else {
        return Ok(None);
    };
    let mut d = delivery_from_row(&r)?;
    d.payload = Some(r.try_get(12)?);
    let rows = query(
        c,
        "SELECT at, status, error, latency_us, response FROM delivery_attempts
         WHERE delivery_id = $1 ORDER BY seq",
        &[&id],
    )
    .await?;
    let mut log = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: Option<i32> = r.try_get(1)?;
        let us: i64 = r.try_get(3)?;
        log.push(Attempt {
            at: r.try_get(0)?,
            status: status.and_then(|s| u16::try_from(s).ok()),
            error: r.try_get(2)?,
            latency_ms: us as f64 / 1000.0,
            response: r.try_get(4)?,
        });
    }
    d.attempt_log = Some(log);
    Ok(Some(d))
}

pub async fn replay<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    id: &str,
    now: &str,
) -> Result<Delivery, StoreError> {
    let row = query_opt(
        c,
        "SELECT d.subscription_id, s.enabled FROM deliveries d
         LEFT JOIN subscriptions s ON s.id = d.subscription_id
         WHERE d.id = $1 AND ($2::text IS NULL OR d.hotel_id = $2)
         FOR UPDATE OF d",
        &[&text(id), &scope.hotel()],
    )
    .await?;
    let sub: Option<(String, Option<bool>)> = match row {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    };
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
    exec(
        c,
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2,
             claimed_until = NULL, last_code = NULL, last_message = NULL, updated_at = $2
         WHERE id = $1",
        &[&text(id), &now],
    )
    .await?;
    let mut d = delivery(c, scope, id).await?.ok_or(StoreError::NotFound)?;
    d.payload = None;
    d.attempt_log = None;
    Ok(d)
}

/// Tasks past their due time and not yet reported: marked, and `task.overdue` queued for each.
/// `SKIP LOCKED`: two instances raising at once split the tasks, each raised once.
pub async fn raise_overdue<C: GenericClient + Sync>(
    c: &C,
    now: &str,
    limit: u32,
) -> Result<(u32, usize), StoreError> {
    let rows = query(
        c,
        "WITH due AS (
             SELECT seq FROM tasks
             WHERE NOT overdue_raised AND due_at IS NOT NULL
               AND status NOT IN ('done', 'cancelled') AND due_at <= $1
             ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE tasks t SET overdue_raised = true FROM due WHERE t.seq = due.seq
         RETURNING t.hotel_id, t.id, t.external_id, t.task_name, t.room, t.guest_name,
                   t.quantity, t.status, t.due_at, t.created_at",
        &[&now, &i64::from(limit)],
    )
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: String = r.try_get(7)?;
        let quantity: i32 = r.try_get(6)?;
        due.push((
            r.try_get::<_, String>(0)?,
            Task {
                id: r.try_get(1)?,
                external_id: r.try_get(2)?,
                task_name: r.try_get(3)?,
                room: r.try_get(4)?,
                guest_name: r.try_get(5)?,
                quantity: u32::try_from(quantity).unwrap_or(0),
                status: TaskStatus::parse(&status).ok_or_else(|| stored("task status", &status))?,
                due_at: r.try_get(8)?,
                created_at: r.try_get(9)?,
            },
        ));
    }
    due.sort_by(|a, b| a.1.due_at.cmp(&b.1.due_at));
    let mut queued = 0;
    for (hotel, task) in &due {
        queued += enqueue(c, hotel, task, &[EventType::Overdue], now).await?;
    }
    Ok((due.len() as u32, queued))
}

pub async fn next_work<C: GenericClient + Sync>(c: &C) -> Result<Option<String>, StoreError> {
    let r = query_opt(
        c,
        "SELECT (SELECT min(greatest(next_attempt_at, claimed_until)) FROM deliveries
                 WHERE status = 'pending'),
                (SELECT min(due_at) FROM tasks
                 WHERE NOT overdue_raised AND due_at IS NOT NULL
                   AND status NOT IN ('done', 'cancelled'))",
        &[],
    )
    .await?;
    let Some(r) = r else { return Ok(None) };
    let delivery: Option<String> = r.try_get(0)?;
    let due: Option<String> = r.try_get(1)?;
    Ok(match (delivery, due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}
