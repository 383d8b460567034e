//! Tasks and their status machine: open -> accepted -> in_progress -> done, forward only (a step may be
//! skipped), cancelled from anything but done; done and cancelled are final.

use serde::{Deserialize, Serialize};

use super::escalation::{Priority, Reason, serialize_escalated};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Accepted,
    InProgress,
    Done,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task cannot move from {from} to {to}")]
pub struct TransitionError {
    pub from: TaskStatus,
    pub to: TaskStatus,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Open,
        TaskStatus::Accepted,
        TaskStatus::InProgress,
        TaskStatus::Done,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Accepted => "accepted",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Cancelled)
    }

    fn rank(self) -> u8 {
        match self {
            TaskStatus::Open => 0,
            TaskStatus::Accepted => 1,
            TaskStatus::InProgress => 2,
            TaskStatus::Done => 3,
            TaskStatus::Cancelled => 4,
        }
    }

    /// What a move to this status made at `at` writes as the task's `done_at` (the time it was
    /// finished, which the dashboard's time to done reads): `at` for done, nothing otherwise. Done
    /// is final ([`TaskStatus::check_move`]), so a task moves to done once and the time stays.
    pub fn done_at(self, at: &str) -> Option<&str> {
        (self == TaskStatus::Done).then_some(at)
    }

    /// The one rule for every status change, whoever asks for it.
    pub fn check_move(self, to: TaskStatus) -> Result<(), TransitionError> {
        let ok = match to {
            _ if self.is_final() => false,
            TaskStatus::Cancelled => true,
            _ => to.rank() > self.rank(),
        };
        if ok {
            Ok(())
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task as the webhook confirmation and the API show it (CONTRACT.md's TASK).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub external_id: Option<String>,
    pub task_name: String,
    pub room: String,
    pub guest_name: Option<String>,
    pub quantity: u32,
    pub status: TaskStatus,
    pub due_at: Option<String>,
    pub created_at: String,
    /// The guest's requested time, as an instant; None when the guest asked for none.
    pub scheduled_for: Option<String>,
    /// The department that does it (from the catalog entry).
    pub department: Option<String>,
    /// `high` once it escalated.
    pub priority: Priority,
    /// `false`, or the most severe reason it escalated for.
    #[serde(serialize_with = "serialize_escalated")]
    pub escalated: Option<Reason>,
    /// The Duve orders the task stands for (none for a task made by staff).
    pub order_ids: Vec<String>,
    /// The email of the user it is assigned to; None when nobody has it.
    pub assignee: Option<String>,
    /// Left open past the hotel's archive-after: off the board, still here with its history.
    pub archived: bool,
}

/// A request for a time more than this far ahead of when it was made is *scheduled*.
pub const SCHEDULED_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_mins(60);
/// A scheduled task joins the others this long before its time.
pub const SHOWN_BEFORE: jiff::SignedDuration = jiff::SignedDuration::from_mins(30);

impl Task {
    /// Until when the board keeps this task under "Later": a task not started whose guest asked
    /// for a time more than [`SCHEDULED_AHEAD`] after it was made waits there until
    /// [`SHOWN_BEFORE`] that time; None for any other. A service level never makes a task
    /// scheduled: it is a limit to work to, not an appointment.
    pub fn later_until(&self) -> Option<jiff::Timestamp> {
        if !matches!(self.status, TaskStatus::Open | TaskStatus::Accepted) {
            return None;
        }
        let at = super::time::parse_instant(self.scheduled_for.as_deref()?)?;
        let created = super::time::parse_instant(&self.created_at)?;
        later_until(at, created)
    }
}

/// Until when a request for `scheduled_for`, made at `created_at`, waits under "Later" while it is
/// not started: [`SHOWN_BEFORE`] that time when it is more than [`SCHEDULED_AHEAD`] after it was
/// made, else None. The store keeps it (`tasks.later_until`), so the board finds the Later column
/// through an index.
pub fn later_until(
    scheduled_for: jiff::Timestamp,
    created_at: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    if scheduled_for.duration_since(created_at) <= SCHEDULED_AHEAD {
        return None;
    }
    scheduled_for.checked_sub(SHOWN_BEFORE).ok()
}

/// One line of a task's history: who moved it, from what, to what, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvent {
    pub at: String,
    pub actor: String,
    pub from: Option<TaskStatus>,
    pub to: TaskStatus,
    pub note: Option<String>,
}

/// A task for unit tests: towels for room 101, made at `created`, asked for (and due) at `scheduled`.
#[cfg(test)]
pub(crate) fn test_task(status: TaskStatus, created: &str, scheduled: Option<&str>) -> Task {
    Task {
        id: "t".into(),
        external_id: None,
        task_name: "Towels".into(),
        room: "101".into(),
        guest_name: None,
        quantity: 1,
        status,
        due_at: scheduled.map(str::to_owned),
        created_at: created.into(),
        scheduled_for: scheduled.map(str::to_owned),
        department: None,
        priority: Default::default(),
        escalated: None,
        order_ids: Vec::new(),
        assignee: None,
        archived: false,
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::*;
    use super::*;

    #[test]
    fn forward_moves_and_skips_are_allowed() {
        for (from, to) in [
            (Open, Accepted),
            (Open, InProgress),
            (Open, Done),
            (Accepted, InProgress),
            (Accepted, Done),
            (InProgress, Done),
        ] {
            assert_eq!(from.check_move(to), Ok(()), "{from} -> {to}");
        }
    }

    #[test]
    fn cancel_from_anything_but_final_states() {
        for from in [Open, Accepted, InProgress] {
            assert_eq!(from.check_move(Cancelled), Ok(()));
        }
        assert!(Done.check_move(Cancelled).is_err());
        assert!(Cancelled.check_move(Cancelled).is_err());
    }

    #[test]
    fn backwards_same_and_out_of_final_are_refused() {
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                let allowed = from.check_move(to).is_ok();
                let expected = !from.is_final()
                    && (to == Cancelled || (to != Cancelled && to.rank() > from.rank()));
                assert_eq!(allowed, expected, "{from} -> {to}");
            }
        }
        assert_eq!(
            Done.check_move(Open),
            Err(TransitionError {
                from: Done,
                to: Open
            })
        );
    }

    #[test]
    fn a_request_for_more_than_an_hour_ahead_waits_until_half_an_hour_before() {
        let made = "2026-01-01T08:00:00Z";
        let t = test_task(Open, made, Some("2026-01-01T10:00:00Z"));
        assert_eq!(
            t.later_until().map(|t| t.to_string()),
            Some("2026-01-01T09:30:00Z".into())
        );
        let t = test_task(Accepted, made, Some("2026-01-01T10:00:00Z"));
        assert!(
            t.later_until().is_some(),
            "accepted ahead of time: still later"
        );
        for s in [InProgress, Done, Cancelled] {
            assert_eq!(
                test_task(s, made, Some("2026-01-01T10:00:00Z")).later_until(),
                None
            );
        }
        assert_eq!(
            test_task(Open, made, Some("2026-01-01T09:00:00Z")).later_until(),
            None,
            "1 h"
        );
        assert_eq!(
            test_task(Open, made, None).later_until(),
            None,
            "no requested time"
        );
    }

    #[test]
    fn only_a_move_to_done_sets_when_the_task_was_finished() {
        let at = "2026-01-01T10:00:00.000Z";
        for to in TaskStatus::ALL {
            let expected = (to == Done).then_some(at);
            assert_eq!(to.done_at(at), expected, "{to}");
        }
        // Once done, no move is allowed, so nothing writes the time again.
        assert!(
            TaskStatus::ALL
                .iter()
                .all(|to| Done.check_move(*to).is_err())
        );
    }

    #[test]
    fn status_names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TaskStatus::parse("closed"), None);
    }
}
