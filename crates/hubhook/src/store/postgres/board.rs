//! The PostgreSQL store's board ([`BoardStore`]), as `sqlite/board.rs`: the columns' pages and
//! capped counts (statements from `store/board_sql.rs`, their plans checked in `hot.rs`'s test),
//! assignment (the task locked `FOR UPDATE`, the user `FOR SHARE`, so that an assignment and the
//! user's disabling take turns), and the unassignment of a user who left.

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use jiff::Timestamp;
use tokio_postgres::types::ToSql;

use super::ingest::insert_event;
use super::notify::{announce, change};
use super::{PostgresStore, exec, outbox, query, query_opt, text};
use crate::{
    domain::{
        HotelId, Task,
        assignment::{Assignee, Departure},
        board::Count,
        time,
    },
    events::{ChangeKind, TaskChange},
    store::{
        AssignChange, Board, BoardQuery, BoardStore, OpenCounts, StoreError,
        board::{archive_cutoffs, column_page, depart, needs_count, settle_assignment},
        board_sql::{self, Arg, Dialect, On, Statement},
        rows::{Columns, TASK_COL_COUNT, TASK_COLS, board_task_from_row, task_from_row},
    },
};

/// A statement's arguments as PostgreSQL takes them (text without NULs, as everywhere).
fn clean(st: &Statement) -> Vec<Arg> {
    st.args
        .iter()
        .map(|a| match a {
            Arg::Text(s) => Arg::Text(text(s).into_owned()),
            Arg::Int(n) => Arg::Int(*n),
        })
        .collect()
}

fn refs(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Text(s) => s as &(dyn ToSql + Sync),
            Arg::Int(n) => n as &(dyn ToSql + Sync),
        })
        .collect()
}

async fn count<C: GenericClient + Sync>(
    c: &C,
    st: &Statement,
    cap: u32,
) -> Result<Count, StoreError> {
    let args = clean(st);
    let row = query_opt(c, &st.sql, &refs(&args)).await?;
    let n = row.as_ref().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    Ok(Count::capped(u64::try_from(n).unwrap_or(0), cap))
}

