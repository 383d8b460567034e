//! Chat notifications (`slack` subscriptions): one readable line per event, posted as
//! `{"text": "…"}`, the incoming-webhook body that Slack, Mattermost and Rocket.Chat accept.
//!
//! A task's line says where, what, what happened and who did it, when (the event's time) and when
//! it is due, in the hotel's local time:
//! `Room 101 · Serve towels ×2 · accepted by ana@hotel.example · 14:07 · due 14:25`.
//! The shift report's is a summary:
//! `Shift report 1 Jul 07:00–15:00: 12 created, 9 done, 1 cancelled, 2 open, 3 escalated; median 14.5 min to done`.
//! The text is escaped as Slack asks (`&`, `<`, `>` as entities), so a guest's name or a task's
//! name can never make a link or a mention.

use jiff::{Timestamp, civil::Date, tz::TimeZone};

use super::EventType;
use crate::domain::{Task, TaskStatus, escalation::Reason, report::Report, time};

/// The history actor of what a Duve webhook did (`intake::ACTOR`).
pub const DUVE_ACTOR: &str = "duve";

/// What a chat line needs besides the task, read by the store when a chat subscription hears the
/// event.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFacts {
    /// The hotel's timezone: times are shown in it.
    pub tz: TimeZone,
    /// Who made the change: the actor of the task's newest history line, if known.
    pub actor: Option<String>,
}

impl Default for ChatFacts {
    fn default() -> Self {
        Self {
            tz: TimeZone::UTC,
            actor: None,
        }
    }
}

/// Slack's escaping of message text: `&`, `<` and `>` as entities (nothing else is special).
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The body of a chat delivery: `{"text": line}`, escaped.
pub fn body(line: &str) -> String {
    serde_json::json!({ "text": escape(line) }).to_string()
}

/// A history actor as people read it: an account's email, `API key key_…`, `Duve`, `hubhook`.
pub fn who(actor: &str) -> String {
    if let Some(email) = actor.strip_prefix("user:") {
        return email.to_owned();
    }
    if let Some(key) = actor.strip_prefix("api:") {
        return format!("API key {key}");
    }
    match actor {
        DUVE_ACTOR => "Duve".to_owned(),
        other => other.to_owned(),
    }
}

/// `14:05` on `today` (the event's local date), `2 Jul 14:05` on another day.
fn clock(t: Timestamp, tz: &TimeZone, today: Date) -> String {
    let z = t.to_zoned(tz.clone());
    if z.date() == today {
        z.strftime("%H:%M").to_string()
    } else {
        z.strftime("%-d %b %H:%M").to_string()
    }
}

/// A status as the line says it.
fn status_words(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Open => "open",
        TaskStatus::Accepted => "accepted",
        TaskStatus::InProgress => "in progress",
        TaskStatus::Done => "done",
        TaskStatus::Cancelled => "cancelled",
    }
}

/// What happened, with who did it when known.
fn happened(event: EventType, task: &Task, reason: Option<Reason>, actor: Option<&str>) -> String {
    let by = |what: &str| match actor {
        Some(a) => format!("{what} by {}", who(a)),
        None => what.to_owned(),
    };
    match event {
        EventType::Created => match actor {
            Some(a) if a != DUVE_ACTOR => format!("new task by {}", who(a)),
            _ => match &task.guest_name {
                Some(g) => format!("new request from {g}"),
                None => "new request".to_owned(),
            },
        },
        EventType::StatusChanged => by(status_words(task.status)),
        EventType::Completed => by("done"),
        EventType::Cancelled => by("cancelled"),
        EventType::Overdue => format!("overdue, still {}", status_words(task.status)),
        EventType::Escalated => match reason.or(task.escalated) {
            Some(Reason::Unaccepted) => "escalated: not accepted in time".to_owned(),
            Some(Reason::Overdue) => "escalated: not done by its due time".to_owned(),
            None => "escalated".to_owned(),
        },
        EventType::Assigned => match &task.assignee {
            Some(a) => by(&format!("assigned to {}", who(a))),
            None => by("unassigned"),
        },
        EventType::Merged => format!(
            "repeated request merged, now ×{}, still {}",
            task.quantity,
            status_words(task.status)
        ),
        EventType::ShiftReport => status_words(task.status).to_owned(),
    }
}

/// The line for `event` on `task` at `now` (unescaped; [`body`] escapes it).
pub fn task_line(
    event: EventType,
    task: &Task,
    reason: Option<Reason>,
    now: Timestamp,
    facts: &ChatFacts,
) -> String {
    let today = now.to_zoned(facts.tz.clone()).date();
    let mut what = task.task_name.clone();
    if task.quantity > 1 {
        what.push_str(&format!(" ×{}", task.quantity));
    }
    let mut parts = vec![
        format!("Room {}", task.room),
        what,
        happened(event, task, reason, facts.actor.as_deref()),
        clock(now, &facts.tz, today),
    ];
    if let Some(due) = task.due_at.as_deref().and_then(time::parse_instant) {
        parts.push(format!("due {}", clock(due, &facts.tz, today)));
    }
    parts.join(" · ")
}

