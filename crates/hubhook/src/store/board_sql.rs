//! The board's statements, composed once for both backends (they differ only in how a parameter
//! is written and how `archived` is tested): a column's page, its capped count, and the overdue
//! and open counts. Each names its column's order exactly as an index of migration 12 holds it,
//! with the same predicate as that (partial) index, so that both planners read a page or a count
//! through that index and stop: the plan tests of `sqlite/board.rs` and `postgres/hot.rs` check it.

use super::board::{BoardScope, RoomFilter};
use super::rows::{BOARD_EXTRA_COLS, TASK_COLS};
use crate::domain::board::{Column, Cursor};

/// How a backend writes what differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `?1`, `archived = 0`.
    Sqlite,
    /// `$1`, `NOT archived`.
    Postgres,
}

impl Dialect {
    fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The test the board's partial indexes make of the status (not finished), on `tasks t`:
    /// SQLite names the two finished statuses, since it evaluates a list of three or more through
    /// a temporary B-tree built at every run of a statement (its migration 17).
    fn active(self) -> &'static str {
        match self {
            Dialect::Sqlite => "t.status NOT IN ('done', 'cancelled')",
            Dialect::Postgres => "t.status IN ('open', 'accepted', 'in_progress')",
        }
    }

    /// The test the board's partial indexes make of `archived`, on `tasks t`.
    fn not_archived(self) -> &'static str {
        match self {
            Dialect::Sqlite => "t.archived = 0",
            Dialect::Postgres => "NOT t.archived",
        }
    }
}

/// A statement's argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Arg {
    /// Text.
    Text(String),
    /// An integer (a row, a limit).
    Int(i64),
}

/// A statement and its arguments, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Statement {
    /// The SQL text: the same for every query of one shape, so each backend prepares it once.
    pub sql: String,
    /// Its arguments.
    pub args: Vec<Arg>,
}

/// Builds a statement's text and arguments side by side.
struct Builder {
    dialect: Dialect,
    args: Vec<Arg>,
}

impl Builder {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            args: Vec::new(),
        }
    }

    fn text(&mut self, v: &str) -> String {
        self.args.push(Arg::Text(v.to_owned()));
        self.dialect.placeholder(self.args.len())
    }

    fn int(&mut self, v: i64) -> String {
        self.args.push(Arg::Int(v));
        self.dialect.placeholder(self.args.len())
    }

    fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            args: self.args,
        }
    }
}

/// A column's filter on `tasks t` (what its index holds, then the column's own test) and the
/// order that index reads it in.
fn column_where(
    b: &mut Builder,
    column: Column,
    hotel: &str,
    now: &str,
    since: &str,
) -> (String, &'static str) {
    let h = b.text(hotel);
    let (active, not_archived) = (b.dialect.active(), b.dialect.not_archived());
    match column {
        Column::Open | Column::Accepted | Column::InProgress => {
            let status = column.status().map(|s| s.as_str()).unwrap_or_default();
            let mut w = format!(
                "t.hotel_id = {h} AND t.status = '{status}' AND {active} AND {not_archived}"
            );
            if column != Column::InProgress {
                let n = b.text(now);
                w.push_str(&format!(
                    " AND (t.later_until IS NULL OR t.later_until <= {n})"
                ));
            }
            (w, "t.priority, t.board_at, t.seq")
        }
        Column::Later => {
            let n = b.text(now);
            (
                format!(
                    "t.hotel_id = {h} AND t.later_until IS NOT NULL \
                     AND t.status IN ('open', 'accepted') AND {not_archived} AND t.later_until > {n}"
                ),
                "t.later_until, t.seq",
            )
        }
        Column::Finished => {
            let s = b.text(since);
            (
                format!(
                    "t.hotel_id = {h} AND t.status IN ('done', 'cancelled') AND t.updated_at >= {s}"
                ),
                "t.updated_at DESC, t.seq DESC",
            )
        }
    }
}

/// The scope's filters on `tasks t` (a floor's is the statement's [`source`]).
fn scope_where(b: &mut Builder, scope: &BoardScope) -> String {
    let mut w = String::new();
    if let Some(d) = &scope.department {
        w.push_str(&format!(" AND t.department = {}", b.text(d)));
    }
    if let Some(a) = &scope.assignee {
        w.push_str(&format!(" AND t.assignee_id = {}", b.text(a)));
    }
    if let Some(RoomFilter::Room(r)) = &scope.rooms {
        w.push_str(&format!(" AND t.room = {}", b.text(r)));
    }
    w
}

