//! The SQLite store's board ([`BoardStore`]): the columns' pages and capped counts (statements from
//! `store/board_sql.rs`), assignment, and the unassignment of a user who left (called by
//! `accounts.rs` in the transaction that disables or removes them).

use async_trait::async_trait;
use rusqlite::{Connection, params, params_from_iter, types::Value};

use super::{SqliteStore, ingest::insert_event, outbox};
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
        board::{Archiving, archive_cutoffs, column_page, depart, needs_count, settle_assignment},
        board_sql::{self, Arg, Dialect, On, Statement},
        rows::{Columns, TASK_COL_COUNT, TASK_COLS, board_task_from_row, task_from_row},
    },
};

fn values(args: &[Arg]) -> Vec<Value> {
    args.iter()
        .map(|a| match a {
            Arg::Text(s) => Value::Text(s.clone()),
            Arg::Int(n) => Value::Integer(*n),
        })
        .collect()
}

fn count(c: &Connection, st: &Statement, cap: u32) -> Result<Count, StoreError> {
    let n: i64 = c
        .prepare_cached(&st.sql)?
        .query_row(params_from_iter(values(&st.args)), |r| r.get(0))?;
    Ok(Count::capped(u64::try_from(n).unwrap_or(0), cap))
}

fn read_board(c: &Connection, q: &BoardQuery) -> Result<Board, StoreError> {
    let (now, since) = (time::format(q.now), time::format(q.finished_since));
    let on = On {
        hotel: q.hotel.as_str(),
        scope: &q.scope,
        now: &now,
        since: &since,
    };
    let mut columns = Vec::with_capacity(q.columns.len());
    for (column, cursor) in &q.columns {
        let st = board_sql::page(Dialect::Sqlite, on, *column, cursor.as_ref(), q.limit + 1);
        let rows: Vec<_> = c
            .prepare_cached(&st.sql)?
            .query_and_then(params_from_iter(values(&st.args)), |r| {
                board_task_from_row(r)
            })?
            .collect::<Result<_, StoreError>>()?;
        let counted = match needs_count(rows.len(), q.limit, cursor.is_none()) {
            true => Some(count(
                c,
                &board_sql::count(Dialect::Sqlite, on, *column, q.count_cap),
                q.count_cap,
            )?),
            false => None,
        };
        columns.push(column_page(*column, rows, q.limit, counted));
    }
    let overdue = count(
        c,
        &board_sql::overdue(Dialect::Sqlite, on, q.count_cap),
        q.count_cap,
    )?;
    Ok(Board { columns, overdue })
}

/// The user of `hotel` with this (normalised) email.
fn assignee(c: &Connection, hotel: &str, email: &str) -> Result<Option<Assignee>, StoreError> {
    c.prepare_cached("SELECT id, email, disabled FROM users WHERE hotel_id = ?1 AND email = ?2")?
        .query_and_then([hotel, email], |r| {
            Ok::<_, StoreError>(Assignee {
                id: r.text(0)?,
                email: r.text(1)?,
                disabled: r.flag(2)?,
            })
        })?
        .next()
        .transpose()
}

/// A change for the live board.
fn change(hotel: &HotelId, t: &Task, kind: ChangeKind) -> TaskChange {
    TaskChange {
        hotel: hotel.clone(),
        task_id: t.id.clone(),
        status: t.status,
        kind,
    }
}

/// The assignment's transaction: the task and the user read, the rules asked, the row, its history
/// line and `task.assigned` written.
fn assign(c: &Connection, ch: &AssignChange) -> Result<(Task, Vec<TaskChange>, usize), StoreError> {
    let hotel = ch.hotel.as_str();
    let (task, current) = c
        .prepare_cached(&format!(
            "SELECT {TASK_COLS}, assignee_id FROM tasks WHERE hotel_id = ?1 AND id = ?2"
        ))?
        .query_and_then([hotel, &ch.task], |r| {
            Ok::<_, StoreError>((task_from_row(r)?, r.opt_text(TASK_COL_COUNT)?))
        })?
        .next()
        .transpose()?
        .ok_or(StoreError::NotFound)?;
    let target = match &ch.assignee {
        Some(email) => assignee(c, hotel, email)?,
        None => None,
    };
    let Some(w) = settle_assignment(ch, task.clone(), current, target)? else {
        return Ok((task, Vec::new(), 0));
    };
    let now = time::format(time::now());
    c.prepare_cached(
        "UPDATE tasks SET assignee_id = ?2, updated_at = ?3, archived = 0 WHERE id = ?1",
    )?
    .execute(params![&w.task.id, w.assignee_id, &now])?;
    let s = w.task.status;
    insert_event(c, &w.task.id, &now, &ch.actor, Some(s), s, Some(&w.note))?;
    let queued = outbox::enqueue_assignment(c, hotel, &w.task, w.previous.as_deref(), &now)?;
    let changes = vec![change(&ch.hotel, &w.task, ChangeKind::Assigned)];
    Ok((w.task, changes, queued))
}

