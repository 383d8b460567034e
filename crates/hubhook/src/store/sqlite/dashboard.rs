//! The SQLite store's dashboard reads ([`DashboardStore`]): today's creation times through
//! `tasks_by_created`, the week's finished tasks through `tasks_done` (a covering index: the rows
//! themselves are not read), each a range of one hotel's index in its order.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::params;

use super::{SqliteStore, outbox::rows};
use crate::{
    domain::{HotelId, time},
    store::{
        DashboardStore, FinishedTask, StoreError,
        dashboard::{created_from, finished_from},
    },
};

/// When each task of hotel `?1` made since `?2` was made, the earliest first.
pub(crate) const CREATED_SINCE: &str = "SELECT created_at FROM tasks
    WHERE hotel_id = ?1 AND created_at >= ?2 ORDER BY created_at";

/// The tasks of hotel `?1` finished since `?2`, in the order they finished.
pub(crate) const FINISHED_SINCE: &str = "SELECT task_name, created_at, done_at FROM tasks
    WHERE hotel_id = ?1 AND done_at IS NOT NULL AND done_at >= ?2 ORDER BY done_at";

#[async_trait]
impl DashboardStore for SqliteStore {
    async fn created_since(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError> {
        let hotel = hotel.clone();
        let since = time::format(since);
        self.read(move |c| {
            let found = rows(c, CREATED_SINCE, params![hotel.as_str(), since], |r| {
                created_from(r)
            })?;
            Ok(found.into_iter().flatten().collect())
        })
        .await
    }

    async fn finished_since(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<FinishedTask>, StoreError> {
        let hotel = hotel.clone();
        let since = time::format(since);
        self.read(move |c| {
            let found = rows(c, FINISHED_SINCE, params![hotel.as_str(), since], |r| {
                finished_from(r)
            })?;
            Ok(found.into_iter().flatten().collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan_check::{migrated, plan};

    /// Both reads walk a range of their index in its order, reading nothing else: no scan of the
    /// hotel's tasks, no sort, no look-up of a task's row; on a database with one hotel's long
    /// backlog (a tenth of it finished), analysed.
    #[test]
    fn the_dashboard_reads_only_todays_tasks_and_the_weeks_finished_ones() {
        let (_dir, conn) = migrated("plans.db");
        conn.execute_batch(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at, done_at)
             SELECT 'tsk_' || i, CASE WHEN i <= 19000 THEN 'big' ELSE 'h' || (i % 100) END,
                    'o' || i, 'i', 'Towels', '101', 1,
                    CASE WHEN i % 10 = 0 THEN 'done' ELSE 'open' END,
                    strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + i * 60, 'unixepoch'), 't',
                    CASE WHEN i % 10 = 0
                         THEN strftime('%Y-%m-%dT%H:%M:%fZ', 1700000600 + i * 60, 'unixepoch')
                    END
             FROM n;
             COMMIT;
             ANALYZE;",
        )
        .unwrap();
        for (sql, index) in [
            (
                super::CREATED_SINCE,
                "SEARCH tasks USING COVERING INDEX tasks_by_created (hotel_id=? AND created_at>?)",
            ),
            (
                super::FINISHED_SINCE,
                "SEARCH tasks USING COVERING INDEX tasks_done (hotel_id=? AND done_at>?)",
            ),
        ] {
            let lines = plan(&conn, sql);
            assert!(lines.iter().any(|l| l.contains(index)), "{lines:?}");
            assert!(
                !lines
                    .iter()
                    .any(|l| l.starts_with("SCAN") || l.contains("TEMP B-TREE")),
                "{lines:?}"
            );
            assert_eq!(lines.len(), 1, "{lines:?}");
        }
    }
}
