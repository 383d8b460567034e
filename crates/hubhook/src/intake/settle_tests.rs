//! The settlement against every rule of CONTRACT.md section 1, with no database: each test plays the
//! store's part, reading what `Plan::reads` names from a few rows held in memory.

use duve::{FieldMap, ReservationFacts, parse_envelope};
use jiff::Timestamp;
use proptest::prelude::*;

use crate::domain::{HotelFacts, Task, TaskStatus};
use crate::intake::{
    ContextWrite, Enqueue, HistoryLine, NOTE_CANCELLED, OrderRead, OrderRow, OrderState, Outcome,
    Plan, REASON_CANCELLED_EARLY, REASON_UNKNOWN_ORDER, Raised, Reads, RefusalKind, Settlement,
    classify, settle,
};

fn hotel() -> HotelFacts {
    crate::intake::tests::hotel_with_rooms(&["101", "102"])
}

fn plan(event: &str, resource: &str) -> Plan {
    let json = format!(r#"{{"accountId":"a","event":"{event}","resource":{resource}}}"#);
    let env = parse_envelope(json.as_bytes()).unwrap();
    classify(&env, json.as_bytes(), &FieldMap::default(), &hotel())
}

fn task(id: &str, status: TaskStatus) -> Task {
    Task {
        id: id.into(),
        external_id: Some("4".into()),
        task_name: "Serve towels".into(),
        room: "101".into(),
        guest_name: Some("Bo".into()),
        quantity: 1,
        status,
        due_at: None,
        created_at: "2024-01-01T00:00:00Z".into(),
        scheduled_for: None,
        department: None,
        priority: Default::default(),
        escalated: None,
        order_ids: Vec::new(),
        assignee: None,
        archived: false,
    }
}

/// What a store holds, for the reads a settlement asks for.
#[derive(Default)]
struct Rows {
    state: Option<OrderState>,
    tasks: Vec<Task>,
    context: Option<ReservationFacts>,
}

impl Rows {
    /// Reads as a backend does: the state first, then what `Plan::reads` names.
    fn read(&self, plan: &Plan) -> OrderRead {
        let state = plan.state_key().and(self.state);
        let reads = plan.reads(state);
        OrderRead {
            state,
            tasks: reads
                .tasks_of
                .map(|_| self.tasks.clone())
                .unwrap_or_default(),
            context: reads.context_of.and(self.context.clone()),
            shares: Vec::new(),
            holders: Vec::new(),
        }
    }

    fn settle<'a>(&self, plan: &'a Plan) -> Settlement<'a> {
        settle(plan, &hotel(), self.read(plan), Timestamp::UNIX_EPOCH)
    }
}

fn nothing_written(s: &Settlement<'_>) -> bool {
    s.order.is_none()
        && s.new_tasks.is_empty()
        && s.moves.is_empty()
        && s.notes.is_empty()
        && s.outbox.is_empty()
        && s.context.is_none()
        && s.merge.is_empty()
}

const ORDER: &str = r#"{"id":"r1","roomNumber":"101","verifiedFirstName":"Bo","verifiedLastName":"Li","preferredLanguage":"fr","order":{"id":"o1","products":[{"name":"Towels","externalId":"4","quantity":2},{"name":"Cot","externalId":8}]}}"#;