/// Unassigns the unfinished tasks of a user who is disabled or removed, each with a history line
/// (by `actor`) and `task.assigned`; returns the board's changes and how many deliveries were
/// queued. Read through `tasks_by_assignee`: the user's own tasks only.
pub(super) fn unassign_departed(
    c: &Connection,
    hotel: &HotelId,
    user_id: &str,
    email: &str,
    why: Departure,
    actor: &str,
) -> Result<(Vec<TaskChange>, usize), StoreError> {
    let tasks: Vec<Task> = c
        .prepare_cached(&format!(
            "SELECT {TASK_COLS} FROM tasks WHERE hotel_id = ?1 AND assignee_id = ?2
               AND status NOT IN ('done', 'cancelled') ORDER BY seq"
        ))?
        .query_and_then([hotel.as_str(), user_id], |r| task_from_row(r))?
        .collect::<Result<_, _>>()?;
    let now = time::format(time::now());
    let (mut changes, mut queued) = (Vec::with_capacity(tasks.len()), 0);
    for task in tasks {
        let (task, note) = depart(task, email, why);
        c.prepare_cached("UPDATE tasks SET assignee_id = NULL, updated_at = ?2 WHERE id = ?1")?
            .execute(params![&task.id, &now])?;
        let s = task.status;
        insert_event(c, &task.id, &now, actor, Some(s), s, Some(&note))?;
        queued += outbox::enqueue_assignment(c, hotel.as_str(), &task, Some(email), &now)?;
        changes.push(change(hotel, &task, ChangeKind::Assigned));
    }
    Ok((changes, queued))
}

/// The hotels that archive (`hotels_archiving`).
pub(super) const ARCHIVING_HOTELS: &str =
    "SELECT id, archive_after_secs FROM hotels WHERE archive_after_secs > 0";

/// A hotel's unfinished tasks last changed before `?2`, the oldest first (`tasks_stale`).
pub(super) const STALE_TASKS: &str = "SELECT seq FROM tasks
     WHERE hotel_id = ?1 AND status NOT IN ('done', 'cancelled') AND archived = 0
       AND updated_at < ?2
     ORDER BY updated_at, seq LIMIT ?3";

