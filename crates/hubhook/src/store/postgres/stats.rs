//! The PostgreSQL store's figures for `/metrics` ([`StatsStore`]): the outbox's backlog, through
//! indexes of pending deliveries only.

use async_trait::async_trait;

use super::{PostgresStore, query_opt};
use crate::{
    domain::time,
    store::{Backlog, StatsStore, StoreError},
};

/// Pending deliveries, counted up to `$1`: a capped index-only scan of an index of pending
/// deliveries ([`crate::store::stats::PENDING_INDEXES`]).
pub(crate) const PENDING: &str =
    "SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = 'pending' LIMIT $1) p";

/// When the oldest pending delivery was created: one probe of `deliveries_pending_since`.
pub(crate) const OLDEST_PENDING: &str =
    "SELECT min(created_at) FROM deliveries WHERE status = 'pending'";

#[async_trait]
impl StatsStore for PostgresStore {
    async fn outbox_backlog(&self, cap: u64) -> Result<Backlog, StoreError> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let client = self.pool.get().await?;
        let pending: i64 = match query_opt(&client, PENDING, &[&cap]).await? {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        let oldest: Option<String> = match query_opt(&client, OLDEST_PENDING, &[]).await? {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        Ok(Backlog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_pending: oldest.as_deref().and_then(time::parse_instant),
        })
    }
}

/// Needs `HUBHOOK_TEST_POSTGRES_URL` (read when the tests are built): a schema of its own.
#[cfg(all(test, hubhook_pg_tests))]
mod tests {
    use super::*;
    use crate::store::postgres::plan_check::{drop_schema, scratch};
    use crate::store::stats::PENDING_INDEXES;

    /// The lines of `EXPLAIN sql` that read `deliveries` through none of `indexes`.
    async fn reads_outside(c: &tokio_postgres::Client, sql: &str, indexes: &[&str]) -> Vec<String> {
        let sql = sql.replace("$1", "100000");
        let rows = c
            .simple_query(&format!("EXPLAIN {sql}"))
            .await
            .expect("EXPLAIN");
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .filter(|l| {
                let index = [
                    "Index Scan using ",
                    "Index Only Scan using ",
                    "Bitmap Index Scan on ",
                ]
                .iter()
                .find_map(|k| l.split(k).nth(1))
                .and_then(|rest| rest.split_whitespace().next());
                l.contains("Seq Scan on deliveries")
                    || index.is_some_and(|i| i.starts_with("deliveries") && !indexes.contains(&i))
            })
            .collect()
    }

    /// The count through any index of pending deliveries only, the oldest through its own.
    async fn bad_lines(c: &tokio_postgres::Client) -> Vec<String> {
        let mut bad = reads_outside(c, PENDING, PENDING_INDEXES).await;
        bad.extend(reads_outside(c, OLDEST_PENDING, &["deliveries_pending_since"]).await);
        bad
    }

    #[tokio::test]
    async fn the_backlog_reads_only_the_index_of_pending_deliveries() {
        let (store, c, schema) = scratch("stats").await;
        // 200,000 deliveries, a tenth of them still pending (a receiver long down); analysed.
        c.batch_execute(
            "INSERT INTO deliveries (id, hotel_id, subscription_id, event, payload, status,
                 created_at, updated_at)
             SELECT 'msg_' || i, 'h', 'sub', 'task.created', '{}',
                    CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'delivered' END,
                    '2026-01-01T00:00:' || lpad((i % 60)::text, 2, '0') || '.000Z', 't'
             FROM generate_series(1, 200000) i;
             ANALYZE deliveries;",
        )
        .await
        .expect("seed");
        let bad = bad_lines(&c).await;
        let backlog = store.outbox_backlog(100_000).await.expect("backlog");
        let capped = store.outbox_backlog(1).await.expect("capped");
        c.batch_execute("DROP INDEX deliveries_pending_since")
            .await
            .expect("drop");
        let control = bad_lines(&c).await;
        drop_schema(&c, &schema).await;
        assert_eq!(bad, Vec::<String>::new());
        assert_eq!(backlog.pending, 20_000);
        assert_eq!(
            backlog.oldest_pending.map(time::format).as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(capped.pending, 1);
        // Without the index, the check sees the scan it is for.
        assert!(!control.is_empty());
    }
}
