//! Escalation (CONTRACT.md section 6): a task still `open` past its hotel's escalate-after, or not
//! done at its due time, escalates once per reason. Pure: the store keeps, per task, which reasons
//! have fired and the earliest pending deadline (`escalate_at`, indexed), and asks here what is due
//! and what comes next.

use jiff::{SignedDuration, Timestamp};
use serde::{Serialize, Serializer};

use super::TaskStatus;

/// A hotel's default escalate-after: a request not accepted within ten minutes is escalated.
pub const DEFAULT_ESCALATE_AFTER_SECS: u32 = 600;

/// Why a task escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Still `open` (nobody accepted it) past the hotel's escalate-after.
    Unaccepted,
    /// Not done at its due time.
    Overdue,
}

impl Reason {
    /// Both, the less severe first.
    pub const ALL: [Reason; 2] = [Reason::Unaccepted, Reason::Overdue];

    /// The wire name (`unaccepted`, `overdue`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unaccepted => "unaccepted",
            Reason::Overdue => "overdue",
        }
    }

    /// What the card and the history say.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Unaccepted => "Not accepted in time",
            Reason::Overdue => "Overdue",
        }
    }

    fn bit(self) -> i64 {
        match self {
            Reason::Unaccepted => 1,
            Reason::Overdue => 2,
        }
    }
}

/// The reasons a task has escalated for, as stored (`tasks.escalations`, a bit per reason).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Escalations(i64);

impl Escalations {
    /// From the stored column; bits this version does not know are kept as they are.
    pub fn from_stored(raw: i64) -> Self {
        Self(raw)
    }

    /// The stored column.
    pub fn stored(self) -> i64 {
        self.0
    }

    /// Whether `r` has fired.
    pub fn has(self, r: Reason) -> bool {
        self.0 & r.bit() != 0
    }

    /// With `r` fired too.
    pub fn with(self, r: Reason) -> Self {
        Self(self.0 | r.bit())
    }

    /// What TASK's `escalated` shows: the most severe reason fired (overdue outranks unaccepted),
    /// or none.
    pub fn shown(self) -> Option<Reason> {
        Reason::ALL.into_iter().rev().find(|r| self.has(*r))
    }
}

/// TASK's `escalated`: `false`, or the reason's name.
pub fn serialize_escalated<S: Serializer>(r: &Option<Reason>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_str(r.as_str()),
        None => s.serialize_bool(false),
    }
}

/// A task's priority: `high` once it escalated (or when someone says so).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// As made.
    #[default]
    Normal,
    /// Escalated: to be done first.
    High,
}

impl Priority {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    /// The priority a stored name names; anything unknown reads as normal.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "high" => Priority::High,
            _ => Priority::Normal,
        }
    }
}

/// What escalation needs to know of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Its status now.
    pub status: TaskStatus,
    /// When it was made (the unaccepted deadline counts from it).
    pub created_at: Timestamp,
    /// When it is due, if ever (the overdue deadline).
    pub due_at: Option<Timestamp>,
    /// The reasons that have fired.
    pub fired: Escalations,
}

impl Clock {
    /// When `r` would fire for this task under `escalate_after_secs` (None: it never will, or
    /// already did).
    fn deadline(&self, r: Reason, escalate_after_secs: Option<u32>) -> Option<Timestamp> {
        if self.status.is_final() || self.fired.has(r) {
            return None;
        }
        match r {
            Reason::Unaccepted => {
                let after = escalate_after_secs.filter(|s| *s > 0)?;
                if self.status != TaskStatus::Open {
                    return None;
                }
                self.created_at
                    .checked_add(SignedDuration::from_secs(i64::from(after)))
                    .ok()
            }
            Reason::Overdue => self.due_at,
        }
    }

    /// The earliest pending deadline: what the store keeps in `escalate_at` (None: nothing
    /// pending, the task leaves the index).
    pub fn next_deadline(&self, escalate_after_secs: Option<u32>) -> Option<Timestamp> {
        Reason::ALL
            .into_iter()
            .filter_map(|r| self.deadline(r, escalate_after_secs))
            .min()
    }

    /// The reasons due at `now`, earliest deadline first (the less severe first on a tie), with
    /// the task's escalations once they fired.
    pub fn due(&self, escalate_after_secs: Option<u32>, now: Timestamp) -> (Vec<Reason>, Clock) {
        let mut due: Vec<(Timestamp, Reason)> = Reason::ALL
            .into_iter()
            .filter_map(|r| self.deadline(r, escalate_after_secs).map(|d| (d, r)))
            .filter(|(d, _)| *d <= now)
            .collect();
        due.sort();
        let mut after = *self;
        for (_, r) in &due {
            after.fired = after.fired.with(*r);
        }
        (due.into_iter().map(|(_, r)| r).collect(), after)
    }
}

/// How every escalation's history line begins: the shift report finds a task's escalations in
/// its history by it (`store`'s report statement matches `escalated:%`).
pub const HISTORY_PREFIX: &str = "escalated:";