#[test]
fn a_new_order_creates_its_tasks_with_their_ids_and_every_row_they_need() {
    let p = plan("orderCreated", ORDER);
    assert_eq!(
        p.reads(None),
        Reads::default(),
        "a complete order reads nothing more"
    );
    let s = Rows::default().settle(&p);
    let Outcome::Created {
        order_id,
        tasks,
        skipped,
    } = &s.outcome
    else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!(order_id.as_deref(), Some("o1"));
    assert!(skipped.is_empty());
    assert_eq!(tasks.len(), 2);
    assert_ne!(tasks[0].id, tasks[1].id);
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Open));
    assert!(tasks.iter().all(|t| t.created_at == s.at));
    assert_eq!(s.at, "1970-01-01T00:00:00.000Z");
    assert_eq!(
        s.order,
        Some(OrderRow {
            order_key: "o1",
            order_id: Some("o1"),
            reservation_id: Some("r1"),
            state: OrderState::Created,
        })
    );
    let written: Vec<_> = s.new_tasks().map(|(d, t)| (d.quantity, &t.id)).collect();
    assert_eq!(written, [(2, &tasks[0].id), (1, &tasks[1].id)]);
    let raised: Vec<_> = s.deliveries().map(|(t, r)| (&t.id, r)).collect();
    assert_eq!(
        raised,
        [
            (&tasks[0].id, &Raised::Created),
            (&tasks[1].id, &Raised::Created)
        ]
    );
    assert!(s.moves.is_empty() && s.notes.is_empty());
    // What the accepted order says about its reservation is kept.
    assert_eq!(
        s.context,
        Some(ContextWrite {
            reservation_id: "r1",
            room_number: Some("101"),
            first_name: Some("Bo"),
            last_name: Some("Li"),
            language: Some("fr"),
            check_in: None,
            check_out: None,
        })
    );
    assert_eq!(s.outcome.code(), "created");
    assert_eq!(s.outcome.task_ids().len(), 2);
}

#[test]
fn a_redelivery_answers_with_the_existing_tasks_and_writes_nothing() {
    let p = plan("orderCreated", ORDER);
    assert_eq!(
        p.reads(Some(OrderState::Created)),
        Reads {
            tasks_of: Some("o1"),
            ..Reads::default()
        }
    );
    let rows = Rows {
        state: Some(OrderState::Created),
        tasks: vec![task("t1", TaskStatus::Done), task("t2", TaskStatus::Open)],
        ..Rows::default()
    };
    let s = rows.settle(&p);
    assert_eq!(
        s.outcome,
        Outcome::Duplicate {
            order_id: Some("o1".into()),
            tasks: rows.tasks.clone(),
        }
    );
    assert!(nothing_written(&s));
    assert_eq!(s.outcome.task_ids(), ["t1", "t2"]);
}

#[test]
fn a_cancellation_cancels_every_task_not_done_and_raises_each_move() {
    let p = plan("orderCancelled", r#"{"order":{"id":"o1"}}"#);
    assert_eq!(
        p.reads(Some(OrderState::Created)),
        Reads {
            tasks_of: Some("o1"),
            lock_tasks: true,
            shares_of: Some("o1"),
            context_of: None,
        }
    );
    let rows = Rows {
        state: Some(OrderState::Created),
        tasks: vec![
            task("t1", TaskStatus::Accepted),
            task("t2", TaskStatus::Done),
            task("t3", TaskStatus::Open),
        ],
        ..Rows::default()
    };
    let s = rows.settle(&p);
    let statuses: Vec<_> = s.outcome.tasks().iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            TaskStatus::Cancelled,
            TaskStatus::Done,
            TaskStatus::Cancelled
        ]
    );
    assert!(matches!(s.outcome, Outcome::Cancelled { .. }));
    assert_eq!(
        s.moves,
        [
            HistoryLine {
                task_id: "t1".into(),
                from: TaskStatus::Accepted,
                to: TaskStatus::Cancelled,
                note: NOTE_CANCELLED.into(),
            },
            HistoryLine {
                task_id: "t3".into(),
                from: TaskStatus::Open,
                to: TaskStatus::Cancelled,
                note: NOTE_CANCELLED.into(),
            },
        ]
    );
    let raised: Vec<_> = s.deliveries().map(|(t, r)| (t.id.as_str(), r)).collect();
    let moved = Raised::Moved(TaskStatus::Cancelled);
    assert_eq!(raised, [("t1", &moved), ("t3", &moved)]);
    assert!(s.order.is_none() && s.new_tasks.is_empty() && s.context.is_none());
}

