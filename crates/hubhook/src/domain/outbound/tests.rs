use std::time::Duration;

use super::*;
use crate::domain::TaskStatus;

#[test]
fn schedules_parse_and_bound_the_attempts() {
    let s = RetrySchedule::default();
    assert_eq!(s.max_attempts(), 8);
    assert_eq!(s.delay_after(1), Some(Duration::from_secs(5)));
    assert_eq!(s.delay_after(7), Some(Duration::from_secs(36_000)));
    assert_eq!(s.delay_after(8), None);
    let t = RetrySchedule::parse("1s, 1s,2s").unwrap();
    assert_eq!(t.max_attempts(), 4);
    assert_eq!(
        RetrySchedule::parse("500ms").unwrap().delay_after(1),
        Some(Duration::from_millis(500))
    );
    assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
    assert!(RetrySchedule::parse("5").is_err());
    assert!(RetrySchedule::parse("5y").is_err());
    assert!(RetrySchedule::parse("-1s").is_err());
}

#[test]
fn jitter_stays_within_a_fifth() {
    let d = Duration::from_secs(100);
    for r in [0, 1, 2000, 4000, 4001, u32::MAX] {
        let j = jitter(d, r);
        assert!(
            j >= Duration::from_secs(80) && j <= Duration::from_secs(120),
            "{j:?}"
        );
    }
}

#[test]
fn answers_are_classified_as_the_contract_says() {
    let s = RetrySchedule::parse("10s,10s").unwrap();
    let answered = |status| AttemptResult::Answered {
        status,
        retry_after: None,
    };
    assert_eq!(classify(&answered(200), 1, &s, 0), Verdict::Delivered);
    assert_eq!(classify(&answered(204), 1, &s, 0), Verdict::Delivered);
    assert_eq!(classify(&answered(410), 1, &s, 0), Verdict::Gone);
    for status in [500, 503, 429, 408] {
        assert!(matches!(
            classify(&answered(status), 1, &s, 0),
            Verdict::Retry(_)
        ));
    }
    assert!(matches!(
        classify(&AttemptResult::NoAnswer, 2, &s, 0),
        Verdict::Retry(_)
    ));
    for status in [400, 401, 404, 301] {
        assert!(matches!(
            classify(&answered(status), 1, &s, 0),
            Verdict::Fail {
                code: CODE_REJECTED,
                ..
            }
        ));
    }
    // Out of attempts: the contract's code and message.
    assert_eq!(
        classify(&AttemptResult::NoAnswer, 3, &s, 0),
        Verdict::Fail {
            code: CODE_ATTEMPTS_EXHAUSTED,
            message: "Operation failed after 3 attempt, Please check credentials and request body."
                .into()
        }
    );
    assert!(matches!(
        classify(&AttemptResult::Denied, 1, &s, 0),
        Verdict::Fail {
            code: CODE_DENIED,
            ..
        }
    ));
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let s = RetrySchedule::parse("1s").unwrap();
    let v = classify(
        &AttemptResult::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(30)),
        },
        1,
        &s,
        0,
    );
    assert_eq!(v, Verdict::Retry(Duration::from_secs(30)));
    let v = classify(
        &AttemptResult::Answered {
            status: 503,
            retry_after: Some(Duration::from_secs(86_400)),
        },
        1,
        &s,
        0,
    );
    assert_eq!(v, Verdict::Retry(RETRY_AFTER_CAP));
}

#[test]
fn events_parse_and_moves_raise_the_right_ones() {
    assert_eq!(
        parse_events("task.created, task.completed,task.created").unwrap(),
        vec![EventType::Created, EventType::Completed]
    );
    assert!(parse_events("task.nope").is_err());
    assert!(parse_events(" , ").is_err());
    assert_eq!(
        EventType::for_move(TaskStatus::Done),
        &[EventType::StatusChanged, EventType::Completed]
    );
    assert_eq!(
        EventType::for_move(TaskStatus::Accepted),
        &[EventType::StatusChanged]
    );
}

fn task() -> crate::domain::Task {
    crate::domain::Task {
        id: "t1".into(),
        external_id: Some("e1".into()),
        task_name: "Towels".into(),
        room: "101".into(),
        guest_name: None,
        quantity: 1,
        status: TaskStatus::Open,
        due_at: None,
        created_at: "2026-01-01T00:00:00.000Z".into(),
        scheduled_for: None,
        department: Some("Housekeeping".into()),
        priority: crate::domain::escalation::Priority::Normal,
        escalated: None,
        order_ids: vec!["o1".into()],
        assignee: None,
        archived: false,
    }
}

