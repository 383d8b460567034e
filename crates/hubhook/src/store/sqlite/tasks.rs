//! The SQLite store's tasks: lists, details, the board, manual creation and moves ([`TaskStore`]).

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::{
    SqliteStore, escalation, hotels,
    ingest::{ingest_tx, insert_event, insert_inbound, insert_task},
    outbox,
};
use crate::{
    domain::outbound::EventType,
    domain::{HotelId, Task, TaskId, TaskStatus, time},
    events::{ChangeKind, TaskChange},
    intake::TaskDraft,
    store::{
        AssigneeFilter, InboundEntry, InboundPreview, IngestRequest, Ingested, Refused,
        StatusChange, StoreError, TaskDetail, TaskFilter, TaskStore, escalate_at_after_move,
        rows::{
            Columns, INBOUND_COLS, InboundWrite, TASK_COL_COUNT, TASK_COLS, detail_from_row,
            event_from_row, inbound_from_row, inbound_preview_from_row, page, task_from_row,
        },
    },
};

/// The newest `?2` entries of hotel `?1` with their bodies, up to the entry whose body makes the
/// list's bodies reach `?3` bytes: the sizes are summed first (`octet_length` reads no body), so no
/// body past the budget is read.
const LIST_INBOUND: &str = "WITH recent AS (
        SELECT seq, octet_length(body) AS n FROM inbound
        WHERE hotel_id = ?1 ORDER BY seq DESC LIMIT ?2
    ), kept AS (
        SELECT seq, sum(n) OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING) - n AS before
        FROM recent
    )
    SELECT seq, received_at, event, code, details, task_ids, duration_us, replay_of, body
    FROM inbound WHERE seq IN (SELECT seq FROM kept WHERE before < ?3) ORDER BY seq DESC";

fn task_by_id(conn: &Connection, hotel: &str, id: &str) -> Result<Option<Task>, StoreError> {
    let sql = format!("SELECT {TASK_COLS} FROM tasks WHERE hotel_id = ?1 AND id = ?2");
    conn.prepare_cached(&sql)?
        .query_and_then([hotel, id], |r| task_from_row(r))?
        .next()
        .transpose()
}

/// The task list's statement. A filter with an index of its own (`tasks_by_department`,
/// `tasks_open_due`, `tasks_by_assignee`) is written out when asked for, so the planner can use
/// that index; absent, its parameter is still named (`?7 IS NULL`).
fn list_sql(department: bool, overdue: bool, assignee: Option<&AssigneeFilter>) -> String {
    let department = match department {
        true => "department = ?7",
        false => "?7 IS NULL",
    };
    let overdue = match overdue {
        true => "due_at IS NOT NULL AND status NOT IN ('done', 'cancelled') AND due_at < ?8",
        false => "?8 IS NULL",
    };
    let assignee = match assignee {
        None => "?9 IS NULL",
        Some(AssigneeFilter::Nobody) => "assignee_id IS NULL AND ?9 IS NULL",
        Some(AssigneeFilter::Email(_)) => {
            "assignee_id = (SELECT u.id FROM users u WHERE u.hotel_id = ?1 AND u.email = ?9)"
        }
    };
    format!(
        "SELECT {TASK_COLS}, seq FROM tasks
         WHERE hotel_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR room = ?3)
           AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR seq < ?5)
           AND {department} AND {overdue} AND {assignee}
         ORDER BY seq DESC LIMIT ?6"
    )
}

