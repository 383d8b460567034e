//! The PostgreSQL store's outbox SQL, the same behaviour as `sqlite_outbox.rs`: queueing deliveries
//! inside the transaction that changed a task, claiming them across instances (`FOR UPDATE SKIP
//! LOCKED` and a lease in `claimed_until`), recording attempts. What is not SQL is in `outbox.rs`.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use jiff::Timestamp;
use tokio::sync::Notify;

use super::notify::announce;
use super::tasks::hotel_exists;
use super::{PostgresStore, exec, query, query_opt, text};
use crate::domain::time;
use crate::domain::{
    Task,
    escalation::Reason,
    outbound::{
        CODE_GONE, CODE_REMOVED, ChatFacts, DeliveryStatus, EventType, GONE_MESSAGE, OrderRefs,
        REMOVED_MESSAGE, earliest, events_to_text, fair::REPLAY_PENDING_CAP, needs_chat_facts,
        needs_order_refs,
    },
};
use crate::intake::Raised;
use crate::store::OutboxStore;
use crate::store::{
    AttemptRecord, Claimed, Delivery, NewSubscription, Scope, StoreError, Subscription,
    outbox::{
        self as shared, AttemptWrite, DELIVERY_COLS, Detail, SUB_COLS, check_replay,
        check_replay_limit, check_subscription_cap, delivery_from_row, subscription_from_row,
    },
    rows::TASK_COLS,
};

/// Queues a delivery of each of `events` for `task` to every enabled subscription of the hotel that
/// wants it; returns how many. Runs inside the transaction that changed the task.
pub async fn enqueue<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
) -> Result<usize, StoreError> {
    enqueue_with(c, hotel, task, events, None, now).await
}

/// Queues `task.escalated` for `task`'s escalation for `reason`; returns how many deliveries.
pub(super) async fn enqueue_escalation<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    task: &Task,
    reason: Reason,
    now: &str,
) -> Result<usize, StoreError> {
    enqueue_with(
        c,
        hotel,
        task,
        &[EventType::Escalated],
        Some(Detail::Escalation(reason)),
        now,
    )
    .await
}

/// Queues what a webhook's settlement raised on `task`; returns how many deliveries.
pub(super) async fn enqueue_raised<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    task: &Task,
    raised: &Raised,
    now: &str,
) -> Result<usize, StoreError> {
    let events = crate::store::raised_events(raised);
    let detail = crate::store::raised_detail(raised);
    enqueue_with(c, hotel, task, events, detail, now).await
}

/// Queues `task.assigned` for `task`, whose assignee was `previous` (an email, or nobody); returns
/// how many deliveries.
pub(super) async fn enqueue_assignment<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    task: &Task,
    previous: Option<&str>,
    now: &str,
) -> Result<usize, StoreError> {
    let detail = Some(Detail::PreviousAssignee(previous));
    enqueue_with(c, hotel, task, &[EventType::Assigned], detail, now).await
}