/// Where a statement reads `tasks t` matching `w` (the scope in it but a floor) from, and the
/// filter it then applies. A floor's status columns and counts are read room by room through
/// `tasks_board_room` (`by_room`), so that the work is bounded by the floor's tasks on the board,
/// never a read of the whole column for a floor with few: on PostgreSQL a `LATERAL` join over the
/// floor's rooms, each room's first `limit` in `order`; SQLite, which has neither `LATERAL` nor
/// statistics, is told the index (`INDEXED BY`). Later and Finished (few tasks) filter by floor.
fn source(
    b: &mut Builder,
    on: On<'_>,
    by_room: bool,
    w: String,
    order: &str,
    limit: &str,
) -> (String, String) {
    let Some(RoomFilter::Floor(floor)) = &on.scope.rooms else {
        return ("tasks t".to_owned(), w);
    };
    let (h, f) = (b.text(on.hotel), b.text(floor));
    if b.dialect == Dialect::Postgres && by_room {
        return (
            format!(
                "rooms fr CROSS JOIN LATERAL (SELECT * FROM tasks t
                     WHERE t.hotel_id = fr.hotel_id AND t.room = fr.number AND {w}
                     ORDER BY {order} LIMIT {limit}) t"
            ),
            format!("fr.hotel_id = {h} AND fr.floor = {f}"),
        );
    }
    let tasks = match (b.dialect, by_room) {
        (Dialect::Sqlite, true) => "tasks t INDEXED BY tasks_board_room",
        _ => "tasks t",
    };
    let rooms =
        format!("t.room IN (SELECT number FROM rooms WHERE hotel_id = {h} AND floor = {f})");
    (tasks.to_owned(), format!("{w} AND {rooms}"))
}

/// After `cursor`, in `column`'s order.
fn cursor_where(b: &mut Builder, column: Column, cursor: &Cursor) -> String {
    let keys: Vec<String> = cursor.keys.iter().map(|k| b.text(k)).collect();
    let seq = b.int(cursor.seq);
    match column {
        Column::Open | Column::Accepted | Column::InProgress => format!(
            " AND (t.priority, t.board_at, t.seq) > ({}, {}, {seq})",
            keys.first().cloned().unwrap_or_default(),
            keys.get(1).cloned().unwrap_or_default()
        ),
        Column::Later => format!(
            " AND (t.later_until, t.seq) > ({}, {seq})",
            keys.first().cloned().unwrap_or_default()
        ),
        Column::Finished => format!(
            " AND (t.updated_at, t.seq) < ({}, {seq})",
            keys.first().cloned().unwrap_or_default()
        ),
    }
}

/// What every board statement is about.
#[derive(Debug, Clone, Copy)]
pub(super) struct On<'a> {
    /// The hotel.
    pub hotel: &'a str,
    /// Whose tasks.
    pub scope: &'a BoardScope,
    /// The board's time, formatted.
    pub now: &'a str,
    /// Finished since, formatted.
    pub since: &'a str,
}