/// The shift report's summary line (unescaped).
pub fn report_line(report: &Report, tz: &TimeZone) -> String {
    let span = match (
        time::parse_instant(&report.from),
        time::parse_instant(&report.to),
    ) {
        (Some(from), Some(to)) => {
            let (f, t) = (from.to_zoned(tz.clone()), to.to_zoned(tz.clone()));
            if f.date() == t.date() {
                format!("{}–{}", f.strftime("%-d %b %H:%M"), t.strftime("%H:%M"))
            } else {
                format!(
                    "{} – {}",
                    f.strftime("%-d %b %H:%M"),
                    t.strftime("%-d %b %H:%M")
                )
            }
        }
        _ => format!("{} – {}", report.from, report.to),
    };
    let mut line = format!(
        "Shift report {span}: {} created, {} done, {} cancelled, {} open, {} escalated",
        report.created, report.done, report.cancelled, report.open, report.escalated
    );
    // The shift's own median is not in the report (only each department's), and a median of
    // medians would mislead: the line names the slowest department's.
    let slowest = report
        .by_department
        .iter()
        .filter_map(|d| d.median_minutes_to_done.map(|m| (d, m)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((d, median)) = slowest {
        let name = d.department.as_deref().unwrap_or("no department");
        line.push_str(&format!(
            "; slowest: {name}, median {median:.1} min to done"
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{DepartmentFigures, Report};

    fn task() -> Task {
        Task {
            id: "t".into(),
            external_id: Some("4".into()),
            task_name: "Serve towels".into(),
            room: "101".into(),
            guest_name: Some("Bobby Smith".into()),
            quantity: 2,
            status: TaskStatus::Accepted,
            due_at: Some("2026-07-01T13:25:00.000Z".into()),
            created_at: "2026-07-01T13:05:00.000Z".into(),
            scheduled_for: None,
            department: Some("Housekeeping".into()),
            priority: Default::default(),
            escalated: None,
            order_ids: vec![],
            assignee: None,
            archived: false,
        }
    }

    fn facts(actor: Option<&str>) -> ChatFacts {
        ChatFacts {
            tz: TimeZone::get("Europe/Lisbon").unwrap(),
            actor: actor.map(str::to_owned),
        }
    }

    fn at(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    #[test]
    fn a_tasks_line_says_room_task_status_who_when_and_due_in_local_time() {
        let now = at("2026-07-01T13:07:00Z");
        let f = facts(Some("user:ana@hotel.example"));
        assert_eq!(
            task_line(EventType::StatusChanged, &task(), None, now, &f),
            "Room 101 · Serve towels ×2 · accepted by ana@hotel.example · 14:07 · due 14:25"
        );
        let created = Task {
            status: TaskStatus::Open,
            quantity: 1,
            ..task()
        };
        assert_eq!(
            task_line(
                EventType::Created,
                &created,
                None,
                now,
                &facts(Some("duve"))
            ),
            "Room 101 · Serve towels · new request from Bobby Smith · 14:07 · due 14:25"
        );
        assert_eq!(
            task_line(
                EventType::Created,
                &created,
                None,
                now,
                &facts(Some("api:key_1"))
            ),
            "Room 101 · Serve towels · new task by API key key_1 · 14:07 · due 14:25"
        );
        let done = Task {
            status: TaskStatus::Done,
            due_at: None,
            ..task()
        };
        assert_eq!(
            task_line(EventType::Completed, &done, None, now, &f),
            "Room 101 · Serve towels ×2 · done by ana@hotel.example · 14:07"
        );
        // Escalated the next day: the due time says its date.
        let late = at("2026-07-02T08:00:00Z");
        assert_eq!(
            task_line(
                EventType::Escalated,
                &task(),
                Some(Reason::Overdue),
                late,
                &facts(Some("hubhook"))
            ),
            "Room 101 · Serve towels ×2 · escalated: not done by its due time · 09:00 · due 1 Jul 14:25"
        );
        assert_eq!(
            task_line(EventType::Overdue, &task(), None, now, &facts(None)),
            "Room 101 · Serve towels ×2 · overdue, still accepted · 14:07 · due 14:25"
        );
    }

    #[test]
    fn the_text_is_escaped_as_slack_asks() {
        assert_eq!(
            escape("<@U123> & <!channel>"),
            "&lt;@U123&gt; &amp; &lt;!channel&gt;"
        );
        let t = Task {
            task_name: "Fix <b>lamp</b> & socket".into(),
            ..task()
        };
        let b = body(&task_line(
            EventType::StatusChanged,
            &t,
            None,
            at("2026-07-01T13:07:00Z"),
            &facts(None),
        ));
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"text": "Room 101 · Fix &lt;b&gt;lamp&lt;/b&gt; &amp; socket ×2 · accepted · 14:07 · due 14:25"})
        );
    }

    #[test]
    fn the_shift_reports_line_is_a_summary() {
        let dept = |name: Option<&str>, median: Option<f64>| DepartmentFigures {
            department: name.map(str::to_owned),
            created: 1,
            done: 1,
            open: 0,
            escalated: 0,
            median_minutes_to_accept: None,
            median_minutes_to_done: median,
            p90_minutes_to_done: median,
        };
        let mut r = Report {
            from: "2026-07-01T06:00:00.000Z".into(),
            to: "2026-07-01T14:00:00.000Z".into(),
            created: 12,
            done: 9,
            cancelled: 1,
            open: 2,
            escalated: 3,
            by_department: vec![
                dept(Some("Front Office"), Some(4.0)),
                dept(Some("Housekeeping"), Some(14.5)),
                dept(None, None),
            ],
            by_service: vec![],
        };
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        assert_eq!(
            report_line(&r, &tz),
            "Shift report 1 Jul 07:00–15:00: 12 created, 9 done, 1 cancelled, 2 open, 3 escalated; slowest: Housekeeping, median 14.5 min to done"
        );
        r.from = "2026-06-30T22:00:00.000Z".into();
        r.by_department.clear();
        assert_eq!(
            report_line(&r, &tz),
            "Shift report 30 Jun 23:00 – 1 Jul 15:00: 12 created, 9 done, 1 cancelled, 2 open, 3 escalated"
        );
        assert_eq!(who("user:a@b.c"), "a@b.c");
        assert_eq!(who("duve"), "Duve");
    }
}
