//! Merging repeated requests (CONTRACT.md section 7) with two instances on one PostgreSQL database:
//! orders for the same room and service arriving at once on both make one task between them, whose
//! quantity counts every order; the merge slot's unique index (not a lock in one process) decides.

use std::{collections::HashMap, sync::Arc};

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_in, task_list};

/// An `orderCreated` for `room` of one product, quantity 1.
fn order(order_id: &str, room: &str, ext: &str) -> Value {
    let mut body = crate::helpers::order(order_id, room, &[ext]);
    body["resource"]["id"] = json!(format!("res-{order_id}"));
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_orders_racing_on_two_instances_make_one_task_per_room_and_service() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let a = spawn_app_in(dir.clone(), |_| {}).await;
    // The same database (the same schema for the same directory), another pool and batch worker.
    let b = spawn_app_in(dir, |_| {}).await;
    let hotel = a.create_merging_hotel("h1").await;
    let key = a.api_key(&hotel, Role::Staff).await;
    let apps: [Arc<TestApp>; 2] = [Arc::new(a), Arc::new(b)];

    const SLOTS: [(&str, &str); 6] = [
        ("101", "4"),
        ("101", "22"),
        ("101", "8"),
        ("102", "4"),
        ("102", "22"),
        ("102", "8"),
    ];
    const ORDERS: usize = 6;
    // Every order of every slot at once, alternating between the instances; then each order again
    // (Duve's retries) on the other instance.
    let mut sends = Vec::new();
    for round in 0..2 {
        for (s, (room, ext)) in SLOTS.iter().enumerate() {
            for n in 0..ORDERS {
                let app = apps[(n + round) % 2].clone();
                let (hotel, body) = (hotel.clone(), order(&format!("o-{s}-{n}"), room, ext));
                sends.push(tokio::spawn(async move {
                    let (status, answer) = app.webhook(&hotel, &body).await;
                    (round, s, n, status, answer)
                }));
            }
        }
        if round == 0 {
            // The redeliveries after the first answers, so that they are duplicates.
            let mut first = Vec::new();
            for s in sends.drain(..) {
                first.push(s.await.expect("sender"));
            }
            sends = first
                .into_iter()
                .map(|r| tokio::spawn(async move { r }))
                .collect();
        }
    }
    let mut answers = Vec::new();
    for s in sends {
        answers.push(s.await.expect("sender"));
    }

    // Per slot: one order made the task, the others merged into it; every redelivery is a
    // duplicate naming that task.
    let mut task_of_slot: HashMap<usize, String> = HashMap::new();
    for (round, s, n, status, answer) in &answers {
        let ids: Vec<&str> = answer["tasks"]
            .as_array()
            .unwrap_or_else(|| panic!("slot {s} order {n}: {status} {answer}"))
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "{answer}");
        let expected = task_of_slot.entry(*s).or_insert_with(|| ids[0].to_owned());
        assert_eq!(ids[0], expected, "slot {s}: every order names one task: {answer}");
        let word = answer["status"].as_str().unwrap_or_default();
        match round {
            0 => assert!(
                (*status, word) == (201, "created") || (*status, word) == (200, "merged"),
                "slot {s} order {n}: {status} {answer}"
            ),
            _ => assert_eq!((*status, word), (200, "duplicate"), "{answer}"),
        }
    }
    for s in 0..SLOTS.len() {
        let made = answers
            .iter()
            .filter(|(round, slot, _, status, _)| *round == 0 && *slot == s && *status == 201)
            .count();
        assert_eq!(made, 1, "slot {s}: one order makes the task");
    }

    // What the database holds, through either instance: one task per slot, counting every order.
    for app in &apps {
        let tasks = task_list(app, &key).await;
        assert_eq!(tasks.len(), SLOTS.len(), "{tasks:?}");
        for t in &tasks {
            assert_eq!(t["quantity"], ORDERS, "{t}");
            assert_eq!(t["orderIds"].as_array().unwrap().len(), ORDERS, "{t}");
        }
    }
    for app in apps {
        Arc::into_inner(app).expect("one owner").stop().await;
    }
}
