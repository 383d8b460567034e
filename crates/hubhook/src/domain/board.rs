//! The board's columns and their order (docs/ui.md, "The board with a long backlog"): pure. Each
//! column is read a page at a time in a fixed order (escalated first, then by due time), with a
//! count of its cards that stops at a cap, so a hotel with a backlog of any size gets a page of the
//! same size for the same work; the next page starts after a [`Cursor`].

use super::{Task, TaskStatus, escalation::Priority};

/// A column of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `open`, not waiting under Later.
    Open,
    /// `accepted`, not waiting under Later.
    Accepted,
    /// `in_progress`.
    InProgress,
    /// A scheduled request not started, until shortly before its time (`Task::later_until`).
    Later,
    /// Done or cancelled within the last two hours, the newest first.
    Finished,
}

impl Column {
    /// Every column, in the board's order.
    pub const ALL: [Column; 5] = [
        Column::Open,
        Column::Accepted,
        Column::InProgress,
        Column::Later,
        Column::Finished,
    ];

    /// The name in URLs and in `data-column` (`open`, `in_progress`, `later`...).
    pub fn key(self) -> &'static str {
        match self {
            Column::Open => "open",
            Column::Accepted => "accepted",
            Column::InProgress => "in_progress",
            Column::Later => "later",
            Column::Finished => "finished",
        }
    }

    /// The column's heading.
    pub fn title(self) -> &'static str {
        match self {
            Column::Open => "Open",
            Column::Accepted => "Accepted",
            Column::InProgress => "In progress",
            Column::Later => "Later",
            Column::Finished => "Finished (last 2 h)",
        }
    }

    /// The column a URL names.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == raw)
    }

    /// The status a status column holds (None for Later and Finished, which hold several).
    pub fn status(self) -> Option<TaskStatus> {
        match self {
            Column::Open => Some(TaskStatus::Open),
            Column::Accepted => Some(TaskStatus::Accepted),
            Column::InProgress => Some(TaskStatus::InProgress),
            Column::Later | Column::Finished => None,
        }
    }

    /// The column `task` belongs in at `now` (it is on the board only while in one).
    pub fn of(task: &Task, now: jiff::Timestamp) -> Column {
        if task.later_until().is_some_and(|until| now < until) {
            return Column::Later;
        }
        match task.status {
            TaskStatus::Open => Column::Open,
            TaskStatus::Accepted => Column::Accepted,
            TaskStatus::InProgress => Column::InProgress,
            TaskStatus::Done | TaskStatus::Cancelled => Column::Finished,
        }
    }
}

/// Where the next page of a column starts: after the card with these sort keys. A status column
/// sorts by (priority, board time, seq), where `high` sorts before `normal` (the stored names, in
/// their text order: escalated first); Later by (when it joins the others, seq); Finished by (when
/// it finished, seq), newest first. In a URL: `key~key~seq` (`~` is in no key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort keys before `seq`: two for a status column, one for Later and Finished.
    pub keys: Vec<String>,
    /// The card's row (`tasks.seq`), which breaks ties.
    pub seq: i64,
}

impl Cursor {
    /// How many keys `column`'s cursor has.
    pub fn arity(column: Column) -> usize {
        match column {
            Column::Open | Column::Accepted | Column::InProgress => 2,
            Column::Later | Column::Finished => 1,
        }
    }

    /// As a URL carries it.
    pub fn encode(&self) -> String {
        let mut out = self.keys.join("~");
        out.push('~');
        out.push_str(&self.seq.to_string());
        out
    }

    /// A cursor of `column` from a URL; None for anything malformed (a status column's priority
    /// must be a known one, every key an instant as the store writes it).
    pub fn decode(column: Column, raw: &str) -> Option<Self> {
        let mut parts: Vec<&str> = raw.split('~').collect();
        let seq = parts.pop()?.parse::<i64>().ok().filter(|s| *s > 0)?;
        if parts.len() != Self::arity(column) {
            return None;
        }
        let (priority, instants) = match column {
            Column::Later | Column::Finished => (None, &parts[..]),
            _ => (Some(parts[0]), &parts[1..]),
        };
        if let Some(p) = priority
            && Priority::parse(p).as_str() != p
        {
            return None;
        }
        if instants
            .iter()
            .any(|i| super::time::parse_instant(i).is_none() || i.len() != 24)
        {
            return None;
        }
        Some(Self {
            keys: parts.into_iter().map(str::to_owned).collect(),
            seq,
        })
    }
}

