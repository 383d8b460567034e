//! The PostgreSQL store's claims of due deliveries (`OutboxStore::claim_deliveries`), the same
//! behaviour as `sqlite/claim.rs`: the rows each hotel may be given, read without scanning another
//! hotel's backlog, locked and leased; the rule is [`pick_fair`] (domain/outbound/fair.rs).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::{exec, query};
use crate::{
    domain::outbound::pick_fair,
    store::{Claimed, StoreError, outbox as shared, rows::count},
};

/// Claims due deliveries until `until`: at most `per_hotel` held by any one hotel at once (those
/// whose lease still runs counted, whichever instance holds them), read as at most that many of
/// each hotel's due ones (a hotel at its share is skipped) and chosen by [`pick_fair`] in the order
/// they fell due. Claims of all instances take turns (a transaction-scoped advisory lock), so the
/// counts they read are the ones they write against. Rows another transaction is changing right
/// now are skipped (`SKIP LOCKED`), rows whose lease ran out (an instance that died holding them)
/// are claimable again, and only the oldest pending delivery of a (subscription, task) is ever
/// claimable.
pub(super) async fn claim<C: GenericClient + Sync>(
    c: &C,
    now: &str,
    until: &str,
    limit: u32,
    per_hotel: u32,
) -> Result<Vec<Claimed>, StoreError> {
    exec(
        c,
        "SELECT pg_advisory_xact_lock(hashtext('hubhook.claim.' || current_schema()))",
        &[],
    )
    .await?;
    let mut held: HashMap<String, u32> = HashMap::new();
    for r in query(
        c,
        "SELECT hotel_id, count(*) FROM deliveries
         WHERE claimed_until > $1 AND status = 'pending'
         GROUP BY hotel_id",
        &[&now],
    )
    .await?
    {
        held.insert(r.try_get(0)?, count(r.try_get(1)?));
    }
    let full: Vec<&str> = held
        .iter()
        .filter(|(_, n)| **n >= per_hotel)
        .map(|(h, _)| h.as_str())
        .collect();
    // The hotels with a pending delivery, found by skipping along `deliveries_pending_by_hotel`
    // (one probe per hotel), then at most `per_hotel` due ones of each not at its share.
    let due = query(
        c,
        "WITH RECURSIVE h(id) AS (
             SELECT min(hotel_id) FROM deliveries WHERE status = 'pending'
             UNION ALL
             SELECT (SELECT min(hotel_id) FROM deliveries
                     WHERE status = 'pending' AND hotel_id > h.id)
             FROM h WHERE h.id IS NOT NULL)
         SELECT d.seq, d.hotel_id FROM h CROSS JOIN LATERAL (
             SELECT e.seq, e.hotel_id, e.next_attempt_at FROM deliveries e
             WHERE e.hotel_id = h.id AND e.status = 'pending' AND e.next_attempt_at <= $1
               AND (e.claimed_until IS NULL OR e.claimed_until <= $1)
               AND NOT EXISTS (
                   SELECT 1 FROM deliveries f
                   WHERE f.subscription_id = e.subscription_id AND f.task_id = e.task_id
                     AND f.status = 'pending' AND f.seq < e.seq)
             ORDER BY e.next_attempt_at, e.seq
             LIMIT $2) d
         WHERE h.id IS NOT NULL AND NOT (h.id = ANY($3))
         ORDER BY d.next_attempt_at, d.seq",
        &[&now, &i64::from(per_hotel), &full],
    )
    .await?;
    let hotels = due
        .iter()
        .map(|r| r.try_get::<_, String>(1))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seqs: Vec<i64> = Vec::new();
    for i in pick_fair(&hotels, &held, per_hotel, limit as usize) {
        seqs.push(due[i].try_get(0)?);
    }
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = query(
        c,
        "WITH due AS (
             SELECT seq FROM deliveries
             WHERE seq = ANY($3) AND status = 'pending'
               AND (claimed_until IS NULL OR claimed_until <= $1)
             FOR UPDATE SKIP LOCKED)
         UPDATE deliveries d SET claimed_until = $2
         FROM due, subscriptions s
         WHERE d.seq = due.seq AND s.id = d.subscription_id
         RETURNING d.id, d.hotel_id, d.payload, d.attempts, s.id, s.kind, s.url, s.headers,
                   s.secret, s.old_secret, s.old_secret_until, s.bearer, d.next_attempt_at, d.seq",
        &[&now, &until, &seqs],
    )
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for r in &rows {
        let order: (Option<String>, i64) = (r.try_get(12)?, r.try_get(13)?);
        claimed.push((order, shared::claimed_from_row(r, now)?));
    }
    // RETURNING keeps no order: oldest first, as on SQLite.
    claimed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}
