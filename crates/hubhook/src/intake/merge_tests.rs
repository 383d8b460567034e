//! Merging repeated requests (CONTRACT.md section 7) through [`settle`], with no database: each test
//! plays the store's part, reading the slot holders [`slot_keys`] names and the shares a
//! cancellation asks for from rows held in memory.

use duve::{FieldMap, parse_envelope};
use jiff::{SignedDuration, Timestamp};

use super::{Share, ShareCancel, SlotHolder, SlotKey, cancel_share, slot_keys};
use crate::domain::{
    HotelFacts, Task, TaskStatus,
    outbound::{MergeNote, MergeReason},
};
use crate::intake::{
    HistoryLine, OrderRead, OrderState, Outcome, Plan, Raised, Settlement, ShareKey, ShareRow,
    classify, settle,
};

/// Ten minutes, the default.
const WINDOW: u32 = 600;

fn hotel(window: Option<u32>) -> HotelFacts {
    let mut h = crate::intake::tests::hotel_with_rooms(&["101", "102"]);
    h.merge_window_secs = window;
    h
}

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

fn ago(mins: i64) -> Timestamp {
    now() - SignedDuration::from_mins(mins)
}

fn plan(event: &str, resource: &str) -> Plan {
    let json = format!(r#"{{"accountId":"a","event":"{event}","resource":{resource}}}"#);
    let env = parse_envelope(json.as_bytes()).unwrap();
    classify(
        &env,
        json.as_bytes(),
        &FieldMap::default(),
        &hotel(Some(WINDOW)),
    )
}

/// An order `id` for room 101 of `products` (`[external ID, quantity]`).
fn order(id: &str, products: &[(&str, u32)]) -> Plan {
    let products: Vec<String> = products
        .iter()
        .map(|(ext, q)| format!(r#"{{"name":"P{ext}","externalId":"{ext}","quantity":{q}}}"#))
        .collect();
    plan(
        "orderCreated",
        &format!(
            r#"{{"id":"r1","roomNumber":"101","verifiedFirstName":"Bo","order":{{"id":"{id}","products":[{}]}}}}"#,
            products.join(",")
        ),
    )
}

fn task(id: &str, ext: &str, quantity: u32, status: TaskStatus) -> Task {
    Task {
        id: id.into(),
        external_id: Some(ext.into()),
        task_name: "Serve towels".into(),
        room: "101".into(),
        guest_name: Some("Bo".into()),
        quantity,
        status,
        due_at: None,
        created_at: "2024-05-01T11:55:00.000Z".into(),
        scheduled_for: None,
        department: None,
        priority: Default::default(),
        escalated: None,
        order_ids: vec!["o1".into()],
        assignee: None,
        archived: false,
    }
}

/// The holder of room 101's slot for `ext`: task `id` made by order o1, whose latest order arrived
/// `mins` minutes ago.
fn holder(id: &str, ext: &str, quantity: u32, mins: i64) -> SlotHolder {
    SlotHolder {
        task: task(id, ext, quantity, TaskStatus::Open),
        order_key: "o1".into(),
        order_id: Some("o1".into()),
        last_order_at: ago(mins),
        merged: false,
    }
}

/// Settles a new order as a backend does: the slot keys from what was read, then their holders.
fn settle_new<'a>(p: &'a Plan, hotel: &HotelFacts, holders: &[SlotHolder]) -> Settlement<'a> {
    let mut read = OrderRead::default();
    let keys = slot_keys(p, hotel, &read, now());
    read.holders = holders
        .iter()
        .filter(|h| {
            keys.contains(&SlotKey {
                room: h.task.room.clone(),
                external_id: h.task.external_id.clone().unwrap_or_default(),
            })
        })
        .cloned()
        .collect();
    settle(p, hotel, read, now())
}

#[test]
fn a_new_order_names_its_slots_sorted_once_each_and_only_while_the_hotel_merges() {
    let p = order("o2", &[("8", 1), ("4", 2), ("4", 1)]);
    let read = OrderRead::default();
    let key = |ext: &str| SlotKey {
        room: "101".into(),
        external_id: ext.into(),
    };
    assert_eq!(
        slot_keys(&p, &hotel(Some(WINDOW)), &read, now()),
        [key("4"), key("8")]
    );
    assert!(slot_keys(&p, &hotel(None), &read, now()).is_empty());
    // A redelivery reads its own tasks; a cancellation and a refused order merge nothing.
    let seen = OrderRead {
        state: Some(OrderState::Created),
        ..OrderRead::default()
    };
    assert!(slot_keys(&p, &hotel(Some(WINDOW)), &seen, now()).is_empty());
    let cancel = plan("orderCancelled", r#"{"order":{"id":"o2"}}"#);
    assert!(slot_keys(&cancel, &hotel(Some(WINDOW)), &read, now()).is_empty());
    let unknown_room = plan(
        "orderCreated",
        r#"{"roomNumber":"999","verifiedFirstName":"Bo","order":{"id":"o3","products":[{"externalId":"4"}]}}"#,
    );
    assert!(slot_keys(&unknown_room, &hotel(Some(WINDOW)), &read, now()).is_empty());
}

#[test]
fn the_window_counts_from_the_latest_order_and_takes_only_open_or_accepted_tasks() {
    let h = |mins, status| SlotHolder {
        task: task("t1", "4", 1, status),
        ..holder("t1", "4", 1, mins)
    };
    assert!(h(0, TaskStatus::Open).takes(WINDOW, now()));
    assert!(
        h(10, TaskStatus::Accepted).takes(WINDOW, now()),
        "the edge is in"
    );
    assert!(!h(11, TaskStatus::Open).takes(WINDOW, now()));
    assert!(!h(1, TaskStatus::InProgress).takes(WINDOW, now()));
    assert!(!h(1, TaskStatus::Done).takes(WINDOW, now()));
    // Another instance's clock a little ahead: a latest order "in the future" is within.
    assert!(h(-1, TaskStatus::Open).takes(WINDOW, now()));
}

#[test]
fn a_repeated_order_within_the_window_grows_the_open_task_and_makes_none() {
    let p = order("o2", &[("4", 2)]);
    let s = settle_new(&p, &hotel(Some(WINDOW)), &[holder("t1", "4", 1, 3)]);
    let Outcome::Merged {
        order_id,
        tasks,
        skipped,
    } = &s.outcome
    else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!(order_id.as_deref(), Some("o2"));
    assert!(skipped.is_empty());
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].id.as_str(), tasks[0].quantity), ("t1", 3));
    assert_eq!(tasks[0].order_ids, ["o1", "o2"]);
    assert_eq!(tasks[0].status, TaskStatus::Open);
    assert_eq!(s.outcome.code(), "merged");
    assert!(s.new_tasks.is_empty());
    // The order is remembered (its redelivery is a duplicate, its cancellation finds the task).
    assert_eq!(s.order.map(|o| o.state), Some(OrderState::Created));
    assert_eq!(s.merge.quantities.len(), 1);
    assert_eq!(s.merge.quantities[0].quantity, 3);
    assert_eq!(
        s.merge.quantities[0].order_ids.as_deref(),
        Some(&["o1".to_owned(), "o2".to_owned()][..])
    );
    // The first merge records the making order's share too.
    assert_eq!(
        s.merge.shares,
        [
            ShareRow {
                task_id: "t1".into(),
                order_key: "o1".into(),
                order_id: Some("o1".into()),
                quantity: 1,
                merged: false,
            },
            ShareRow {
                task_id: "t1".into(),
                order_key: "o2".into(),
                order_id: Some("o2".into()),
                quantity: 2,
                merged: true,
            },
        ]
    );
    assert!(s.merge.released.is_empty());
    assert_eq!(
        s.notes,
        [HistoryLine {
            task_id: "t1".into(),
            from: TaskStatus::Open,
            to: TaskStatus::Open,
            note: "merged order o2, quantity +2".into(),
        }]
    );
    let raised: Vec<_> = s.deliveries().map(|(t, r)| (t.id.as_str(), r)).collect();
    let note = MergeNote {
        order_id: Some("o2".into()),
        quantity_delta: 2,
        reason: MergeReason::OrderMerged,
    };
    assert_eq!(raised, [("t1", &Raised::Merged(note))]);
    assert!(
        s.context.is_some(),
        "the order still teaches its reservation"
    );
}