/// How many cards a column holds, counted up to a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many.
    Exact(u32),
    /// At least this many (the cap): the count stopped there.
    AtLeast(u32),
}

impl Count {
    /// From the rows a count read when it stopped at `cap + 1`.
    pub fn capped(read: u64, cap: u32) -> Self {
        if read > u64::from(cap) {
            Count::AtLeast(cap)
        } else {
            Count::Exact(read as u32)
        }
    }

    /// `7`, `1,000+`.
    pub fn label(self) -> String {
        match self {
            Count::Exact(n) => thousands(n),
            Count::AtLeast(n) => format!("{}+", thousands(n)),
        }
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self == Count::Exact(0)
    }
}

/// `12,345`.
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::test_task;

    #[test]
    fn high_priority_sorts_first_as_stored_text() {
        // The board's indexes order by the stored name: escalated (high) cards first.
        assert!(Priority::High.as_str() < Priority::Normal.as_str());
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_the_store_never_wrote() {
        let c = Cursor {
            keys: vec!["high".into(), "2026-01-01T10:00:00.000Z".into()],
            seq: 42,
        };
        assert_eq!(c.encode(), "high~2026-01-01T10:00:00.000Z~42");
        assert_eq!(Cursor::decode(Column::Open, &c.encode()), Some(c.clone()));
        assert_eq!(Cursor::decode(Column::Later, &c.encode()), None);
        let later = "2026-01-01T10:00:00.000Z~7";
        assert_eq!(
            Cursor::decode(Column::Finished, later).map(|c| c.seq),
            Some(7)
        );
        for bad in [
            "",
            "~",
            "urgent~2026-01-01T10:00:00.000Z~1",
            "high~2026-01-01~1",
            "high~2026-01-01T10:00:00.000Z~0",
            "high~2026-01-01T10:00:00.000Z~x",
            "high~x~2026-01-01T10:00:00.000Z~1",
        ] {
            assert_eq!(Cursor::decode(Column::Open, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_stop_at_their_cap() {
        assert_eq!(Count::capped(0, 1000), Count::Exact(0));
        assert_eq!(Count::capped(1000, 1000).label(), "1,000");
        assert_eq!(Count::capped(1001, 1000).label(), "1,000+");
        assert_eq!(Count::Exact(1_234_567).label(), "1,234,567");
        assert_eq!(Count::Exact(7).label(), "7");
    }

    /// The rule the board's statements apply (`store/board_sql.rs`), in pure code.
    #[test]
    fn a_task_is_in_its_statuss_column_or_under_later_until_shortly_before_its_time() {
        let (made, at) = ("2026-01-01T08:00:00Z", Some("2026-01-01T10:00:00Z"));
        let t = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
        let before = t("2026-01-01T09:29:59Z");
        let after = t("2026-01-01T09:30:00Z");
        assert_eq!(
            Column::of(&test_task(TaskStatus::Open, made, at), before),
            Column::Later
        );
        assert_eq!(
            Column::of(&test_task(TaskStatus::Open, made, at), after),
            Column::Open
        );
        assert_eq!(
            Column::of(&test_task(TaskStatus::Accepted, made, at), before),
            Column::Later
        );
        for (s, c) in [
            (TaskStatus::InProgress, Column::InProgress),
            (TaskStatus::Done, Column::Finished),
            (TaskStatus::Cancelled, Column::Finished),
        ] {
            assert_eq!(Column::of(&test_task(s, made, at), before), c, "{s}");
        }
        assert_eq!(
            Column::of(&test_task(TaskStatus::Open, made, None), before),
            Column::Open
        );
    }

    #[test]
    fn columns_round_trip() {
        for c in Column::ALL {
            assert_eq!(Column::parse(c.key()), Some(c));
        }
        assert_eq!(Column::parse("done"), None);
    }
}
