//! Redeliveries: a redelivered order is a duplicate naming the same tasks, concurrent redeliveries
//! make the tasks once, an order without id is deduplicated by its body.

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{created, ids, setup, tasks_of};
use crate::helpers::{inbound_log, json_of, order, task_list};

#[tokio::test]
async fn a_redelivered_order_is_a_duplicate_with_the_same_tasks() {
    let (app, hotel, key) = setup().await;
    let body = order("o-1", "101", &["4", "22"]);
    let (s, first) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{first}");
    for _ in 0..3 {
        let (s, again) = app.webhook(&hotel, &body).await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["status"], "duplicate");
        assert_eq!(again["orderId"], "o-1");
        assert_eq!(again["tasks"], first["tasks"], "the very same tasks");
    }
    // Same order id, different content (a retry after an edit): still the same order.
    let (s, again) = app
        .webhook(&hotel, &order("o-1", "102", &["2", "3", "5"]))
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(ids(&tasks_of(&again)), ids(&tasks_of(&first)));
    assert_eq!(task_list(&app, &key).await.len(), 2);

    // A duplicate reports tasks as they are now.
    let id = first["tasks"][0]["id"].as_str().unwrap();
    let (s, _) = app
        .post_api(
            &key,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, again) = app.webhook(&hotel, &body).await;
    assert_eq!(again["tasks"][0]["status"], "accepted", "{again}");

    // The same order id at another hotel is another order.
    let other = app.create_hotel("h2").await;
    let (s, answer) = app.webhook(&other, &body).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(task_list(&app, &key).await.len(), 2);

    let codes: Vec<String> = inbound_log(&app, &key)
        .await
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.iter().filter(|c| *c == "created").count(), 1);
    assert_eq!(codes.iter().filter(|c| *c == "duplicate").count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redeliveries_make_the_tasks_once() {
    let (app, hotel, key) = setup().await;
    let body = order("o-race", "101", &["4", "22", "8"]).to_string();
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/webhooks/duve");
        let hotel = hotel.clone();
        let body = body.clone();
        set.spawn(async move {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("custom_hotel_id", &hotel.id)
                .header("custom_access_token", &hotel.access)
                .header("custom_password_token", &hotel.password)
                .body(body)
                .send()
                .await
                .expect("request");
            json_of(res).await
        });
    }
    let answers = set.join_all().await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    assert_eq!(created[0]["status"], "created");
    let want = ids(&tasks_of(created[0]));
    assert_eq!(want.len(), 3);
    for (s, b) in &answers {
        assert!(*s == 201 || *s == 200, "{s} {b}");
        if *s == 200 {
            assert_eq!(b["status"], "duplicate", "{b}");
        }
        assert_eq!(ids(&tasks_of(b)), want, "{b}");
    }
    let listed = task_list(&app, &key).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut exts: Vec<&str> = listed
        .iter()
        .map(|t| t["externalId"].as_str().unwrap())
        .collect();
    exts.sort_unstable();
    assert_eq!(exts, ["22", "4", "8"]);
}

#[tokio::test]
async fn an_order_without_id_is_deduplicated_by_its_body() {
    let (app, hotel, key) = setup().await;
    let body = created(json!({
        "id": "r", "verifiedFirstName": "Ana", "roomNumber": "101",
        "order": {"status": 0, "chargeAmount": 0, "products": [{"name": "T", "externalId": "4"}]}
    }))
    .to_string();
    let res = app.post_webhook(&hotel, body.clone()).await;
    let (s, first) = json_of(res).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["orderId"], Value::Null, "{first}");
    let res = app.post_webhook(&hotel, body.clone()).await;
    let (s, again) = json_of(res).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(ids(&tasks_of(&again)), ids(&tasks_of(&first)));
    assert_eq!(task_list(&app, &key).await.len(), 1);

    // Another body without an id is another order.
    let other = body.replace("\"4\"", "\"22\"");
    assert_ne!(other, body);
    let (s, answer) = json_of(app.post_webhook(&hotel, other).await).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(task_list(&app, &key).await.len(), 2);
}