#[test]
fn an_escalation_says_why_to_the_subscriptions_that_hear_it() {
    use crate::domain::escalation::{Priority, Reason};
    let targets = [
        Target::from_stored("sub_a".into(), "webhook", "task.escalated", None),
        Target::from_stored("sub_b".into(), "webhook", "task.overdue", None),
    ];
    let mut t = task();
    t.priority = Priority::High;
    t.escalated = Some(Reason::Overdue);
    let now = "2026-01-01T00:10:00.000Z";
    let out = escalation_deliveries(
        "h1",
        &t,
        Reason::Unaccepted,
        now,
        &targets,
        &OrderRefs::default(),
        &ChatFacts::default(),
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event, EventType::Escalated);
    let body: serde_json::Value = serde_json::from_str(&out[0].payload).unwrap();
    assert_eq!(body["type"], "task.escalated");
    assert_eq!(body["reason"], "unaccepted", "this escalation's reason");
    assert_eq!(
        body["data"]["escalated"], "overdue",
        "the task's most severe one"
    );
    assert_eq!(body["data"]["priority"], "high");
    let plain: serde_json::Value =
        serde_json::from_str(&webhook_body(EventType::Created, now, "h1", &task())).unwrap();
    assert!(plain.get("reason").is_none());
    assert_eq!(plain["data"]["escalated"], false);
}

#[test]
fn a_change_queues_one_delivery_per_target_and_event_it_hears() {
    let targets = [
        Target::from_stored(
            "sub_a".into(),
            "webhook",
            "task.created,task.completed",
            None,
        ),
        Target::from_stored("sub_b".into(), "duve-connect", "task.completed", None),
        Target::from_stored("sub_c".into(), "webhook", "task.overdue", None),
    ];
    let events = EventType::for_move(TaskStatus::Done);
    assert!(needs_order_refs(&targets, events));
    assert!(!needs_order_refs(&targets, &[EventType::Created]));
    let refs = OrderRefs {
        order_id: Some("o1".into()),
        reservation_id: Some("r1".into()),
    };
    let now = "2026-01-01T00:00:01.000Z";
    let chat = ChatFacts::default();
    let out = deliveries_for("h1", &task(), events, now, &targets, &refs, &chat).unwrap();
    let got: Vec<_> = out
        .iter()
        .map(|d| (d.subscription_id.as_str(), d.event))
        .collect();
    assert_eq!(
        got,
        [
            ("sub_a", EventType::Completed),
            ("sub_b", EventType::Completed)
        ]
    );
    assert!(out[0].id.starts_with("msg_") && out[0].id != out[1].id);
    assert_eq!(
        out[0].payload,
        webhook_body(EventType::Completed, now, "h1", &task())
    );
    assert!(
        out[1].payload.contains("\"reservationId\": \"r1\""),
        "{}",
        out[1].payload
    );
    let bad = [Target::from_stored(
        "sub_d".into(),
        "duve-connect",
        "task.created",
        Some("{{nope}}".into()),
    )];
    assert!(
        deliveries_for(
            "h1",
            &task(),
            &[EventType::Created],
            now,
            &bad,
            &refs,
            &chat
        )
        .is_err()
    );
}

#[test]
fn stored_events_round_trip_and_unknown_ones_are_skipped() {
    let all = EventType::ALL.to_vec();
    assert_eq!(events_from_text(&events_to_text(&all)), all);
    assert_eq!(
        events_from_text("task.created,task.gone"),
        [EventType::Created]
    );
}

#[test]
fn the_previous_secret_signs_until_its_grace_ends() {
    let now = "2026-01-01T00:00:00.000Z";
    let secrets = |until: &str| {
        signing_secrets(
            Some("new".into()),
            Some("old".into()),
            Some(until.into()),
            now,
        )
    };
    assert_eq!(secrets("2026-01-01T00:00:00.001Z"), ["new", "old"]);
    assert_eq!(secrets(now), ["new"]);
    assert!(signing_secrets(None, None, None, now).is_empty());
}

