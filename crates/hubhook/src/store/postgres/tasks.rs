//! The PostgreSQL store's tasks: the webhook's entry (batched or general path), the board, a
//! task's detail and history, staff moves.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};

use super::batch::ingest_new_order;
use super::escalation;
use super::hot;
use super::hotels;
use super::ingest::{clean_draft, ingest_tx, insert_event, insert_inbound, insert_task};
use super::notify::{announce, batch_changes, change};
use super::outbox;
use super::{PostgresStore, exec, query, query_opt, text};
use crate::store::{
    AssigneeFilter, InboundEntry, InboundPreview, IngestRequest, Ingested, Refused, StatusChange,
    StoreError, TaskDetail, TaskFilter, TaskStore, escalate_at_after_move,
    rows::{
        Columns, INBOUND_COLS, InboundWrite, TASK_COL_COUNT, TASK_COLS, detail_from_row,
        event_from_row, inbound_from_row, inbound_preview_from_row, page, task_from_row,
    },
};
use crate::{
    domain::outbound::EventType,
    domain::{HotelId, Task, TaskId, TaskStatus, time},
    events::ChangeKind,
    intake::TaskDraft,
};

/// The task list's statement. A filter with an index of its own (`tasks_by_department`,
/// `tasks_open_due`) is written out when asked for, so the planner can use that index; absent, its
/// parameter is still named (`$7::text IS NULL`). Its plans are checked in `hot.rs`'s test.
pub(super) fn list_sql(
    department: bool,
    overdue: bool,
    assignee: Option<&AssigneeFilter>,
) -> String {
    let department = match department {
        true => "department = $7",
        false => "$7::text IS NULL",
    };
    let overdue = match overdue {
        true => "due_at IS NOT NULL AND status NOT IN ('done', 'cancelled') AND due_at < $8",
        false => "$8::text IS NULL",
    };
    let assignee = match assignee {
        None => "$9::text IS NULL",
        Some(AssigneeFilter::Nobody) => "assignee_id IS NULL AND $9::text IS NULL",
        Some(AssigneeFilter::Email(_)) => {
            "assignee_id = (SELECT u.id FROM users u WHERE u.hotel_id = $1 AND u.email = $9)"
        }
    };
    format!(
        "SELECT {TASK_COLS}, seq FROM tasks
         WHERE hotel_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR room = $3)
           AND ($4::text IS NULL OR created_at >= $4) AND ($5::bigint IS NULL OR seq < $5)
           AND {department} AND {overdue} AND {assignee}
         ORDER BY seq DESC LIMIT $6"
    )
}

/// How often a webhook is decided again after losing a race on a unique key to another instance.
const CONFLICT_RETRIES: usize = 3;

