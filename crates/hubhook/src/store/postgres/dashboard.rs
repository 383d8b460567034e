//! The PostgreSQL store's dashboard reads ([`DashboardStore`]), as `sqlite/dashboard.rs`: today's
//! creation times through `tasks_by_created`, the week's finished tasks through `tasks_done`
//! (which carries the task's name and creation time: an index-only scan where the visibility map
//! allows), each a range of one hotel's index in its order.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{PostgresStore, query};
use crate::{
    domain::{HotelId, time},
    store::{
        DashboardStore, FinishedTask, StoreError,
        dashboard::{created_from, finished_from},
    },
};

/// When each task of hotel `$1` made since `$2` was made, the earliest first.
pub(crate) const CREATED_SINCE: &str = "SELECT created_at FROM tasks
    WHERE hotel_id = $1 AND created_at >= $2 ORDER BY created_at";

/// The tasks of hotel `$1` finished since `$2`, in the order they finished.
pub(crate) const FINISHED_SINCE: &str = "SELECT task_name, created_at, done_at FROM tasks
    WHERE hotel_id = $1 AND done_at IS NOT NULL AND done_at >= $2 ORDER BY done_at";

#[async_trait]
impl DashboardStore for PostgresStore {
    async fn created_since(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            CREATED_SINCE,
            &[&hotel.as_str(), &time::format(since)],
        )
        .await?;
        let found: Vec<Option<Timestamp>> =
            rows.iter().map(created_from).collect::<Result<_, _>>()?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn finished_since(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<FinishedTask>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            FINISHED_SINCE,
            &[&hotel.as_str(), &time::format(since)],
        )
        .await?;
        let found: Vec<Option<FinishedTask>> =
            rows.iter().map(finished_from).collect::<Result<_, _>>()?;
        Ok(found.into_iter().flatten().collect())
    }
}

/// Needs `HUBHOOK_TEST_POSTGRES_URL` (read when the tests are built): a schema of its own with one
/// hotel's long backlog, analysed.
#[cfg(all(test, hubhook_pg_tests))]
mod tests {
    use crate::store::postgres::plan_check::{drop_schema, kinds_and_indexes, plan, scratch};

    /// Both reads find their rows through a range of their own index: no scan of the hotel's tasks
    /// through the table or another index. Generic and custom plans alike. (The index's range in
    /// its order, or, where the table's pages are not all visible, as the newest tasks' may not
    /// be, the same range's rows gathered by a bitmap and sorted: both read only what is shown.)
    #[tokio::test]
    async fn the_dashboard_reads_only_todays_tasks_and_the_weeks_finished_ones() {
        let (store, c, schema) = scratch("dashboard").await;
        drop(store);
        c.batch_execute(
            "INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at, done_at)
             SELECT 'tsk_' || i, CASE WHEN i <= 100000 THEN 'big' ELSE 'h' || (i % 1000) END,
                    'o' || i, 'i', 'Towels', '101', 1,
                    CASE WHEN i % 10 = 0 THEN 'done' ELSE 'open' END,
                    to_char(timestamp '2026-01-01' + i * interval '1 minute',
                            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 't',
                    CASE WHEN i % 10 = 0 THEN
                        to_char(timestamp '2026-01-01' + (i + 10) * interval '1 minute',
                                'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
                    END
             FROM generate_series(1, 120000) i;",
        )
        .await
        .expect("seed");
        // As autovacuum would after such a load (VACUUM runs outside a transaction: alone).
        c.batch_execute("VACUUM (ANALYZE) tasks")
            .await
            .expect("vacuum");
        let mut bad = Vec::new();
        // The big hotel's tasks run to 2026-03-11 10:40: its last day, and its last week.
        for (name, sql, args, index) in [
            (
                "CREATED_SINCE",
                super::CREATED_SINCE,
                "'big', '2026-03-10T10:40:00.000Z'",
                "tasks_by_created",
            ),
            (
                "FINISHED_SINCE",
                super::FINISHED_SINCE,
                "'big', '2026-03-04T10:40:00.000Z'",
                "tasks_done",
            ),
        ] {
            for generic in [true, false] {
                let mode = if generic { "generic" } else { "custom" };
                let found = kinds_and_indexes(&plan(&c, sql, generic, &[args.to_owned()]).await);
                let through = |(kind, i): &(String, String)| match kind.as_str() {
                    "Index Scan" | "Index Only Scan" | "Bitmap Index Scan" => i == index,
                    "Bitmap Heap Scan" | "Sort" => true,
                    _ => false,
                };
                let reads = found.iter().filter(|(_, i)| !i.is_empty()).count();
                if reads != 1 || !found.iter().all(through) {
                    bad.push(format!("{name} ({mode}): not only {index}: {found:?}"));
                }
            }
        }
        drop_schema(&c, &schema).await;
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