#[test]
fn replays_need_an_enabled_subscription() {
    assert_eq!(replay_refusal("sub_a", Some(true)), None);
    assert!(replay_refusal("sub_a", None).unwrap().contains("removed"));
    assert!(
        replay_refusal("sub_a", Some(false))
            .unwrap()
            .contains("sub_a is disabled")
    );
    assert_eq!(
        earliest(Some("b".into()), Some("a".into())),
        Some("a".into())
    );
    assert_eq!(earliest(None, Some("a".into())), Some("a".into()));
    assert_eq!(earliest(None, None), None);
}

#[test]
fn a_chat_target_gets_one_line_per_event_and_the_shift_reports_summary() {
    let targets = [
        Target::from_stored(
            "sub_chat".into(),
            "slack",
            "task.status_changed,report.shift",
            None,
        ),
        Target::from_stored("sub_hook".into(), "webhook", "report.shift", None),
        Target::from_stored("sub_duve".into(), "duve-connect", "task.completed", None),
    ];
    let events = EventType::for_move(TaskStatus::Done);
    assert!(needs_chat_facts(&targets, events));
    assert!(!needs_chat_facts(&targets, &[EventType::Created]));
    let chat = ChatFacts {
        tz: jiff::tz::TimeZone::UTC,
        actor: Some("user:ana@h1.test".into()),
    };
    let now = "2026-01-01T10:05:00.000Z";
    let mut done = task();
    done.status = TaskStatus::Done;
    let out = deliveries_for(
        "h1",
        &done,
        events,
        now,
        &targets,
        &OrderRefs::default(),
        &chat,
    )
    .unwrap();
    let got: Vec<_> = out
        .iter()
        .map(|d| (d.subscription_id.as_str(), d.event))
        .collect();
    assert_eq!(
        got,
        [
            ("sub_chat", EventType::StatusChanged),
            ("sub_duve", EventType::Completed)
        ]
    );
    let text: serde_json::Value = serde_json::from_str(&out[0].payload).unwrap();
    assert_eq!(
        text["text"],
        chat::task_line(
            EventType::StatusChanged,
            &done,
            None,
            "2026-01-01T10:05:00Z".parse().unwrap(),
            &chat
        )
    );
    // A task's change never queues the shift report, even to a target that hears it.
    let all = deliveries_for(
        "h1",
        &done,
        &EventType::ALL,
        now,
        &targets,
        &OrderRefs::default(),
        &chat,
    )
    .unwrap();
    assert!(all.iter().all(|d| d.event != EventType::ShiftReport));

    let window = crate::domain::report::Window::new(
        "2026-01-01T02:00:00Z".parse().unwrap(),
        "2026-01-01T10:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let report = crate::domain::report::compute(window, &[]);
    let out = report_deliveries("h1", &report, now, &targets, &jiff::tz::TimeZone::UTC);
    let got: Vec<_> = out.iter().map(|d| d.subscription_id.as_str()).collect();
    assert_eq!(got, ["sub_chat", "sub_hook"]);
    let hook: serde_json::Value = serde_json::from_str(&out[1].payload).unwrap();
    assert_eq!(hook["type"], "report.shift");
    assert_eq!(hook["data"]["to"], "2026-01-01T10:00:00.000Z");
    let line: serde_json::Value = serde_json::from_str(&out[0].payload).unwrap();
    assert_eq!(
        line["text"],
        "Shift report 1 Jan 02:00–10:00: 0 created, 0 done, 0 cancelled, 0 open, 0 escalated"
    );
}

#[test]
fn default_events_leave_the_shift_report_to_those_who_ask_but_chats() {
    let hook = EventType::defaults(SubscriptionKind::Webhook);
    assert_eq!(hook.len(), 8);
    assert!(!hook.contains(&EventType::ShiftReport));
    assert_eq!(EventType::defaults(SubscriptionKind::DuveConnect), hook);
    assert_eq!(
        EventType::defaults(SubscriptionKind::Slack),
        [
            EventType::Created,
            EventType::StatusChanged,
            EventType::Escalated,
            EventType::Assigned,
            EventType::Merged,
            EventType::ShiftReport
        ]
    );
    for k in SubscriptionKind::ALL {
        assert_eq!(SubscriptionKind::parse(k.as_str()), Some(k));
    }
}