#[test]
fn a_task_merged_into_before_gets_no_second_share_for_its_making_order() {
    let p = order("o3", &[("4", 1)]);
    let mut h = holder("t1", "4", 3, 2);
    h.merged = true;
    h.task.order_ids = vec!["o1".into(), "o2".into()];
    let s = settle_new(&p, &hotel(Some(WINDOW)), &[h]);
    assert_eq!(s.outcome.tasks()[0].quantity, 4);
    assert_eq!(s.outcome.tasks()[0].order_ids, ["o1", "o2", "o3"]);
    let shares: Vec<_> = s
        .merge
        .shares
        .iter()
        .map(|r| r.order_key.as_str())
        .collect();
    assert_eq!(shares, ["o3"]);
}

#[test]
fn outside_the_window_a_new_task_takes_the_slot_over() {
    let p = order("o2", &[("4", 1)]);
    let s = settle_new(&p, &hotel(Some(WINDOW)), &[holder("t1", "4", 1, 11)]);
    let Outcome::Created { tasks, .. } = &s.outcome else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!(tasks.len(), 1);
    assert_ne!(tasks[0].id, "t1");
    assert_eq!(tasks[0].order_ids, ["o2"]);
    assert!(s.new_tasks[0].merge_slot);
    // Released before the new task is inserted: the slot's index holds one task.
    assert_eq!(s.merge.released, ["t1"]);
    assert!(s.merge.quantities.is_empty() && s.merge.shares.is_empty());
    assert!(s.notes.is_empty());
}

