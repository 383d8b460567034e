//! The board's reads and assignment: the types and the [`BoardStore`] trait, and what both backends
//! share of them (settling an assignment with `domain::assignment`, the cursor after a page).
//!
//! A board never reads a hotel's whole backlog: each column is read a page at a time through an
//! index in the column's order (`tasks_board*`, `tasks_later`, `tasks_finished`, migration 12), and
//! counted only up to a cap (docs/ui.md, "The board with a long backlog").

use async_trait::async_trait;
use jiff::Timestamp;

use super::{BoardTask, StoreError};
use crate::domain::{
    HotelId, Task, archive,
    assignment::{self, Assignee, Assigner, Current, Decision, Departure},
    board::{Column, Count, Cursor},
    time,
};

/// Which rooms a board shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomFilter {
    /// One room (the board's search).
    Room(String),
    /// The rooms of a floor (as `rooms.floor` says).
    Floor(String),
}

/// Whose tasks a board shows; every part that is set narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardScope {
    /// Only this department's tasks.
    pub department: Option<String>,
    /// Only the tasks assigned to this user (`users.id`): the "Mine" view.
    pub assignee: Option<String>,
    /// Only these rooms' tasks.
    pub rooms: Option<RoomFilter>,
}

/// What a board asks for.
#[derive(Debug, Clone)]
pub struct BoardQuery {
    /// The hotel.
    pub hotel: HotelId,
    /// Whose tasks.
    pub scope: BoardScope,
    /// The columns to read, each from after its cursor (None: its first page).
    pub columns: Vec<(Column, Option<Cursor>)>,
    /// The time the board is for (Later, overdue).
    pub now: Timestamp,
    /// Finished tasks show when they finished at or after this.
    pub finished_since: Timestamp,
    /// Cards per column.
    pub limit: u32,
    /// Counts stop past this.
    pub count_cap: u32,
}

/// One column's page.
#[derive(Debug, Clone)]
pub struct ColumnPage {
    /// Which column.
    pub column: Column,
    /// Its cards, in its order.
    pub tasks: Vec<BoardTask>,
    /// Where its next page starts; None on its last.
    pub next: Option<Cursor>,
    /// How many cards the whole column holds (from its first card, capped).
    pub count: Count,
}

/// A board: the pages asked for, and how many of the scope's tasks are overdue (capped).
#[derive(Debug, Clone)]
pub struct Board {
    /// In the order asked for.
    pub columns: Vec<ColumnPage>,
    /// Tasks not finished, not archived, past their due time.
    pub overdue: Count,
}

/// The dashboard's counts of a hotel's tasks on the board, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenCounts {
    /// Not finished, not archived.
    pub open: Count,
    /// Of those, past their due time.
    pub overdue: Count,
}

/// An assignment change (CONTRACT.md section 6).
#[derive(Debug, Clone)]
pub struct AssignChange {
    /// The task's hotel (another hotel's task is not found).
    pub hotel: HotelId,
    /// The task's id.
    pub task: String,
    /// The assignee's email, normalised (`domain::account::normalize_email`); None clears it.
    pub assignee: Option<String>,
    /// A staff account asking for itself (`users.id`); None: a manager.
    pub staff_user: Option<String>,
    /// Who the history names.
    pub actor: String,
}

impl AssignChange {
    /// Who asks, as the rules see it.
    pub fn assigner(&self) -> Assigner<'_> {
        match &self.staff_user {
            Some(id) => Assigner::Staff { user_id: id },
            None => Assigner::Manager,
        }
    }
}

/// What a store writes for an assignment the rules allowed.
#[derive(Debug, Clone)]
pub(super) struct AssignWrite {
    /// The task as it now reads.
    pub task: Task,
    /// The new `tasks.assignee_id`.
    pub assignee_id: Option<String>,
    /// The previous assignee's email (what `task.assigned` says was before).
    pub previous: Option<String>,
    /// The history line.
    pub note: String,
}

