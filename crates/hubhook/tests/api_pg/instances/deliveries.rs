//! Webhook deliveries across instances: duplicates split over two make one task; a room added or
//! tokens rotated through one process count on the others at once.

use std::{collections::HashSet, process::Command};

use serde_json::Value;

use super::{Instance, cli, client, get_api, hotel_with_key, post, task_ids};
use crate::helpers::{Hotel, database_url, expect_webhook_error, order};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicate_deliveries_split_across_two_instances_make_one_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "multi");
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    const ORDERS: usize = 25;
    const COPIES: usize = 8;
    let mut sends = Vec::new();
    for o in 0..ORDERS {
        let body = order(&format!("dup-{o}"), "101", &["4", "22"]);
        for copy in 0..COPIES {
            // Half of the copies of each order go to each instance, all at once.
            let url = if copy % 2 == 0 { a.url("/webhooks/duve") } else { b.url("/webhooks/duve") };
            let (client, hotel, body) = (client.clone(), hotel.clone(), body.clone());
            sends.push(tokio::spawn(async move {
                let (s, answer, _) = post(&client, url, &hotel, &body).await;
                (o, s, answer)
            }));
        }
    }
    let mut by_order: Vec<Vec<(u16, Value)>> = vec![Vec::new(); ORDERS];
    for s in sends {
        let (o, status, answer) = s.await.expect("sender");
        by_order[o].push((status, answer));
    }
    let mut all_ids = HashSet::new();
    for (o, answers) in by_order.iter().enumerate() {
        let created: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s == 201).collect();
        assert_eq!(created.len(), 1, "order {o}: {answers:?}");
        let ids = task_ids(&created[0].1);
        assert_eq!(ids.len(), 2);
        for (s, answer) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*s, 200, "{answer}");
            assert_eq!(answer["status"], "duplicate", "{answer}");
            assert_eq!(task_ids(answer), ids, "a duplicate names the same tasks");
        }
        all_ids.extend(ids);
    }

    // What the database holds, seen through either instance: exactly the tasks answered 201.
    for instance in [&a, &b] {
        let (s, page) = get_api(&client, instance.url("/api/v1/tasks?limit=500"), &key).await;
        assert_eq!(s, 200, "{page}");
        let listed: HashSet<String> = page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, all_ids);
        let (_, log) = get_api(&client, instance.url("/api/v1/inbound?limit=500"), &key).await;
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries.len(), ORDERS * COPIES, "every delivery is logged once");
        let created = entries.iter().filter(|e| e["code"] == "created").count();
        assert_eq!(created, ORDERS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_added_or_tokens_rotated_through_one_process_count_on_the_others_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "cfg");
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;
    let hook = |i: &Instance| i.url("/webhooks/duve");

    // Both instances have the hotel in their caches, and neither knows room 103.
    for (n, i) in [&a, &b].into_iter().enumerate() {
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("warm-{n}"), "101", &["4"])).await;
        assert_eq!(s, 201, "{body}");
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("r103-{n}"), "103", &["4"])).await;
        expect_webhook_error(&(s, body), 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");
    }

    // Another process adds the room: both instances take it from the next request on.
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(["rooms", "add", "cfg", "103"])
        .env("HUBHOOK_DATABASE_URL", &db)
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("run hubhook");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (n, i) in [&b, &a].into_iter().enumerate() {
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("added-{n}"), "103", &["4"])).await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(body["tasks"][0]["room"], "103");
    }

    // A catalog entry set by the CLI, likewise.
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(["catalog", "set", "cfg", "900", "Champagne on ice"])
        .env("HUBHOOK_DATABASE_URL", &db)
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("run hubhook");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("cat-1", "101", &["900"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["taskName"], "Champagne on ice");

    // Tokens rotated: the old ones stop working on both instances at once, the new ones work on both.
    let rotated = cli(&db, &["hotel", "rotate-tokens", "cfg"]);
    let fresh = Hotel {
        id: "cfg".into(),
        access: rotated["accessToken"].as_str().unwrap().to_owned(),
        password: rotated["passwordToken"].as_str().unwrap().to_owned(),
    };
    for (n, i) in [&a, &b].into_iter().enumerate() {
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("old-{n}"), "101", &["4"])).await;
        expect_webhook_error(&(s, body), 400, "WEB_HUK_INVALID_CREDS", "Invalid credentials.");
        let (s, body, _) = post(&client, hook(i), &fresh, &order(&format!("new-{n}"), "101", &["4"])).await;
        assert_eq!(s, 201, "{body}");
    }
}