fn change(hotel: &HotelId, t: &Task, kind: ChangeKind) -> TaskChange {
    TaskChange {
        hotel: hotel.clone(),
        task_id: t.id.clone(),
        status: t.status,
        kind,
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn ingest(&self, req: IngestRequest) -> Result<Ingested, StoreError> {
        let (done, queued, changes) = self.write_repeatable(move |c| ingest_tx(c, &req)).await?;
        self.queued(queued);
        // `write` answers only after the commit: what is published here is durable.
        self.events.publish(changes);
        Ok(done)
    }

    async fn record_refusal(&self, r: Refused) -> Result<(), StoreError> {
        self.write(move |c| insert_inbound(c, r.hotel.as_str(), &InboundWrite::refused(&r)))
            .await
    }

    async fn list_tasks(
        &self,
        hotel: &HotelId,
        f: TaskFilter,
    ) -> Result<(Vec<Task>, Option<i64>), StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            let sql = list_sql(
                f.department.is_some(),
                f.overdue_at.is_some(),
                f.assignee.as_ref(),
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_and_then(
                params![
                    hotel.as_str(),
                    f.status.map(TaskStatus::as_str),
                    f.room,
                    f.since,
                    f.cursor,
                    i64::from(f.limit) + 1,
                    f.department,
                    f.overdue_at,
                    f.assignee.as_ref().and_then(AssigneeFilter::email)
                ],
                |r| Ok((task_from_row(r)?, r.int(TASK_COL_COUNT)?)),
            )?;
            Ok(page(rows.collect::<Result<_, StoreError>>()?, f.limit))
        })
        .await
    }

    async fn task_detail(
        &self,
        hotel: &HotelId,
        id: &str,
    ) -> Result<Option<TaskDetail>, StoreError> {
        let hotel = hotel.clone();
        let id = id.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {TASK_COLS}, reservation_id, notes, language, updated_at
                 FROM tasks WHERE hotel_id = ?1 AND id = ?2"
            );
            let detail = c
                .prepare_cached(&sql)?
                .query_and_then([hotel.as_str(), &id], |r| detail_from_row(r))?
                .next()
                .transpose()?;
            let Some(mut detail) = detail else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(
                "SELECT at, actor, from_status, to_status, note FROM task_events
                 WHERE task_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_and_then([&id], |r| event_from_row(r))?;
            detail.events = rows.collect::<Result<_, _>>()?;
            Ok(Some(detail))
        })
        .await
    }

    async fn create_task(
        &self,
        hotel: HotelId,
        cache_version: u64,
        draft: TaskDraft,
        actor: String,
    ) -> Result<Option<Task>, StoreError> {
        let created = self
            .write(move |c| {
                if hotels::hotel_version(c, hotel.as_str())? != Some(cache_version) {
                    return Ok(None);
                }
                let now = time::format(time::now());
                let id = TaskId::generate().into_string();
                insert_task(c, hotel.as_str(), None, &id, &draft, &actor, &now)?;
                let task = draft.to_task(id, now.clone());
                let queued =
                    outbox::enqueue(c, hotel.as_str(), &task, &[EventType::Created], &now)?;
                Ok(Some((hotel, task, queued)))
            })
            .await?;
        Ok(created.map(|(hotel, task, queued)| {
            self.queued(queued);
            self.events
                .publish([change(&hotel, &task, ChangeKind::Created)]);
            task
        }))
    }

    async fn move_task(&self, ch: StatusChange) -> Result<Task, StoreError> {
        let hotel = ch.hotel.clone();
        let (task, queued) = self
            .write(move |c| {
                let hotel = ch.hotel.as_str();
                let task = task_by_id(c, hotel, &ch.task)?.ok_or(StoreError::NotFound)?;
                task.status.check_move(ch.to)?;
                let now = time::format(time::now());
                let next = escalate_at_after_move(&task, ch.to);
                c.prepare_cached(
                    "UPDATE tasks SET status = ?2, updated_at = ?3, escalate_at = ?4, archived = 0,
                         done_at = ?5
                     WHERE id = ?1",
                )?
                .execute(params![
                    &task.id,
                    ch.to.as_str(),
                    &now,
                    next,
                    ch.to.done_at(&now)
                ])?;
                insert_event(
                    c,
                    &task.id,
                    &now,
                    &ch.actor,
                    Some(task.status),
                    ch.to,
                    ch.note.as_deref(),
                )?;
                let task = Task {
                    status: ch.to,
                    archived: false,
                    ..task
                };
                let queued = outbox::enqueue(c, hotel, &task, EventType::for_move(ch.to), &now)?;
                Ok((task, queued))
            })
            .await?;
        self.queued(queued);
        self.events
            .publish([change(&hotel, &task, ChangeKind::StatusChanged)]);
        Ok(task)
    }

    async fn list_inbound(
        &self,
        hotel: &HotelId,
        limit: u32,
        max_body_bytes: u64,
    ) -> Result<Vec<InboundEntry>, StoreError> {
        let hotel = hotel.clone();
        let budget = i64::try_from(max_body_bytes).unwrap_or(i64::MAX);
        self.read(move |c| {
            c.prepare_cached(LIST_INBOUND)?
                .query_and_then(params![hotel.as_str(), limit, budget], |r| {
                    inbound_from_row(r)
                })?
                .collect()
        })
        .await
    }

    async fn inbound_previews(
        &self,
        hotel: &HotelId,
        limit: u32,
        preview_chars: u32,
    ) -> Result<Vec<InboundPreview>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INBOUND_COLS}, substr(body, 1, ?3), octet_length(body)
                 FROM inbound WHERE hotel_id = ?1 ORDER BY seq DESC LIMIT ?2"
            ))?
            .query_and_then(params![hotel.as_str(), limit, preview_chars], |r| {
                inbound_preview_from_row(r)
            })?
            .collect()
        })
        .await
    }

    async fn inbound_body(&self, hotel: &HotelId, id: i64) -> Result<Option<String>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            c.prepare_cached("SELECT body FROM inbound WHERE seq = ?1 AND hotel_id = ?2")?
                .query_and_then(params![id, hotel.as_str()], |r| r.text(0))?
                .next()
                .transpose()
        })
        .await
    }

    async fn raise_escalations(&self, limit: u32) -> Result<u32, StoreError> {
        let (changes, n, queued) = self
            .write(move |c| escalation::raise(c, time::now(), limit))
            .await?;
        self.queued(queued);
        self.events.publish(changes);
        Ok(n)
    }

    async fn task_origin(
        &self,
        hotel: &HotelId,
        task_id: &str,
    ) -> Result<Option<InboundEntry>, StoreError> {
        let hotel = hotel.clone();
        // Task ids are UUIDs (checked by the caller), so the pattern holds no LIKE wildcard. The
        // log has no index on task ids: the scan runs newest first, so the recent tasks people open
        // cost a short scan; an old task's page reads the hotel's log back to it.
        let pattern = format!("%\"{task_id}\"%");
        self.read(move |c| {
            c.prepare_cached(
                "SELECT seq, received_at, event, code, details, task_ids, duration_us, replay_of,
                        body
                 FROM inbound WHERE hotel_id = ?1 AND code = 'created' AND task_ids LIKE ?2
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_and_then(params![hotel.as_str(), pattern], |r| inbound_from_row(r))?
            .next()
            .transpose()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan_check::{migrated, plan};
    use super::list_sql;
    use crate::store::AssigneeFilter;

    /// The department and overdue filters read through their own indexes, not the hotel's history.
    #[test]
    fn the_department_and_overdue_filters_use_their_indexes() {
        let (_dir, conn) = migrated("list.db");
        let plan = |sql: &str| plan(&conn, sql);
        for (sql, index) in [
            (
                list_sql(true, false, None),
                "INDEX tasks_by_department (hotel_id=? AND department=?)",
            ),
            (
                list_sql(false, true, None),
                "INDEX tasks_open_due (hotel_id=?)",
            ),
            (list_sql(true, true, None), "INDEX tasks_"),
            (
                list_sql(false, false, Some(&AssigneeFilter::Nobody)),
                "INDEX tasks_by_assignee (hotel_id=? AND assignee_id=?)",
            ),
            (
                list_sql(false, false, Some(&AssigneeFilter::Email("a@b".into()))),
                "INDEX tasks_by_assignee (hotel_id=? AND assignee_id=?)",
            ),
        ] {
            let lines = plan(&sql);
            assert!(
                lines.iter().any(|l| l.contains(index)),
                "{index}: {lines:?}"
            );
            assert!(
                !lines.iter().any(|l| l.contains("tasks_by_hotel")),
                "{lines:?}"
            );
        }
    }
}