#[test]
fn the_first_task_for_a_room_and_service_takes_its_slot_and_a_second_item_does_not() {
    let p = order("o1", &[("4", 1), ("4", 2), ("8", 1)]);
    let s = settle_new(&p, &hotel(Some(WINDOW)), &[]);
    assert!(matches!(s.outcome, Outcome::Created { .. }));
    let slots: Vec<_> = s.new_tasks.iter().map(|d| d.merge_slot).collect();
    assert_eq!(
        slots,
        [true, false, true],
        "an order never merges with itself"
    );
    assert!(s.merge.is_empty());
}

#[test]
fn a_hotel_that_does_not_merge_takes_no_slot_and_merges_into_nothing() {
    let p = order("o2", &[("4", 1)]);
    // Even a holder handed in (the store reads none for such a hotel) is passed over.
    let read = OrderRead {
        holders: vec![holder("t1", "4", 1, 1)],
        ..OrderRead::default()
    };
    let s = settle(&p, &hotel(None), read, now());
    assert!(matches!(s.outcome, Outcome::Created { .. }));
    assert!(!s.new_tasks[0].merge_slot);
    assert!(s.merge.is_empty());
}

#[test]
fn an_order_of_which_some_items_merge_answers_created_with_new_tasks_first() {
    let p = order("o2", &[("8", 1), ("4", 2), ("4", 1)]);
    let s = settle_new(&p, &hotel(Some(WINDOW)), &[holder("t1", "4", 1, 5)]);
    let Outcome::Created { tasks, .. } = &s.outcome else {
        panic!("{:?}", s.outcome)
    };
    // Two items merge into t1 (their quantities add up); the cot makes a task.
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].external_id.as_deref(), Some("8"));
    assert_eq!((tasks[1].id.as_str(), tasks[1].quantity), ("t1", 4));
    let written: Vec<_> = s
        .new_tasks()
        .map(|(d, t)| (d.quantity, t.id.clone()))
        .collect();
    assert_eq!(written, [(1, tasks[0].id.clone())]);
    assert!(s.new_tasks[0].merge_slot);
    let raised: Vec<_> = s
        .deliveries()
        .map(|(t, r)| (t.id.clone(), r.clone()))
        .collect();
    assert_eq!(raised[0], (tasks[0].id.clone(), Raised::Created));
    assert_eq!(raised[1].0, "t1");
    assert!(matches!(&raised[1].1, Raised::Merged(n) if n.quantity_delta == 3));
    assert_eq!(s.notes[0].note, "merged order o2, quantity +3");
}

#[test]
fn an_order_without_an_id_is_named_by_its_key_and_adds_no_order_id() {
    let p = plan(
        "orderCreated",
        r#"{"roomNumber":"101","verifiedFirstName":"Bo","order":{"products":[{"externalId":"4"}]}}"#,
    );
    let s = settle_new(&p, &hotel(Some(WINDOW)), &[holder("t1", "4", 1, 1)]);
    assert_eq!(s.outcome.tasks()[0].order_ids, ["o1"]);
    assert!(s.notes[0].note.starts_with("merged order sha256:"));
}

fn share(task: &str, order: &str, quantity: u32, cancelled: bool) -> Share {
    Share {
        task_id: task.into(),
        order_key: order.into(),
        quantity,
        cancelled,
    }
}