/// `NotFound` unless the hotel exists.
pub(super) async fn hotel_exists<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
) -> Result<(), StoreError> {
    query_opt(c, "SELECT 1 FROM hotels WHERE id = $1", &[&hotel])
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

async fn task_by_id(
    tx: &Transaction<'_>,
    hotel: &str,
    id: &str,
) -> Result<Option<Task>, StoreError> {
    let sql = format!("SELECT {TASK_COLS} FROM tasks WHERE hotel_id = $1 AND id = $2 FOR UPDATE");
    query_opt(tx, &sql, &[&hotel, &id])
        .await?
        .as_ref()
        .map(task_from_row)
        .transpose()
}

/// An order's tasks: those it made, in creation order, then those it merged into; `locked`: locked
/// for the transaction.
pub(super) async fn order_tasks(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: &str,
    locked: bool,
) -> Result<Vec<Task>, StoreError> {
    let (made, merged) = match locked {
        true => (hot::ORDER_TASKS_LOCKED, hot::ORDER_MERGED_TASKS_LOCKED),
        false => (hot::ORDER_TASKS, hot::ORDER_MERGED_TASKS),
    };
    let mut tasks = Vec::new();
    for sql in [made, merged] {
        for r in query(tx, sql, &[&hotel, &order_key]).await? {
            tasks.push(task_from_row(&r)?);
        }
    }
    Ok(tasks)
}

#[async_trait]
impl TaskStore for PostgresStore {
    async fn ingest(&self, req: IngestRequest) -> Result<Ingested, StoreError> {
        let hotel = &req.hotel.id;
        if let Some(outcome) = ingest_new_order(&self.batcher, &req).await? {
            // Written and committed by a batch worker, which also woke the dispatcher.
            self.signals.events.publish(batch_changes(hotel, &outcome));
            return Ok(Ingested::Done(outcome));
        }
        let mut client = self.pool.get().await?;
        let mut attempt = 0;
        loop {
            let tx = client.transaction().await?;
            let result = match ingest_tx(&tx, &req).await {
                Ok((done, queued, changes)) => announce(&tx, &self.signals, &changes, queued)
                    .await
                    .map(|()| (done, changes, queued)),
                Err(e) => Err(e),
            };
            let error = match result {
                Ok((done, changes, queued)) => {
                    tx.commit().await?;
                    // Only after the commit: what is published is durable.
                    self.signals.queued(queued);
                    self.signals.events.publish(changes);
                    return Ok(done);
                }
                Err(e) => e,
            };
            let _ = tx.rollback().await;
            attempt += 1;
            match error {
                // Another instance committed this order first: decide again, seeing its row.
                StoreError::Conflict(_) if attempt <= CONFLICT_RETRIES => continue,
                e => return Err(e),
            }
        }
    }

    async fn record_refusal(&self, r: Refused) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        insert_inbound(&client, r.hotel.as_str(), &InboundWrite::refused(&r)).await
    }

    async fn list_tasks(
        &self,
        hotel: &HotelId,
        f: TaskFilter,
    ) -> Result<(Vec<Task>, Option<i64>), StoreError> {
        let client = self.pool.get().await?;
        let sql = list_sql(
            f.department.is_some(),
            f.overdue_at.is_some(),
            f.assignee.as_ref(),
        );
        let assignee = f
            .assignee
            .as_ref()
            .and_then(AssigneeFilter::email)
            .map(text);
        let room = f.room.as_deref().map(text);
        let since = f.since.as_deref().map(text);
        let department = f.department.as_deref().map(text);
        let rows = query(
            &client,
            &sql,
            &[
                &hotel.as_str(),
                &f.status.map(TaskStatus::as_str),
                &room,
                &since,
                &f.cursor,
                &(i64::from(f.limit) + 1),
                &department,
                &f.overdue_at,
                &assignee,
            ],
        )
        .await?;
        let rows = rows
            .iter()
            .map(|r| Ok((task_from_row(r)?, r.int(TASK_COL_COUNT)?)))
            .collect::<Result<Vec<(Task, i64)>, StoreError>>()?;
        Ok(page(rows, f.limit))
    }

    async fn task_detail(
        &self,
        hotel: &HotelId,
        id: &str,
    ) -> Result<Option<TaskDetail>, StoreError> {
        let client = self.pool.get().await?;
        let id = text(id);
        let sql = format!(
            "SELECT {TASK_COLS}, reservation_id, notes, language, updated_at
             FROM tasks WHERE hotel_id = $1 AND id = $2"
        );
        let Some(r) = query_opt(&client, &sql, &[&hotel.as_str(), &id]).await? else {
            return Ok(None);
        };
        let mut detail = detail_from_row(&r)?;
        let rows = query(
            &client,
            "SELECT at, actor, from_status, to_status, note FROM task_events
             WHERE task_id = $1 ORDER BY seq",
            &[&id],
        )
        .await?;
        detail.events = rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
        Ok(Some(detail))
    }

    async fn create_task(
        &self,
        hotel: HotelId,
        cache_version: u64,
        mut draft: TaskDraft,
        actor: String,
    ) -> Result<Option<Task>, StoreError> {
        clean_draft(&mut draft);
        let created = in_tx!(self, |tx| {
            if hotels::hotel_version(&tx, hotel.as_str()).await? != Some(cache_version) {
                return Ok(None);
            }
            let now = time::format(time::now());
            let id = TaskId::generate().into_string();
            insert_task(&tx, hotel.as_str(), None, &id, &draft, &actor, &now).await?;
            let task = draft.to_task(id, now.clone());
            let queued =
                outbox::enqueue(&tx, hotel.as_str(), &task, &[EventType::Created], &now).await?;
            let changes = [change(&hotel, &task, ChangeKind::Created)];
            announce(&tx, &self.signals, &changes, queued).await?;
            Ok(Some((task, changes, queued)))
        })?;
        Ok(created.map(|(task, changes, queued)| {
            self.signals.queued(queued);
            self.signals.events.publish(changes);
            task
        }))
    }

    async fn move_task(&self, ch: StatusChange) -> Result<Task, StoreError> {
        let (task, changes, queued) = in_tx!(self, |tx| {
            let hotel = ch.hotel.as_str();
            // FOR UPDATE: two instances moving one task take turns; the second sees the first's move.
            let task = task_by_id(&tx, hotel, &text(&ch.task))
                .await?
                .ok_or(StoreError::NotFound)?;
            task.status.check_move(ch.to)?;
            let now = time::format(time::now());
            let next = escalate_at_after_move(&task, ch.to);
            exec(
                &tx,
                "UPDATE tasks SET status = $2, updated_at = $3, escalate_at = $4, archived = false,
                     done_at = $5
                 WHERE id = $1",
                &[&task.id, &ch.to.as_str(), &now, &next, &ch.to.done_at(&now)],
            )
            .await?;
            insert_event(
                &tx,
                &task.id,
                &now,
                &ch.actor,
                Some(task.status),
                ch.to,
                ch.note.as_deref(),
            )
            .await?;
            let task = Task {
                status: ch.to,
                archived: false,
                ..task
            };
            let queued =
                outbox::enqueue(&tx, hotel, &task, EventType::for_move(ch.to), &now).await?;
            let changes = [change(&ch.hotel, &task, ChangeKind::StatusChanged)];
            announce(&tx, &self.signals, &changes, queued).await?;
            Ok((task, changes, queued))
        })?;
        self.signals.queued(queued);
        self.signals.events.publish(changes);
        Ok(task)
    }

    async fn list_inbound(
        &self,
        hotel: &HotelId,
        limit: u32,
        max_body_bytes: u64,
    ) -> Result<Vec<InboundEntry>, StoreError> {
        let client = self.pool.get().await?;
        let budget = i64::try_from(max_body_bytes).unwrap_or(i64::MAX);
        let rows = query(
            &client,
            "WITH recent AS (
                 SELECT seq, octet_length(body) AS n FROM inbound
                 WHERE hotel_id = $1 ORDER BY seq DESC LIMIT $2
             ), kept AS (
                 SELECT seq, sum(n) OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING) - n AS before
                 FROM recent
             )
             SELECT seq, received_at, event, code, details, task_ids, duration_us, replay_of, body
             FROM inbound WHERE seq IN (SELECT seq FROM kept WHERE before < $3) ORDER BY seq DESC",
            &[&hotel.as_str(), &i64::from(limit), &budget],
        )
        .await?;
        rows.iter().map(inbound_from_row).collect()
    }

    async fn inbound_previews(
        &self,
        hotel: &HotelId,
        limit: u32,
        preview_chars: u32,
    ) -> Result<Vec<InboundPreview>, StoreError> {
        let client = self.pool.get().await?;
        let chars = i32::try_from(preview_chars).unwrap_or(i32::MAX);
        let rows = query(
            &client,
            &format!(
                "SELECT {INBOUND_COLS}, substr(body, 1, $3), octet_length(body)::bigint
                 FROM inbound WHERE hotel_id = $1 ORDER BY seq DESC LIMIT $2"
            ),
            &[&hotel.as_str(), &i64::from(limit), &chars],
        )
        .await?;
        rows.iter().map(inbound_preview_from_row).collect()
    }

    async fn inbound_body(&self, hotel: &HotelId, id: i64) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT body FROM inbound WHERE seq = $1 AND hotel_id = $2",
            &[&id, &hotel.as_str()],
        )
        .await?;
        row.as_ref().map(|r| r.text(0)).transpose()
    }

    async fn raise_escalations(&self, limit: u32) -> Result<u32, StoreError> {
        let (changes, n, queued) = in_tx!(self, |tx| {
            let r = escalation::raise(&tx, time::now(), limit).await?;
            announce(&tx, &self.signals, &r.0, r.2).await?;
            Ok(r)
        })?;
        self.signals.queued(queued);
        self.signals.events.publish(changes);
        Ok(n)
    }

    async fn task_origin(
        &self,
        hotel: &HotelId,
        task_id: &str,
    ) -> Result<Option<InboundEntry>, StoreError> {
        let client = self.pool.get().await?;
        // Task ids are UUIDs (checked by the caller); as on SQLite, the newest entries are read
        // first, so a recent task's origin is found after a short scan.
        let pattern = format!("%\"{}\"%", text(task_id));
        let row = query_opt(
            &client,
            "SELECT seq, received_at, event, code, details, task_ids, duration_us, replay_of, body
             FROM inbound WHERE hotel_id = $1 AND code = 'created' AND task_ids LIKE $2
             ORDER BY seq DESC LIMIT 1",
            &[&hotel.as_str(), &pattern],
        )
        .await?;
        row.as_ref().map(inbound_from_row).transpose()
    }
}