/// The history line of an escalation.
pub fn history_note(r: Reason, escalate_after_secs: Option<u32>) -> String {
    let why = match r {
        Reason::Unaccepted => format!(
            "not accepted within {}",
            super::time::format_setting_duration(escalate_after_secs)
        ),
        Reason::Overdue => "not done by its due time".to_owned(),
    };
    format!("{HISTORY_PREFIX} {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn clock(status: TaskStatus, due: Option<&str>) -> Clock {
        Clock {
            status,
            created_at: t("2026-01-01T10:00:00Z"),
            due_at: due.map(t),
            fired: Escalations::default(),
        }
    }

    #[test]
    fn an_open_task_escalates_unaccepted_then_overdue_each_once() {
        let c = clock(TaskStatus::Open, Some("2026-01-01T10:20:00Z"));
        assert_eq!(c.next_deadline(Some(600)), Some(t("2026-01-01T10:10:00Z")));
        let (due, c) = c.due(Some(600), t("2026-01-01T10:09:59Z"));
        assert!(due.is_empty());
        let (due, c) = c.due(Some(600), t("2026-01-01T10:10:01Z"));
        assert_eq!(due, [Reason::Unaccepted]);
        assert_eq!(c.fired.shown(), Some(Reason::Unaccepted));
        assert_eq!(c.next_deadline(Some(600)), Some(t("2026-01-01T10:20:00Z")));
        let (due, c) = c.due(Some(600), t("2026-01-01T10:15:00Z"));
        assert!(due.is_empty(), "unaccepted fires once");
        let (due, c) = c.due(Some(600), t("2026-01-01T10:20:00Z"));
        assert_eq!(due, [Reason::Overdue]);
        assert_eq!(c.fired.shown(), Some(Reason::Overdue));
        assert_eq!(c.next_deadline(Some(600)), None);
        let (due, _) = c.due(Some(600), t("2026-01-02T00:00:00Z"));
        assert!(due.is_empty(), "overdue fires once");
    }

    #[test]
    fn both_due_at_once_fire_in_deadline_order_and_overdue_shows() {
        let c = clock(TaskStatus::Open, Some("2026-01-01T10:05:00Z"));
        let (due, c) = c.due(Some(600), t("2026-01-01T11:00:00Z"));
        assert_eq!(due, [Reason::Overdue, Reason::Unaccepted]);
        assert_eq!(c.fired.shown(), Some(Reason::Overdue));
        assert!(c.fired.has(Reason::Unaccepted));
    }

    #[test]
    fn accepting_or_finishing_ends_what_no_longer_applies() {
        let accepted = clock(TaskStatus::Accepted, Some("2026-01-01T10:30:00Z"));
        assert_eq!(
            accepted.next_deadline(Some(600)),
            Some(t("2026-01-01T10:30:00Z")),
            "accepted: only the due time is left"
        );
        let accepted = clock(TaskStatus::InProgress, None);
        assert_eq!(accepted.next_deadline(Some(600)), None);
        for s in [TaskStatus::Done, TaskStatus::Cancelled] {
            let c = clock(s, Some("2026-01-01T10:30:00Z"));
            assert_eq!(c.next_deadline(Some(600)), None);
            assert!(c.due(Some(600), t("2027-01-01T00:00:00Z")).0.is_empty());
        }
    }

    #[test]
    fn escalate_after_off_leaves_only_the_due_time() {
        let c = clock(TaskStatus::Open, None);
        assert_eq!(c.next_deadline(None), None);
        assert_eq!(c.next_deadline(Some(0)), None);
        assert!(c.due(None, t("2027-01-01T00:00:00Z")).0.is_empty());
        // Read at the deadline under a longer setting: nothing fires, the deadline moves.
        let c = clock(TaskStatus::Open, None);
        let (due, c) = c.due(Some(1800), t("2026-01-01T10:10:00Z"));
        assert!(due.is_empty());
        assert_eq!(c.next_deadline(Some(1800)), Some(t("2026-01-01T10:30:00Z")));
    }

    #[test]
    fn history_lines_begin_with_the_prefix_the_report_looks_for() {
        assert_eq!(
            history_note(Reason::Unaccepted, Some(600)),
            "escalated: not accepted within 10m"
        );
        for r in Reason::ALL {
            assert!(history_note(r, None).starts_with(HISTORY_PREFIX));
        }
    }

    #[test]
    fn escalated_serializes_as_false_or_the_reason() {
        #[derive(Serialize)]
        struct T(#[serde(serialize_with = "serialize_escalated")] Option<Reason>);
        assert_eq!(serde_json::to_string(&T(None)).unwrap(), "false");
        assert_eq!(
            serde_json::to_string(&T(Some(Reason::Overdue))).unwrap(),
            "\"overdue\""
        );
        assert_eq!(Escalations::default().shown(), None);
        assert_eq!(Priority::parse("high"), Priority::High);
        assert_eq!(Priority::parse(Priority::Normal.as_str()), Priority::Normal);
    }
}
