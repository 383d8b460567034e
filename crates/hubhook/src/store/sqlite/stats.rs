//! The SQLite store's figures for `/metrics` ([`StatsStore`]): the outbox's backlog, read on a
//! reader connection through indexes of pending deliveries only.

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use crate::{
    domain::time,
    store::{Backlog, StatsStore, StoreError},
};

/// Pending deliveries, counted up to `?1`: a capped scan of an index of pending deliveries
/// ([`crate::store::stats::PENDING_INDEXES`]).
pub(crate) const PENDING: &str =
    "SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = 'pending' LIMIT ?1)";

/// When the oldest pending delivery was created: one probe of `deliveries_pending_since`.
pub(crate) const OLDEST_PENDING: &str =
    "SELECT min(created_at) FROM deliveries WHERE status = 'pending'";

fn backlog(conn: &Connection, cap: u64) -> Result<Backlog, StoreError> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let pending: i64 = conn
        .prepare_cached(PENDING)?
        .query_row([cap], |r| r.get(0))?;
    let oldest: Option<String> = conn
        .prepare_cached(OLDEST_PENDING)?
        .query_row([], |r| r.get(0))?;
    Ok(Backlog {
        pending: u64::try_from(pending).unwrap_or(0),
        oldest_pending: oldest.as_deref().and_then(time::parse_instant),
    })
}

#[async_trait]
impl StatsStore for SqliteStore {
    async fn outbox_backlog(&self, cap: u64) -> Result<Backlog, StoreError> {
        self.read(move |c| backlog(c, cap)).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan_check::{migrated, plan};
    use super::*;
    use crate::store::stats::PENDING_INDEXES;

    /// The plan lines of `sql` that read `deliveries` through none of `indexes`.
    fn reads_outside(conn: &Connection, sql: &str, indexes: &[&str]) -> Vec<String> {
        plan(conn, sql)
            .into_iter()
            .filter(|l| {
                l.contains("deliveries")
                    && !indexes
                        .iter()
                        .any(|i| l.ends_with(i) || l.contains(&format!(" {i} ")))
            })
            .collect()
    }

    /// The count through any index of pending deliveries only, the oldest through its own.
    fn bad_lines(conn: &Connection) -> Vec<String> {
        let mut bad = reads_outside(conn, PENDING, PENDING_INDEXES);
        bad.extend(reads_outside(
            conn,
            OLDEST_PENDING,
            &["deliveries_pending_since"],
        ));
        bad
    }

    #[test]
    fn the_backlog_reads_only_the_index_of_pending_deliveries() {
        let (_dir, conn) = migrated("stats.db");
        assert_eq!(bad_lines(&conn), Vec::<String>::new(), "without statistics");
        // 20,000 deliveries made long ago, two still pending; then ANALYZE, as an operator might.
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO deliveries (id, hotel_id, subscription_id, event, payload, status,
                 created_at, updated_at)
             SELECT 'msg_' || i, 'h', 'sub', 'task.created', '{}',
                    CASE WHEN i % 7000 = 0 THEN 'pending' ELSE 'delivered' END,
                    printf('2026-01-01T00:00:%02d.000Z', i % 60), 't'
             FROM n;
             ANALYZE;",
        )
        .expect("seed");
        assert_eq!(bad_lines(&conn), Vec::<String>::new(), "with statistics");
        let b = backlog(&conn, 100).expect("backlog");
        assert_eq!(b.pending, 2);
        assert_eq!(
            b.oldest_pending.map(time::format).as_deref(),
            Some("2026-01-01T00:00:20.000Z")
        );
        assert_eq!(backlog(&conn, 1).expect("capped").pending, 1);
        // Without the index, the check sees the scan it is for.
        conn.execute_batch("DROP INDEX deliveries_pending_since")
            .expect("drop");
        assert!(!bad_lines(&conn).is_empty());
    }
}