async fn read_board<C: GenericClient + Sync>(c: &C, q: &BoardQuery) -> Result<Board, StoreError> {
    let (now, since) = (time::format(q.now), time::format(q.finished_since));
    let on = On {
        hotel: q.hotel.as_str(),
        scope: &q.scope,
        now: &now,
        since: &since,
    };
    let mut columns = Vec::with_capacity(q.columns.len());
    for (column, cursor) in &q.columns {
        let st = board_sql::page(Dialect::Postgres, on, *column, cursor.as_ref(), q.limit + 1);
        let args = clean(&st);
        let rows = query(c, &st.sql, &refs(&args))
            .await?
            .iter()
            .map(board_task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let counted = match needs_count(rows.len(), q.limit, cursor.is_none()) {
            true => {
                let st = board_sql::count(Dialect::Postgres, on, *column, q.count_cap);
                Some(count(c, &st, q.count_cap).await?)
            }
            false => None,
        };
        columns.push(column_page(*column, rows, q.limit, counted));
    }
    let st = board_sql::overdue(Dialect::Postgres, on, q.count_cap);
    let overdue = count(c, &st, q.count_cap).await?;
    Ok(Board { columns, overdue })
}

/// The user of `hotel` with this (normalised) email, locked against a concurrent disabling.
async fn assignee(
    tx: &Transaction<'_>,
    hotel: &str,
    email: &str,
) -> Result<Option<Assignee>, StoreError> {
    let row = query_opt(
        tx,
        "SELECT id, email, disabled FROM users WHERE hotel_id = $1 AND email = $2 FOR SHARE",
        &[&hotel, &text(email)],
    )
    .await?;
    row.map(|r| {
        Ok(Assignee {
            id: r.text(0)?,
            email: r.text(1)?,
            disabled: r.flag(2)?,
        })
    })
    .transpose()
}

/// The assignment's transaction, as `sqlite/board.rs`'s.
async fn assign(
    tx: &Transaction<'_>,
    ch: &AssignChange,
) -> Result<(Task, Vec<TaskChange>, usize), StoreError> {
    let hotel = ch.hotel.as_str();
    let sql = format!(
        "SELECT {TASK_COLS}, assignee_id FROM tasks WHERE hotel_id = $1 AND id = $2 FOR UPDATE"
    );
    let row = query_opt(tx, &sql, &[&hotel, &text(&ch.task)])
        .await?
        .ok_or(StoreError::NotFound)?;
    let (task, current) = (task_from_row(&row)?, row.opt_text(TASK_COL_COUNT)?);
    let target = match &ch.assignee {
        Some(email) => assignee(tx, hotel, email).await?,
        None => None,
    };
    let Some(w) = settle_assignment(ch, task.clone(), current, target)? else {
        return Ok((task, Vec::new(), 0));
    };
    let now = time::format(time::now());
    exec(
        tx,
        "UPDATE tasks SET assignee_id = $2, updated_at = $3, archived = false WHERE id = $1",
        &[&w.task.id, &w.assignee_id, &now],
    )
    .await?;
    let s = w.task.status;
    let actor = text(&ch.actor);
    insert_event(tx, &w.task.id, &now, &actor, Some(s), s, Some(&w.note)).await?;
    let queued =
        outbox::enqueue_assignment(tx, hotel, &w.task, w.previous.as_deref(), &now).await?;
    let changes = vec![change(&ch.hotel, &w.task, ChangeKind::Assigned)];
    Ok((w.task, changes, queued))
}

/// Unassigns the unfinished tasks of a user who is disabled or removed, as
/// `sqlite/board.rs`'s `unassign_departed`; the tasks locked while it writes them.
pub(super) async fn unassign_departed(
    tx: &Transaction<'_>,
    hotel: &HotelId,
    user_id: &str,
    email: &str,
    why: Departure,
    actor: &str,
) -> Result<(Vec<TaskChange>, usize), StoreError> {
    let sql = format!(
        "SELECT {TASK_COLS} FROM tasks WHERE hotel_id = $1 AND assignee_id = $2
           AND status IN ('open', 'accepted', 'in_progress') ORDER BY seq FOR UPDATE"
    );
    let tasks = query(tx, &sql, &[&hotel.as_str(), &user_id])
        .await?
        .iter()
        .map(task_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let now = time::format(time::now());
    let (mut changes, mut queued) = (Vec::with_capacity(tasks.len()), 0);
    for task in tasks {
        let (task, note) = depart(task, email, why);
        exec(
            tx,
            "UPDATE tasks SET assignee_id = NULL, updated_at = $2 WHERE id = $1",
            &[&task.id, &now],
        )
        .await?;
        let s = task.status;
        insert_event(tx, &task.id, &now, actor, Some(s), s, Some(&note)).await?;
        queued += outbox::enqueue_assignment(tx, hotel.as_str(), &task, Some(email), &now).await?;
        changes.push(change(hotel, &task, ChangeKind::Assigned));
    }
    Ok((changes, queued))
}

/// The hotels that archive (`hotels_archiving`).
pub(super) const ARCHIVING_HOTELS: &str =
    "SELECT id, archive_after_secs FROM hotels WHERE archive_after_secs > 0";

/// The hotels' unfinished tasks last changed before each one's cutoff, the oldest first per hotel
/// (`tasks_stale`), at most `$3`, locked: rows another instance holds are skipped, and one it has
/// archived meanwhile no longer matches.
pub(super) const STALE_TASKS: &str = "SELECT s.seq, s.id, s.status, s.hotel_id
     FROM unnest($1::text[], $2::text[]) AS h(id, cutoff)
     CROSS JOIN LATERAL (
         SELECT t.seq, t.id, t.status, t.hotel_id FROM tasks t
         WHERE t.hotel_id = h.id AND t.status IN ('open', 'accepted', 'in_progress')
           AND NOT t.archived AND t.updated_at < h.cutoff
         ORDER BY t.updated_at, t.seq LIMIT $3
         FOR UPDATE SKIP LOCKED) s
     LIMIT $3";

/// Who the history says archived a task.
const ACTOR: &str = "hubhook";

/// The archiver's transaction: the due tasks found and locked, archived, each with its history
/// line; returns the board's changes.
async fn archive(
    tx: &Transaction<'_>,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<TaskChange>, StoreError> {
    let hotels = query(tx, ARCHIVING_HOTELS, &[])
        .await?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let hotels = archive_cutoffs(hotels, now);
    if hotels.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = hotels.iter().map(|a| a.hotel.as_str()).collect();
    let cutoffs: Vec<&str> = hotels.iter().map(|a| a.cutoff.as_str()).collect();
    let rows = query(tx, STALE_TASKS, &[&ids, &cutoffs, &i64::from(limit)]).await?;
    let at = time::format(now);
    let mut changes = Vec::with_capacity(rows.len());
    for r in &rows {
        let (seq, id, hotel) = (r.int(0)?, r.text(1)?, r.text(3)?);
        let status = crate::store::rows::status_from(&r.text(2)?)?;
        exec(
            tx,
            "UPDATE tasks SET archived = true, updated_at = $2 WHERE seq = $1",
            &[&seq, &at],
        )
        .await?;
        let note = hotels
            .iter()
            .find(|a| a.hotel == hotel)
            .map(|a| a.note.as_str());
        insert_event(tx, &id, &at, ACTOR, Some(status), status, note).await?;
        if let Ok(hotel) = HotelId::parse(&hotel) {
            changes.push(TaskChange {
                hotel,
                task_id: id,
                status,
                kind: ChangeKind::Archived,
            });
        }
    }
    Ok(changes)
}

#[async_trait]
impl BoardStore for PostgresStore {
    async fn board(&self, q: BoardQuery) -> Result<Board, StoreError> {
        let client = self.pool.get().await?;
        read_board(&client, &q).await
    }

    async fn open_counts(
        &self,
        hotel: &HotelId,
        now: Timestamp,
        cap: u32,
    ) -> Result<OpenCounts, StoreError> {
        let client = self.pool.get().await?;
        let now = time::format(now);
        let scope = Default::default();
        let on = On {
            hotel: hotel.as_str(),
            scope: &scope,
            now: &now,
            since: &now,
        };
        Ok(OpenCounts {
            open: count(
                &client,
                &board_sql::open(Dialect::Postgres, hotel.as_str(), cap),
                cap,
            )
            .await?,
            overdue: count(
                &client,
                &board_sql::overdue(Dialect::Postgres, on, cap),
                cap,
            )
            .await?,
        })
    }

    async fn assign_task(&self, ch: AssignChange) -> Result<Task, StoreError> {
        let (task, changes, queued) = in_tx!(self, |tx| {
            let r = assign(&tx, &ch).await?;
            announce(&tx, &self.signals, &r.1, r.2).await?;
            Ok(r)
        })?;
        self.signals.queued(queued);
        self.signals.events.publish(changes);
        Ok(task)
    }

    async fn archive_stale(&self, now: Timestamp, limit: u32) -> Result<u32, StoreError> {
        let changes = in_tx!(self, |tx| {
            let changes = archive(&tx, now, limit).await?;
            announce(&tx, &self.signals, &changes, 0).await?;
            Ok(changes)
        })?;
        let n = changes.len() as u32;
        self.signals.events.publish(changes);
        Ok(n)
    }
}
