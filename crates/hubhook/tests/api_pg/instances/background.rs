//! Background work shared by instances: the outbox delivers each event once (and takes over a
//! killed instance's claims after the lease), pruning takes each row once, escalation escalates
//! each task once.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use super::{Instance, cli, client, delivered_by, get_api, hotel_with_key, post, task_ids};
use crate::{
    helpers::{database_url, order},
    receiver::Receiver,
};

/// A subscription to `url` for `task.created`, made with the CLI.
fn subscribe(db_url: &str, hotel: &str, url: &str) -> String {
    let added = cli(
        db_url,
        &["webhooks", "add", hotel, "--url", url, "--events", "task.created"],
    );
    added["id"].as_str().expect("subscription id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_outbox_and_deliver_each_confirmation_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "outbox");
    let rx = Receiver::start().await;
    subscribe(&db, "outbox", &rx.url);
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    const ORDERS: usize = 40;
    let mut sends = Vec::new();
    for o in 0..ORDERS {
        let url = if o % 2 == 0 { a.url("/webhooks/duve") } else { b.url("/webhooks/duve") };
        let body = order(&format!("out-{o}"), "101", &["4"]);
        let (client, hotel) = (client.clone(), hotel.clone());
        sends.push(tokio::spawn(async move { post(&client, url, &hotel, &body).await }));
    }
    let mut created = HashSet::new();
    for s in sends {
        let (status, answer, _) = s.await.expect("sender");
        assert_eq!(status, 201, "{answer}");
        created.extend(task_ids(&answer));
    }
    assert_eq!(created.len(), ORDERS);

    rx.wait_for(ORDERS).await;
    // Room for a second sending, had there been one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.received();
    let ids: HashSet<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(got.len(), ORDERS, "each delivery sent once: {} sendings", got.len());
    assert_eq!(ids.len(), ORDERS);
    let tasks: HashSet<String> = got
        .iter()
        .map(|r| r.json()["data"]["id"].as_str().expect("task id").to_owned())
        .collect();
    assert_eq!(tasks, created, "one task.created per task made, through either instance");

    let (by_a, by_b) = (delivered_by(&client, &a).await, delivered_by(&client, &b).await);
    assert_eq!(by_a + by_b, ORDERS as u64, "a: {by_a}, b: {by_b}");
    assert!(by_a > 0 && by_b > 0, "both instances delivered (a: {by_a}, b: {by_b})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_claimed_by_a_killed_instance_are_sent_by_another_once_the_lease_expires() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "killed");
    // A slow receiver: attempts are under way (claimed, not recorded) when the instance is killed.
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_millis(1500));
    subscribe(&db, "killed", &rx.url);
    let client = client();
    // Lease: twice the 2 s timeout plus 15 s.
    let env = [("HUBHOOK_OUTBOX_TIMEOUT", "2s")];
    let mut a = Instance::start_with(&db, &client, &env).await;

    const ORDERS: usize = 6;
    for o in 0..ORDERS {
        let (status, answer, _) = post(
            &client,
            a.url("/webhooks/duve"),
            &hotel,
            &order(&format!("k-{o}"), "101", &["4"]),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
    }
    let before = rx.wait_for(1).await;
    a.child.kill().expect("SIGKILL");
    let _ = a.child.wait();
    let killed = Instant::now();
    let in_flight: HashSet<String> = before.iter().map(|r| r.header("webhook-id")).collect();
    rx.set_delay(Duration::ZERO);

    let b = Instance::start_with(&db, &client, &env).await;
    // Longer than `eventually` waits: the lease (19 s) has to run out first.
    let deadline = Instant::now() + Duration::from_secs(60);
    let all = loop {
        let v = cli(&db, &["deliveries", "list", "killed", "--limit", "100"]);
        let done = v.as_array().is_some_and(|d| {
            d.len() == ORDERS && d.iter().all(|d| d["status"] == "delivered")
        });
        if done {
            break v;
        }
        assert!(Instant::now() < deadline, "not all delivered: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(all.as_array().unwrap().len(), ORDERS);
    let got = rx.received();
    for id in &in_flight {
        let times: Vec<Instant> = got
            .iter()
            .filter(|r| &r.header("webhook-id") == id)
            .map(|r| r.at)
            .collect();
        assert!(times.len() >= 2, "{id}: sent again after the kill");
        let last = *times.iter().max().unwrap();
        assert!(
            last >= killed + Duration::from_secs(10),
            "{id}: not sent again before its lease ran out ({:?} after the kill)",
            last - killed
        );
    }
    assert!(delivered_by(&client, &b).await >= in_flight.len() as u64);
}

/// Rows an instance's pruner deleted from `table` (its `/metrics`).
async fn pruned_by(client: &reqwest::Client, instance: &Instance, table: &str) -> u64 {
    let text = client
        .get(instance.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let prefix = format!("hubhook_retention_pruned_total{{table=\"{table}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_prune_one_backlog_together_each_row_once() {
    const BACKLOG: u64 = 10_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "prune");
    {
        // Refusals logged 90 days ago, written straight through the store (no server runs yet).
        let store = hubhook::store::open(&db).await.expect("open the store");
        let long_ago = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(24 * 90))
            .unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let store = store.clone();
            writers.spawn(async move {
                for _ in 0..BACKLOG / 16 {
                    store
                        .record_refusal(hubhook::store::Refused {
                            hotel: hubhook::domain::HotelId::parse("prune").unwrap(),
                            code: "WEB_HUK_INVALID_BODY",
                            details: vec![],
                            event: None,
                            received_at: long_ago,
                            started: Instant::now(),
                        })
                        .await
                        .expect("log a refusal");
                }
            });
        }
        while let Some(done) = writers.join_next().await {
            done.expect("writer");
        }
    }
    let client = client();
    let (a, b) = tokio::join!(Instance::start(&db, &client), Instance::start(&db, &client));
    // Both keep answering while they prune.
    for (i, instance) in [&a, &b].into_iter().enumerate() {
        let (s, body, _) = post(
            &client,
            instance.url("/webhooks/duve"),
            &hotel,
            &order(&format!("p-{i}"), "101", &["4"]),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (by_a, by_b) = loop {
        let by = (
            pruned_by(&client, &a, "inbound").await,
            pruned_by(&client, &b, "inbound").await,
        );
        if by.0 + by.1 >= BACKLOG {
            break by;
        }
        assert!(Instant::now() < deadline, "pruned so far: {by:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("pruned by a: {by_a}, by b: {by_b}");
    assert_eq!(by_a + by_b, BACKLOG, "each row deleted once (a: {by_a}, b: {by_b})");
    let (s, log) = get_api(&client, a.url("/api/v1/inbound?limit=500"), &key).await;
    assert_eq!(s, 200, "{log}");
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "only the two new deliveries are left: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_escalate_each_task_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "esc");
    cli(&db, &["hotel", "set", "esc", "--escalate-after", "1s"]);
    let rx = Receiver::start().await;
    let added = cli(
        &db,
        &["webhooks", "add", "esc", "--url", &rx.url, "--events", "task.escalated"],
    );
    assert!(added["id"].is_string(), "{added}");
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    // Many tasks whose deadlines fall within the same second, made through either instance: both
    // dispatchers find them due at once.
    const ORDERS: usize = 100;
    let mut sends = Vec::new();
    for o in 0..ORDERS {
        let url = if o % 2 == 0 { a.url("/webhooks/duve") } else { b.url("/webhooks/duve") };
        let body = order(&format!("esc-{o}"), "101", &["4", "6", "7"]);
        let (client, hotel) = (client.clone(), hotel.clone());
        sends.push(tokio::spawn(async move { post(&client, url, &hotel, &body).await }));
    }
    let mut created = HashSet::new();
    for s in sends {
        let (status, answer, _) = s.await.expect("sender");
        assert_eq!(status, 201, "{answer}");
        created.extend(task_ids(&answer));
    }
    assert_eq!(created.len(), ORDERS * 3);

    rx.wait_for(created.len()).await;
    // Room for a second escalation of any of them, had there been one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = rx.received();
    assert_eq!(got.len(), created.len(), "one task.escalated per task: {} sent", got.len());
    let escalated: HashSet<String> = got
        .iter()
        .map(|r| {
            let b = r.json();
            assert_eq!(b["reason"], "unaccepted", "{b}");
            b["data"]["id"].as_str().expect("task id").to_owned()
        })
        .collect();
    assert_eq!(escalated, created, "each task escalated, each once");
}