/// The tasks to archive at `now`, at most `limit`, read on a reader: each with its hotel's
/// archiving.
fn stale(
    c: &Connection,
    now: jiff::Timestamp,
    limit: u32,
) -> Result<Vec<(i64, Archiving)>, StoreError> {
    let hotels: Vec<(String, i64)> = c
        .prepare_cached(ARCHIVING_HOTELS)?
        .query_and_then([], |r| Ok::<_, StoreError>((r.text(0)?, r.int(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for a in archive_cutoffs(hotels, now) {
        let left = i64::from(limit) - out.len() as i64;
        if left <= 0 {
            break;
        }
        let seqs: Vec<i64> = c
            .prepare_cached(STALE_TASKS)?
            .query_and_then(params![a.hotel, a.cutoff, left], |r| r.int(0))?
            .collect::<Result<_, _>>()?;
        out.extend(seqs.into_iter().map(|s| (s, a.clone())));
    }
    Ok(out)
}

/// Archives the tasks `stale` found, each only if it still is one (unfinished, not archived, not
/// changed since: the writer is the only one to write, so the check and the write are one step).
fn archive(
    c: &Connection,
    found: &[(i64, Archiving)],
    now: jiff::Timestamp,
) -> Result<Vec<TaskChange>, StoreError> {
    let at = time::format(now);
    let mut changes = Vec::new();
    for (seq, a) in found {
        let row = c
            .prepare_cached(
                "UPDATE tasks SET archived = 1, updated_at = ?2
                 WHERE seq = ?1 AND archived = 0 AND status NOT IN ('done', 'cancelled')
                   AND updated_at < ?3
                 RETURNING id, status",
            )?
            .query_and_then(params![seq, &at, &a.cutoff], |r| {
                Ok::<_, StoreError>((r.text(0)?, r.text(1)?))
            })?
            .next()
            .transpose()?;
        let Some((id, status)) = row else {
            continue;
        };
        let status = crate::store::rows::status_from(&status)?;
        insert_event(c, &id, &at, ACTOR, Some(status), status, Some(&a.note))?;
        if let Ok(hotel) = HotelId::parse(&a.hotel) {
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

/// Who the history says archived a task.
const ACTOR: &str = "hubhook";

#[async_trait]
impl BoardStore for SqliteStore {
    async fn board(&self, q: BoardQuery) -> Result<Board, StoreError> {
        self.read(move |c| read_board(c, &q)).await
    }

    async fn open_counts(
        &self,
        hotel: &HotelId,
        now: jiff::Timestamp,
        cap: u32,
    ) -> Result<OpenCounts, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
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
                    c,
                    &board_sql::open(Dialect::Sqlite, hotel.as_str(), cap),
                    cap,
                )?,
                overdue: count(c, &board_sql::overdue(Dialect::Sqlite, on, cap), cap)?,
            })
        })
        .await
    }

    async fn assign_task(&self, ch: AssignChange) -> Result<Task, StoreError> {
        let (task, changes, queued) = self.write(move |c| assign(c, &ch)).await?;
        self.queued(queued);
        self.events.publish(changes);
        Ok(task)
    }

    async fn archive_stale(&self, now: jiff::Timestamp, limit: u32) -> Result<u32, StoreError> {
        // Found on a reader (the hotels' index probes never hold the writer), written by it.
        let found = self.read(move |c| stale(c, now, limit)).await?;
        if found.is_empty() {
            return Ok(0);
        }
        let changes = self.write(move |c| archive(c, &found, now)).await?;
        let n = changes.len() as u32;
        self.events.publish(changes);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan_check::{migrated, plan, plan_with};
    use super::values;
    use crate::store::board_sql::{Dialect, every_shape};

    /// Every board statement reads its column through the index made for it, from one end of
    /// the column's range, and stops: no scan of the hotel's tasks or open tasks, no sort.
    #[test]
    fn every_board_statement_reads_a_column_through_its_index() {
        let (_dir, conn) = migrated("board.db");
        let mut bad = Vec::new();
        for (name, st) in every_shape(Dialect::Sqlite) {
            let lines = plan_with(&conn, &st.sql, values(&st.args));
            let want = if name.contains("later") {
                "tasks_later"
            } else if name.contains("finished") {
                "tasks_finished"
            } else if name.contains("room") || name.contains("floor") {
                "tasks_board_room"
            } else if name.contains("department") {
                "tasks_board_department"
            } else if name.contains("mine") {
                "tasks_board_assignee"
            } else {
                "tasks_board"
            };
            let uses = lines.iter().any(|l| l.contains(&format!("INDEX {want} (")));
            let scans = lines.iter().any(|l| {
                (l.starts_with("SCAN ") && !l.starts_with("SCAN CONSTANT") && !l.contains("SCAN c"))
                    || l.contains("tasks_by_hotel")
            });
            let sorts = lines.iter().any(|l| l.contains("TEMP B-TREE"));
            // A room's or a floor's tasks are few: read through the room index and sorted.
            let sort_ok = name.contains("room") || name.contains("floor");
            if !uses || scans || (sorts && !sort_ok) {
                bad.push(format!("{name}: {lines:?}"));
            }
        }
        // The archiver's reads: the hotels that archive, then each one's stale tasks.
        for (sql, index) in [
            (super::ARCHIVING_HOTELS, "INDEX hotels_archiving"),
            (
                super::STALE_TASKS,
                "INDEX tasks_stale (hotel_id=? AND updated_at<?)",
            ),
        ] {
            let lines = plan(&conn, sql);
            if !lines.iter().any(|l| l.contains(index)) || lines.iter().any(|l| l.contains("TEMP"))
            {
                bad.push(format!("{sql}: {lines:?}"));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