/// A page of `column`: `limit` cards after `cursor` (from the first without one), read with
/// [`TASK_COLS`]`, `[`BOARD_EXTRA_COLS`].
pub(super) fn page(
    dialect: Dialect,
    on: On<'_>,
    column: Column,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Statement {
    let mut b = Builder::new(dialect);
    let (mut w, order) = column_where(&mut b, column, on.hotel, on.now, on.since);
    w.push_str(&scope_where(&mut b, on.scope));
    if let Some(c) = cursor {
        w.push_str(&cursor_where(&mut b, column, c));
    }
    let l = b.int(i64::from(limit));
    let (tasks, w) = source(&mut b, on, column.status().is_some(), w, order, &l);
    // TASK_COLS unqualified: `rooms` has none of those names.
    b.finish(format!(
        "SELECT {TASK_COLS}, {BOARD_EXTRA_COLS}
         FROM {tasks} LEFT JOIN rooms r ON r.hotel_id = t.hotel_id AND r.number = t.room
         WHERE {w} ORDER BY {order} LIMIT {l}"
    ))
}

/// How many cards `column` holds, reading at most `cap + 1` index entries: the page's statement
/// without its cursor, in the same order (so that a planner reads it through the same index and
/// stops, rather than scan for rows it expects everywhere).
pub(super) fn count(dialect: Dialect, on: On<'_>, column: Column, cap: u32) -> Statement {
    let mut b = Builder::new(dialect);
    let (mut w, order) = column_where(&mut b, column, on.hotel, on.now, on.since);
    w.push_str(&scope_where(&mut b, on.scope));
    let l = b.int(i64::from(cap) + 1);
    let (tasks, w) = source(&mut b, on, column.status().is_some(), w, order, &l);
    b.finish(format!("SELECT {}", capped(&tasks, &w, order, &l)))
}

/// The statuses of the board's status columns, and the priorities, as their indexes hold them.
const STATUSES: [&str; 3] = ["open", "accepted", "in_progress"];
const PRIORITIES: [&str; 2] = ["high", "normal"];

/// How many of the scope's tasks on the board are past their due time: for each status and
/// priority, one range of a `tasks_board*` index up to `now`, in its order, each stopped past
/// `cap` (their sum is then past it too).
pub(super) fn overdue(dialect: Dialect, on: On<'_>, cap: u32) -> Statement {
    let mut b = Builder::new(dialect);
    let mut parts = Vec::new();
    for status in STATUSES {
        for priority in PRIORITIES {
            let (h, n) = (b.text(on.hotel), b.text(on.now));
            let mut w = format!(
                "t.hotel_id = {h} AND t.status = '{status}' AND {} AND {} \
                 AND t.priority = '{priority}' AND t.board_at < {n} AND t.due_at IS NOT NULL",
                dialect.active(),
                dialect.not_archived()
            );
            w.push_str(&scope_where(&mut b, on.scope));
            let l = b.int(i64::from(cap) + 1);
            let order = "t.board_at, t.seq";
            let (tasks, w) = source(&mut b, on, true, w, order, &l);
            parts.push(capped(&tasks, &w, order, &l));
        }
    }
    b.finish(format!("SELECT {}", parts.join(" + ")))
}

/// How many of the hotel's tasks are on the board (not finished, not archived): for each status,
/// its range of `tasks_board` in its order, each stopped past `cap`.
pub(super) fn open(dialect: Dialect, hotel: &str, cap: u32) -> Statement {
    let mut b = Builder::new(dialect);
    let mut parts = Vec::new();
    for status in STATUSES {
        let h = b.text(hotel);
        let w = format!(
            "t.hotel_id = {h} AND t.status = '{status}' AND {} AND {}",
            dialect.active(),
            dialect.not_archived()
        );
        let l = b.int(i64::from(cap) + 1);
        parts.push(capped("tasks t", &w, "t.priority, t.board_at, t.seq", &l));
    }
    b.finish(format!("SELECT {}", parts.join(" + ")))
}

/// A count of the rows of `tasks` (as `t`) matching `w`, read in `order`, stopped at `limit`. A
/// floor's rows (read room by room, [`source`]) are counted in no order: an order would make the
/// count read every room's rows to sort them, where without one it stops at `limit`.
fn capped(tasks: &str, w: &str, order: &str, limit: &str) -> String {
    let by_room = tasks.starts_with("rooms ") || tasks.contains("INDEXED BY");
    let order = match by_room {
        true => String::new(),
        false => format!(" ORDER BY {order}"),
    };
    format!("(SELECT count(*) FROM (SELECT 1 FROM {tasks} WHERE {w}{order} LIMIT {limit}) AS c)")
}

/// One statement of each shape the board runs, for the plan tests: every column with and without
/// a cursor, under every scope, and the counts.
#[cfg(test)]
pub(super) fn every_shape(dialect: Dialect) -> Vec<(String, Statement)> {
    let at = "2026-01-01T10:00:00.000Z";
    let scopes = [
        ("all", BoardScope::default()),
        (
            "department",
            BoardScope {
                department: Some("Housekeeping".into()),
                ..Default::default()
            },
        ),
        (
            "mine",
            BoardScope {
                assignee: Some("usr_1".into()),
                ..Default::default()
            },
        ),
        (
            "room",
            BoardScope {
                rooms: Some(RoomFilter::Room("101".into())),
                ..Default::default()
            },
        ),
        (
            "floor",
            BoardScope {
                rooms: Some(RoomFilter::Floor("1".into())),
                ..Default::default()
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, scope) in &scopes {
        let on = On {
            hotel: "big",
            scope,
            now: at,
            since: at,
        };
        for column in Column::ALL {
            let keys = match crate::domain::board::Cursor::arity(column) {
                2 => vec!["normal".to_owned(), at.to_owned()],
                _ => vec![at.to_owned()],
            };
            let cursor = Cursor { keys, seq: 10 };
            let c = column.key();
            out.push((
                format!("{name} {c} page"),
                page(dialect, on, column, None, 50),
            ));
            out.push((
                format!("{name} {c} next page"),
                page(dialect, on, column, Some(&cursor), 50),
            ));
            out.push((
                format!("{name} {c} count"),
                count(dialect, on, column, 1000),
            ));
        }
        out.push((format!("{name} overdue"), overdue(dialect, on, 1000)));
    }
    out.push(("open".into(), open(dialect, "big", 1000)));
    out
}