async fn enqueue_with<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    task: &Task,
    events: &[EventType],
    detail: Option<Detail<'_>>,
    now: &str,
) -> Result<usize, StoreError> {
    let targets = query(c, super::hot::ENQUEUE_SUBSCRIPTIONS, &[&hotel])
        .await?
        .iter()
        .map(shared::target_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let refs = match needs_order_refs(&targets, events) {
        true => query_opt(c, super::hot::TASK_ORDER_REFS, &[&task.id])
            .await?
            .as_ref()
            .map(shared::order_refs_from_row)
            .transpose()?
            .unwrap_or_default(),
        false => OrderRefs::default(),
    };
    let chat = match needs_chat_facts(&targets, events) {
        true => {
            let tz = query_opt(c, super::hot::HOTEL_TIMEZONE, &[&hotel]).await?;
            let actor = query_opt(c, super::hot::TASK_LAST_ACTOR, &[&task.id]).await?;
            shared::chat_facts(
                tz.map(|r| r.try_get(0)).transpose()?,
                actor.map(|r| r.try_get(0)).transpose()?,
            )
        }
        false => ChatFacts::default(),
    };
    let queued = shared::deliveries(hotel, task, events, detail, now, &targets, (&refs, &chat))?;
    for d in &queued {
        let (event, payload) = (d.event.as_str(), text(&d.payload));
        exec(
            c,
            super::hot::INSERT_DELIVERY,
            &[
                &d.id,
                &hotel,
                &d.subscription_id,
                &task.id,
                &event,
                &payload,
                &now,
            ],
        )
        .await?;
    }
    Ok(queued.len())
}

async fn insert_subscription<C: GenericClient + Sync>(
    c: &C,
    sub: &NewSubscription,
    id: &str,
    now: &str,
) -> Result<Subscription, StoreError> {
    let headers = shared::headers_to_text(&sub.headers)?;
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

async fn subscription<C: GenericClient + Sync>(
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

async fn list_subscriptions<C: GenericClient + Sync>(
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

async fn remove_subscription<C: GenericClient + Sync>(
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
    end_pending(c, id, CODE_REMOVED, REMOVED_MESSAGE, now).await
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

async fn rotate_secret<C: GenericClient + Sync>(
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
    let found = subscription(c, scope, id).await?;
    match n {
        0 => Err(shared::not_rotated(found)),
        _ => found.ok_or(StoreError::NotFound),
    }
}

async fn record<C: GenericClient + Sync>(c: &C, a: &AttemptRecord) -> Result<(), StoreError> {
    let AttemptWrite {
        at,
        latency_us,
        resolution: res,
        gone_reason,
    } = AttemptWrite::of(a);
    exec(
        c,
        "INSERT INTO delivery_attempts (delivery_id, at, status, error, latency_us, response)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &text(&a.delivery),
            &at,
            &a.status.map(i32::from),
            &a.error.as_deref().map(text),
            &latency_us,
            &text(&a.response),
        ],
    )
    .await?;
    let (status, message) = (res.status.as_str(), res.message.as_deref().map(text));
    let sub: Option<String> = query_opt(
        c,
        "UPDATE deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
             claimed_until = NULL, last_code = $4, last_message = $5, updated_at = $6
         WHERE id = $1 RETURNING subscription_id",
        &[
            &text(&a.delivery),
            &status,
            &res.next_attempt_at,
            &res.code,
            &message,
            &at,
        ],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    if let (Some(reason), Some(sub)) = (gone_reason, sub) {
        exec(
            c,
            "UPDATE subscriptions SET enabled = false, disabled_reason = $2 WHERE id = $1",
            &[&sub, &reason],
        )
        .await?;
        end_pending(c, &sub, CODE_GONE, GONE_MESSAGE, &at).await?;
    }
    Ok(())
}

async fn list_deliveries<C: GenericClient + Sync>(
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
    let status = status.map(DeliveryStatus::as_str);
    query(c, &sql, &[&scope.hotel(), &status, &i64::from(limit)])
        .await?
        .iter()
        .map(|r| delivery_from_row(r, false))
        .collect()
}

async fn delivery<C: GenericClient + Sync>(
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
    let mut d = delivery_from_row(&r, true)?;
    let log = query(
        c,
        "SELECT at, status, error, latency_us, response FROM delivery_attempts
         WHERE delivery_id = $1 ORDER BY seq",
        &[&id],
    )
    .await?;
    d.attempt_log = Some(
        log.iter()
            .map(shared::attempt_from_row)
            .collect::<Result<_, _>>()?,
    );
    Ok(Some(d))
}

async fn replay<C: GenericClient + Sync>(
    c: &C,
    scope: Scope<'_>,
    id: &str,
    now: &str,
) -> Result<Delivery, StoreError> {
    let found = query_opt(
        c,
        "SELECT d.subscription_id, s.enabled FROM deliveries d
         LEFT JOIN subscriptions s ON s.id = d.subscription_id
         WHERE d.id = $1 AND ($2::text IS NULL OR d.hotel_id = $2)
         FOR UPDATE OF d",
        &[&text(id), &scope.hotel()],
    )
    .await?;
    check_replay(&found.ok_or(StoreError::NotFound)?)?;
    let bound = query_opt(
        c,
        "SELECT d.status, coalesce(d.status = 'pending' AND d.claimed_until > $2, false),
                (SELECT count(*) FROM (SELECT 1 FROM deliveries p
                                       WHERE p.hotel_id = d.hotel_id AND p.status = 'pending'
                                       LIMIT $3) n)
         FROM deliveries d WHERE d.id = $1",
        &[&text(id), &now, &i64::from(REPLAY_PENDING_CAP)],
    )
    .await?;
    check_replay_limit(&bound.ok_or(StoreError::NotFound)?)?;
    exec(
        c,
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2,
             claimed_until = NULL, last_code = NULL, last_message = NULL, updated_at = $2
         WHERE id = $1",
        &[&text(id), &now],
    )
    .await?;
    shared::summary(delivery(c, scope, id).await?)
}

/// Tasks past their due time and not yet reported: marked, and `task.overdue` queued for each.
/// `SKIP LOCKED`: two instances raising at once split the tasks, each raised once.
async fn raise_overdue<C: GenericClient + Sync>(
    c: &C,
    now: &str,
    limit: u32,
) -> Result<(u32, usize), StoreError> {
    let mut due = query(
        c,
        &format!(
            "WITH due AS (
             SELECT seq FROM tasks
             WHERE NOT overdue_raised AND due_at IS NOT NULL
               AND status NOT IN ('done', 'cancelled') AND due_at <= $1
             ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE tasks t SET overdue_raised = true FROM due WHERE t.seq = due.seq
         RETURNING hotel_id, {TASK_COLS}"
        ),
        &[&now, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(shared::overdue_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    // RETURNING keeps no order: the earliest due first, as on SQLite.
    due.sort_by(|a, b| a.1.due_at.cmp(&b.1.due_at));
    let mut queued = 0;
    for (hotel, task) in &due {
        queued += enqueue(c, hotel, task, &[EventType::Overdue], now).await?;
    }
    Ok((due.len() as u32, queued))
}

async fn next_work<C: GenericClient + Sync>(c: &C) -> Result<Option<String>, StoreError> {
    let r = query_opt(
        c,
        "SELECT (SELECT min(greatest(next_attempt_at, claimed_until)) FROM deliveries
                 WHERE status = 'pending'),
                (SELECT min(due_at) FROM tasks
                 WHERE NOT overdue_raised AND due_at IS NOT NULL
                   AND status NOT IN ('done', 'cancelled')),
                (SELECT min(escalate_at) FROM tasks WHERE escalate_at IS NOT NULL)",
        &[],
    )
    .await?;
    let Some(r) = r else { return Ok(None) };
    Ok(earliest(
        earliest(r.try_get(0)?, r.try_get(1)?),
        r.try_get(2)?,
    ))
}

#[async_trait]
impl OutboxStore for PostgresStore {
    fn outbox_signal(&self) -> Arc<Notify> {
        self.signals.outbox.clone()
    }

    async fn create_subscription(
        &self,
        sub: NewSubscription,
        max_per_hotel: u32,
    ) -> Result<Subscription, StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, sub.hotel.as_str()).await?;
            // Two additions at once for one hotel take turns, so neither passes the cap unseen.
            exec(
                &tx,
                "SELECT pg_advisory_xact_lock(hashtext('hubhook.subscriptions.' || $1::text))",
                &[&sub.hotel.as_str()],
            )
            .await?;
            let existing: i64 = query_opt(
                &tx,
                "SELECT count(*) FROM subscriptions WHERE hotel_id = $1",
                &[&sub.hotel.as_str()],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
            check_subscription_cap(existing, max_per_hotel)?;
            let now = time::format(time::now());
            insert_subscription(
                &tx,
                &sub,
                &crate::domain::outbound::new_subscription_id(),
                &now,
            )
            .await
        })
    }

    async fn list_subscriptions(&self, scope: Scope<'_>) -> Result<Vec<Subscription>, StoreError> {
        let client = self.pool.get().await?;
        list_subscriptions(&client, scope).await
    }

    async fn remove_subscription(&self, scope: Scope<'_>, id: &str) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            let now = time::format(time::now());
            remove_subscription(&tx, scope, id, &now).await
        })
    }

    async fn rotate_secret(
        &self,
        scope: Scope<'_>,
        id: &str,
        secret: String,
        keep_old_until: Timestamp,
    ) -> Result<Subscription, StoreError> {
        in_tx!(self, |tx| {
            let until = time::format(keep_old_until);
            rotate_secret(&tx, scope, id, &secret, &until).await
        })
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        per_hotel: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        in_tx!(self, |tx| {
            let now = time::now();
            let until = now
                .checked_add(jiff::SignedDuration::try_from(lease).unwrap_or_default())
                .unwrap_or(now);
            let (now, until) = (time::format(now), time::format(until));
            super::claim::claim(&tx, &now, &until, limit, per_hotel).await
        })
    }

    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        in_tx!(self, |tx| { record(&tx, &attempt).await })
    }

    async fn release_claims(&self, ids: Vec<String>) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        exec(
            &client,
            "UPDATE deliveries SET claimed_until = NULL WHERE id = ANY($1) AND status = 'pending'",
            &[&ids],
        )
        .await?;
        // Another instance may take them at once.
        announce(&client, &self.signals, &[], ids.len()).await
    }

    async fn list_deliveries(
        &self,
        scope: Scope<'_>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let client = self.pool.get().await?;
        list_deliveries(&client, scope, status, limit).await
    }

    async fn delivery(&self, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError> {
        let client = self.pool.get().await?;
        delivery(&client, scope, id).await
    }

    async fn replay_delivery(&self, scope: Scope<'_>, id: &str) -> Result<Delivery, StoreError> {
        let d = in_tx!(self, |tx| {
            let now = time::format(time::now());
            let d = replay(&tx, scope, id, &now).await?;
            announce(&tx, &self.signals, &[], 1).await?;
            Ok(d)
        })?;
        self.signals.queued(1);
        Ok(d)
    }

    async fn raise_overdue(&self, limit: u32) -> Result<u32, StoreError> {
        let (n, queued) = in_tx!(self, |tx| {
            let r = raise_overdue(&tx, &time::format(time::now()), limit).await?;
            announce(&tx, &self.signals, &[], r.1).await?;
            Ok(r)
        })?;
        self.signals.queued(queued);
        Ok(n)
    }

    async fn next_outbox_work(&self) -> Result<Option<Timestamp>, StoreError> {
        let client = self.pool.get().await?;
        let next = next_work(&client).await?;
        Ok(next.and_then(|t| time::parse_instant(&t)))
    }
}