/// Settles `change` on `task` (assigned to `current_id` now) with `target`, the user its email
/// names in the hotel (`None` when no user of the hotel has it; not asked for a clear): `None`
/// when nothing changes.
pub(super) fn settle_assignment(
    change: &AssignChange,
    task: Task,
    current_id: Option<String>,
    target: Option<Assignee>,
) -> Result<Option<AssignWrite>, StoreError> {
    let current = current_id.as_deref().map(|id| Current {
        id,
        email: task.assignee.as_deref(),
    });
    let target = change
        .assignee
        .as_ref()
        .map(|email| target.ok_or_else(|| email.clone()));
    let decision = assignment::decide(change.assigner(), current, target)?;
    let Decision::Set(to) = decision else {
        return Ok(None);
    };
    let previous = task.assignee.clone();
    let note = assignment::history_note(previous.as_deref(), to.as_ref().map(|u| u.email.as_str()));
    let task = Task {
        assignee: to.as_ref().map(|u| u.email.clone()),
        archived: false,
        ..task
    };
    Ok(Some(AssignWrite {
        task,
        assignee_id: to.map(|u| u.id),
        previous,
        note,
    }))
}

/// A user's open task unassigned because they left: the task as it now reads and its history line.
pub(super) fn depart(task: Task, email: &str, why: Departure) -> (Task, String) {
    let task = Task {
        assignee: None,
        ..task
    };
    (task, assignment::departure_note(email, why))
}

/// The cursor after `t` in `column`.
pub(super) fn cursor_after(column: Column, t: &BoardTask) -> Cursor {
    let keys = match column {
        Column::Open | Column::Accepted | Column::InProgress => vec![
            t.task.priority.as_str().to_owned(),
            t.board_at.clone().unwrap_or_default(),
        ],
        Column::Later => vec![t.later_until.clone().unwrap_or_default()],
        Column::Finished => vec![t.updated_at.clone()],
    };
    Cursor { keys, seq: t.seq }
}

/// Whether a column's page needs a count of its own: unless it is the first page and holds the
/// whole column (`read` rows of at most `limit + 1` asked for).
pub(super) fn needs_count(read: usize, limit: u32, first_page: bool) -> bool {
    !first_page || read > limit as usize
}

/// A column's page from the rows read with one more than `limit`, and its count when
/// [`needs_count`] said so (None: the page holds the whole column).
pub(super) fn column_page(
    column: Column,
    mut rows: Vec<BoardTask>,
    limit: u32,
    counted: Option<Count>,
) -> ColumnPage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = match more {
        true => rows.last().map(|t| cursor_after(column, t)),
        false => None,
    };
    let count = counted.unwrap_or(Count::Exact(rows.len() as u32));
    ColumnPage {
        column,
        tasks: rows,
        next,
        count,
    }
}

/// The board's reads and assignment.
#[async_trait]
pub trait BoardStore: Send + Sync {
    /// The columns a board asks for, a page each, with their counts and the overdue count.
    async fn board(&self, q: BoardQuery) -> Result<Board, StoreError>;
    /// The dashboard's counts of the hotel's tasks on the board, each stopped past `cap`.
    async fn open_counts(
        &self,
        hotel: &HotelId,
        now: Timestamp,
        cap: u32,
    ) -> Result<OpenCounts, StoreError>;
    /// Sets or clears a task's assignee as the rules allow (`domain::assignment`), with a history
    /// line and `task.assigned` in one transaction; the task unchanged when it already had that
    /// assignee. Another hotel's task is `NotFound`; an unknown user `Assign(UnknownAssignee)`.
    async fn assign_task(&self, change: AssignChange) -> Result<Task, StoreError>;
    /// Archives up to `limit` tasks left unfinished and untouched past their hotel's
    /// archive-after at `now` (`domain::archive`), the longest untouched first, each with a
    /// history line and the live board told; returns how many. Safe to run from several
    /// processes at once: a task is archived once.
    async fn archive_stale(&self, now: Timestamp, limit: u32) -> Result<u32, StoreError>;
}

/// The hotels that archive, as read from `hotels_archiving` (`id, archive_after_secs`): each with
/// its setting and the last change before which its tasks are archived at `now`.
pub(super) fn archive_cutoffs(hotels: Vec<(String, i64)>, now: Timestamp) -> Vec<Archiving> {
    hotels
        .into_iter()
        .filter_map(|(hotel, secs)| {
            let secs = u32::try_from(secs).ok().filter(|s| *s > 0);
            let cutoff = archive::cutoff(now, secs)?;
            Some(Archiving {
                hotel,
                cutoff: time::format(cutoff),
                note: archive::history_note(secs),
            })
        })
        .collect()
}

/// One hotel's archiving at one run.
#[derive(Debug, Clone)]
pub(super) struct Archiving {
    /// The hotel.
    pub hotel: String,
    /// Its tasks last changed before this (formatted) are archived.
    pub cutoff: String,
    /// The history line they get.
    pub note: String,
}
