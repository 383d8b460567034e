//! The SQLite store's claims of due deliveries (`OutboxStore::claim_deliveries`): the rows each
//! hotel may be given, read without scanning another hotel's backlog; the rule is
//! [`pick_fair`] (domain/outbound/fair.rs).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::outbox::rows;
use crate::{
    domain::outbound::pick_fair,
    store::{Claimed, StoreError, outbox as shared, rows::count},
};

/// The hotels with a pending delivery, found by skipping along `deliveries_pending_by_hotel` (one
/// probe per hotel, whatever their backlogs).
const PENDING_HOTELS: &str = "WITH RECURSIVE h(id) AS (
        SELECT (SELECT min(hotel_id) FROM deliveries WHERE status = 'pending')
        UNION ALL
        SELECT (SELECT min(hotel_id) FROM deliveries WHERE status = 'pending' AND hotel_id > h.id)
        FROM h WHERE h.id IS NOT NULL)
    SELECT id FROM h WHERE id IS NOT NULL";

/// A hotel's first `?3` claimable deliveries due at `?2` (the oldest pending one of a task and
/// subscription only: a task's events go out in order).
const HOTEL_DUE: &str = "SELECT d.seq, d.hotel_id, d.next_attempt_at FROM deliveries d
    WHERE d.hotel_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2
      AND (d.claimed_until IS NULL OR d.claimed_until <= ?2)
      AND NOT EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.subscription_id = d.subscription_id AND e.task_id = d.task_id
            AND e.status = 'pending' AND e.seq < d.seq)
    ORDER BY d.next_attempt_at, d.seq
    LIMIT ?3";

/// Claims due deliveries until `until`: at most `per_hotel` held by any one hotel at once (those
/// whose lease still runs counted), read as at most that many of each hotel's due ones (a hotel at
/// its share is skipped) and chosen by [`pick_fair`] in the order they fell due.
pub(super) fn claim(
    conn: &Connection,
    now: &str,
    until: &str,
    limit: u32,
    per_hotel: u32,
) -> Result<Vec<Claimed>, StoreError> {
    // Through the few leased rows, not every pending one (which the planner, for the grouping's
    // order, would otherwise scan).
    let held: HashMap<String, u32> = rows(
        conn,
        "SELECT hotel_id, count(*) FROM deliveries INDEXED BY deliveries_claimed
         WHERE claimed_until > ?1 AND status = 'pending'
         GROUP BY hotel_id",
        [now],
        |r| Ok((r.get::<_, String>(0)?, count(r.get(1)?))),
    )?
    .into_iter()
    .collect();
    let hotels = rows(conn, PENDING_HOTELS, [], |r| Ok(r.get::<_, String>(0)?))?;
    let mut due: Vec<(String, i64, String)> = Vec::new();
    for hotel in hotels {
        let room = per_hotel.saturating_sub(held.get(&hotel).copied().unwrap_or(0));
        if room > 0 {
            due.extend(rows(conn, HOTEL_DUE, params![hotel, now, room], |r| {
                Ok((r.get(2)?, r.get(0)?, r.get(1)?))
            })?);
        }
    }
    due.sort_unstable();
    let hotels: Vec<&str> = due.iter().map(|(_, _, h)| h.as_str()).collect();
    let picked = pick_fair(&hotels, &held, per_hotel, limit as usize);
    let mut read = conn.prepare_cached(
        "SELECT d.id, d.hotel_id, d.payload, d.attempts, s.id, s.kind, s.url, s.headers, s.secret,
                s.old_secret, s.old_secret_until, s.bearer
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
         WHERE d.seq = ?1",
    )?;
    let mut mark =
        conn.prepare_cached("UPDATE deliveries SET claimed_until = ?2 WHERE seq = ?1")?;
    let mut claimed = Vec::with_capacity(picked.len());
    for i in picked {
        let seq = due[i].1;
        let found = read
            .query_and_then([seq], |r| shared::claimed_from_row(r, now))?
            .next()
            .transpose()?;
        if let Some(c) = found {
            mark.execute(params![seq, until])?;
            claimed.push(c);
        }
    }
    Ok(claimed)
}