#[test]
fn cancelling_one_order_of_a_merged_task_takes_its_quantity_off() {
    let t = task("t1", "4", 3, TaskStatus::Accepted);
    let shares = [share("t1", "o1", 1, false), share("t1", "o2", 2, false)];
    assert_eq!(
        cancel_share("o2", &t, &shares),
        ShareCancel::Shrink { quantity: 1, by: 2 }
    );
    assert_eq!(cancel_share("o9", &t, &[]), ShareCancel::Unshared);
    let one_left = [share("t1", "o1", 1, true), share("t1", "o2", 2, false)];
    assert_eq!(cancel_share("o2", &t, &one_left), ShareCancel::Last);
    assert_eq!(cancel_share("o1", &t, &one_left), ShareCancel::Already);
    // Another task's shares do not count.
    let elsewhere = [share("t1", "o2", 2, false), share("t9", "o1", 1, false)];
    assert_eq!(cancel_share("o2", &t, &elsewhere), ShareCancel::Last);
}

fn cancel<'a>(p: &'a Plan, tasks: Vec<Task>, shares: Vec<Share>) -> Settlement<'a> {
    let reads = p.reads(Some(OrderState::Created));
    assert!(reads.lock_tasks && reads.shares_of.is_some());
    let read = OrderRead {
        state: Some(OrderState::Created),
        tasks,
        shares,
        ..OrderRead::default()
    };
    settle(p, &hotel(Some(WINDOW)), read, now())
}

#[test]
fn a_cancelled_merged_order_keeps_the_task_for_the_others_and_says_so() {
    let p = plan("orderCancelled", r#"{"order":{"id":"o2"}}"#);
    let t = task("t1", "4", 3, TaskStatus::Open);
    let s = cancel(
        &p,
        vec![t],
        vec![share("t1", "o1", 1, false), share("t1", "o2", 2, false)],
    );
    let Outcome::Cancelled { tasks } = &s.outcome else {
        panic!("{:?}", s.outcome)
    };
    assert_eq!((tasks[0].status, tasks[0].quantity), (TaskStatus::Open, 1));
    assert!(s.moves.is_empty());
    assert_eq!(s.notes[0].note, "order o2 cancelled in Duve, quantity -2");
    assert_eq!(s.merge.quantities[0].quantity, 1);
    assert_eq!(s.merge.quantities[0].order_ids, None);
    assert_eq!(
        s.merge.cancelled_shares,
        [ShareKey {
            order_key: "o2".into(),
            task_id: "t1".into()
        }]
    );
    let raised: Vec<_> = s.deliveries().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        raised,
        [Raised::Merged(MergeNote {
            order_id: Some("o2".into()),
            quantity_delta: -2,
            reason: MergeReason::OrderCancelled,
        })]
    );
}

#[test]
fn the_last_order_cancelled_cancels_the_merged_task_and_a_repeat_changes_nothing() {
    let p = plan("orderCancelled", r#"{"order":{"id":"o1"}}"#);
    let shares = vec![share("t1", "o1", 1, false), share("t1", "o2", 2, true)];
    let s = cancel(&p, vec![task("t1", "4", 1, TaskStatus::Open)], shares);
    assert_eq!(s.outcome.tasks()[0].status, TaskStatus::Cancelled);
    assert_eq!(s.outcome.tasks()[0].quantity, 1);
    assert_eq!(s.moves.len(), 1);
    assert_eq!(s.merge.cancelled_shares.len(), 1);
    assert!(s.merge.quantities.is_empty());
    let raised: Vec<_> = s.deliveries().map(|(_, r)| r.clone()).collect();
    assert_eq!(raised, [Raised::Moved(TaskStatus::Cancelled)]);

    // The same cancellation delivered again, the task still open for another order: nothing.
    let p = plan("orderCancelled", r#"{"order":{"id":"o2"}}"#);
    let shares = vec![share("t1", "o1", 1, false), share("t1", "o2", 2, true)];
    let s = cancel(&p, vec![task("t1", "4", 1, TaskStatus::Open)], shares);
    assert!(s.moves.is_empty() && s.notes.is_empty() && s.outbox.is_empty());
    assert!(s.merge.is_empty());
    assert_eq!(s.outcome.tasks()[0].quantity, 1);
}

#[test]
fn a_finished_merged_task_is_left_as_it_is() {
    let p = plan("orderCancelled", r#"{"order":{"id":"o2"}}"#);
    let shares = vec![share("t1", "o1", 1, false), share("t1", "o2", 2, false)];
    let s = cancel(&p, vec![task("t1", "4", 3, TaskStatus::Done)], shares);
    assert!(s.moves.is_empty() && s.notes.is_empty() && s.merge.is_empty());
}