#[test]
fn a_second_cancellation_moves_nothing_again() {
    let p = plan("orderCancelled", r#"{"order":{"id":"o1"}}"#);
    let rows = Rows {
        state: Some(OrderState::Created),
        tasks: vec![task("t1", TaskStatus::Cancelled)],
        ..Rows::default()
    };
    let s = rows.settle(&p);
    assert_eq!(
        s.outcome,
        Outcome::Cancelled {
            tasks: rows.tasks.clone()
        }
    );
    assert!(nothing_written(&s));
}

#[test]
fn a_cancellation_before_its_order_is_remembered_and_the_order_then_makes_no_task() {
    let cancel = plan("orderCancelled", r#"{"order":{"id":"o1"}}"#);
    assert_eq!(cancel.reads(None), Reads::default());
    let s = Rows::default().settle(&cancel);
    assert_eq!(
        s.outcome,
        Outcome::Ignored {
            reason: REASON_UNKNOWN_ORDER
        }
    );
    assert_eq!(
        s.order,
        Some(OrderRow {
            order_key: "o1",
            order_id: Some("o1"),
            reservation_id: None,
            state: OrderState::Cancelled,
        })
    );
    assert!(s.new_tasks.is_empty() && s.moves.is_empty() && s.outbox.is_empty());

    // The creation, delivered afterwards, finds the remembered row.
    let rows = Rows {
        state: Some(OrderState::Cancelled),
        ..Rows::default()
    };
    let create = plan("orderCreated", ORDER);
    assert_eq!(create.reads(Some(OrderState::Cancelled)), Reads::default());
    let s = rows.settle(&create);
    assert_eq!(s.outcome, Outcome::CancelledBeforeArrival);
    assert_eq!(s.outcome.code(), "cancelled");
    assert!(nothing_written(&s), "no task, and no context either");
    assert_eq!(
        REASON_CANCELLED_EARLY,
        "order was cancelled before it arrived"
    );

    // And a further cancellation of it is still an unknown order, remembered once.
    let s = rows.settle(&cancel);
    assert_eq!(
        s.outcome,
        Outcome::Ignored {
            reason: REASON_UNKNOWN_ORDER
        }
    );
    assert!(nothing_written(&s));
}

#[test]
fn a_refund_is_a_note_on_each_task_and_moves_none() {
    let p = plan(
        "orderRefunded",
        r#"{"order":{"id":"o1","refundTotal":12.5}}"#,
    );
    assert_eq!(p.state_key(), None, "a refund needs no order state");
    assert_eq!(
        p.reads(None),
        Reads {
            tasks_of: Some("o1"),
            ..Reads::default()
        }
    );
    let rows = Rows {
        tasks: vec![task("t1", TaskStatus::Done), task("t2", TaskStatus::Open)],
        ..Rows::default()
    };
    let s = rows.settle(&p);
    assert_eq!(s.outcome, Outcome::Recorded);
    let note = "order refunded in Duve (refund total 12.5)";
    assert_eq!(
        s.notes,
        [
            HistoryLine {
                task_id: "t1".into(),
                from: TaskStatus::Done,
                to: TaskStatus::Done,
                note: note.into(),
            },
            HistoryLine {
                task_id: "t2".into(),
                from: TaskStatus::Open,
                to: TaskStatus::Open,
                note: note.into(),
            },
        ]
    );
    assert!(s.moves.is_empty() && s.outbox.is_empty() && s.order.is_none());

    // A refund of an order hubhook never saw is recorded and writes nothing.
    let s = Rows::default().settle(&p);
    assert_eq!(s.outcome, Outcome::Recorded);
    assert!(nothing_written(&s));
}

#[test]
fn a_pending_order_makes_no_task_and_only_teaches_the_reservation() {
    let p = plan("pendingOrderCreated", ORDER);
    assert_eq!(p.state_key(), None);
    assert_eq!(p.reads(None), Reads::default());
    let s = Rows::default().settle(&p);
    assert_eq!(s.outcome, Outcome::Recorded);
    assert!(s.order.is_none() && s.new_tasks.is_empty() && s.outbox.is_empty());
    assert_eq!(s.context.map(|c| c.room_number), Some(Some("101")));
}

#[test]
fn a_mixed_order_makes_tasks_of_the_known_items_and_lists_the_others() {
    let p = plan(
        "orderCreated",
        r#"{"roomNumber":"101","firstName":"Bo","order":{"id":"o2","products":[{"name":"Spa"},{"name":"Towels","externalId":"4"},{"name":"Wine","externalId":"999"}]}}"#,
    );
    let s = Rows::default().settle(&p);
    let Outcome::Created { tasks, skipped, .. } = &s.outcome else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_name, "Serve towels");
    let reasons: Vec<_> = skipped.iter().map(|k| k.reason.as_str()).collect();
    assert_eq!(reasons, ["no external ID", "unknown service"]);
    assert_eq!(s.new_tasks.len(), 1);
    assert_eq!(
        s.outbox,
        [Enqueue {
            task: 0,
            raised: Raised::Created
        }]
    );
    // No reservation id: nothing to key a context by.
    assert_eq!(s.context, None);

    // When no item at all can become a task, the order is refused and nothing is written.
    let p = plan(
        "orderCreated",
        r#"{"roomNumber":"101","firstName":"Bo","order":{"id":"o3","products":[{"name":"Wine","externalId":"999"}]}}"#,
    );
    let s = Rows::default().settle(&p);
    assert!(matches!(&s.outcome, Outcome::Refused(r) if r.kind == RefusalKind::UnknownService));
    assert_eq!(s.outcome.details().len(), 1);
    assert!(nothing_written(&s));
}

#[test]
fn reservation_context_fills_what_an_order_lacks() {
    let p = plan(
        "orderCreated",
        r#"{"id":"r1","order":{"id":"o1","products":[{"externalId":"4"}]}}"#,
    );
    assert_eq!(
        p.reads(None),
        Reads {
            context_of: Some("r1"),
            ..Reads::default()
        }
    );
    let rows = Rows {
        context: Some(ReservationFacts {
            reservation_id: Some("r1".into()),
            room_number: Some("102".into()),
            first_name: Some("Bo".into()),
            last_name: Some("Li".into()),
            ..ReservationFacts::default()
        }),
        ..Rows::default()
    };
    let s = rows.settle(&p);
    let Outcome::Created { tasks, .. } = &s.outcome else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!(tasks[0].room, "102");
    assert_eq!(tasks[0].guest_name.as_deref(), Some("Bo Li"));
    // The order itself said nothing about the reservation: nothing to write back.
    assert_eq!(s.context, None);

    // Still missing after the context: refused (row 2), and nothing written.
    let s = Rows::default().settle(&p);
    assert!(matches!(&s.outcome, Outcome::Refused(r) if r.kind == RefusalKind::InvalidBody));
    assert!(nothing_written(&s));
}

#[test]
fn a_context_is_read_only_for_an_order_that_lacks_something() {
    let complete = plan("orderCreated", ORDER);
    assert_eq!(complete.reads(None).context_of, None);
    let no_reservation = plan(
        "orderCreated",
        r#"{"order":{"id":"o1","products":[{"externalId":"4"}]}}"#,
    );
    assert_eq!(no_reservation.reads(None), Reads::default());
}

#[test]
fn only_an_accepted_order_updates_the_reservation() {
    // Names a room the hotel lacks: refused, and the room must not spoil later orders.
    let p = plan(
        "orderCreated",
        r#"{"id":"r1","roomNumber":"999","firstName":"Al","order":{"id":"o1","products":[{"externalId":"4"}]}}"#,
    );
    let s = Rows::default().settle(&p);
    assert!(matches!(&s.outcome, Outcome::Refused(r) if r.kind == RefusalKind::UnknownRoom));
    assert_eq!(s.context, None);
    assert!(nothing_written(&s));

    // A redelivery or a cancelled-before-arrival order teaches nothing either.
    for state in [OrderState::Created, OrderState::Cancelled] {
        let rows = Rows {
            state: Some(state),
            ..Rows::default()
        };
        assert_eq!(rows.settle(&plan("orderCreated", ORDER)).context, None);
    }
}

#[test]
fn reservation_events_keep_what_they_say() {
    let p = plan(
        "preCheckInDone",
        r#"{"id":"r1","roomNumber":"101","verifiedFirstName":"Bo"}"#,
    );
    let s = Rows::default().settle(&p);
    assert_eq!(s.outcome, Outcome::Recorded);
    let c = s.context.unwrap();
    assert_eq!(
        (c.reservation_id, c.room_number, c.first_name, c.last_name),
        ("r1", Some("101"), Some("Bo"), None)
    );
    // Saying nothing, or naming no reservation, writes nothing.
    for resource in [r#"{"id":"r1"}"#, r#"{"roomNumber":"101"}"#] {
        let p = plan("preCheckInDone", resource);
        assert!(nothing_written(&Rows::default().settle(&p)));
    }
}

#[test]
fn ignored_and_refused_webhooks_write_nothing_but_their_log() {
    for p in [
        plan("somethingNew", "{}"),
        plan("orderCancelled", "{}"),
        plan("orderCreated", r#"{"order":{"id":"o","chargeAmount":5}}"#),
    ] {
        assert_eq!(p.reads(None), Reads::default());
        let s = Rows::default().settle(&p);
        assert!(matches!(
            s.outcome,
            Outcome::Ignored { .. } | Outcome::Refused(_)
        ));
        assert!(nothing_written(&s));
    }
}

fn any_task() -> impl Strategy<Value = Task> {
    (
        0..5u8,
        prop_oneof![
            Just(TaskStatus::Open),
            Just(TaskStatus::Accepted),
            Just(TaskStatus::InProgress),
            Just(TaskStatus::Done),
            Just(TaskStatus::Cancelled),
        ],
    )
        .prop_map(|(n, s)| task(&format!("t{n}"), s))
}

proptest! {
    /// Whatever was read, every write names a task of the answer or of the read, and a task the
    /// answer shows as created is written exactly once.
    #[test]
    fn a_settlement_is_consistent_with_its_answer(
        event in prop_oneof![Just("orderCreated"), Just("orderCancelled"), Just("orderRefunded"), Just("preCheckInDone")],
        room in prop_oneof![Just(""), Just(r#""roomNumber":"101","#), Just(r#""roomNumber":"7","#)],
        state in prop_oneof![Just(None), Just(Some(OrderState::Created)), Just(Some(OrderState::Cancelled))],
        tasks in prop::collection::vec(any_task(), 0..4),
    ) {
        let p = plan(event, &format!(r#"{{"id":"r1",{room}"firstName":"Bo","order":{{"id":"o1","products":[{{"externalId":"4"}},{{"externalId":"999"}}]}}}}"#));
        let rows = Rows { state, tasks, context: None };
        let s = rows.settle(&p);
        prop_assert_eq!(s.outbox.len(), s.deliveries().count());
        if matches!(s.outcome, Outcome::Created { .. }) {
            prop_assert_eq!(s.new_tasks.len(), s.outcome.tasks().len());
            prop_assert!(s.order.is_some());
        } else {
            prop_assert!(s.new_tasks.is_empty());
        }
        for m in &s.moves {
            prop_assert!(!m.from.is_final());
            prop_assert!(s.outcome.tasks().iter().any(|t| t.id == m.task_id && t.status == m.to));
        }
        prop_assert!(s.notes.iter().all(|n| n.from == n.to));
    }
}
