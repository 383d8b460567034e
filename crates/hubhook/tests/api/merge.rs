//! Merging repeated requests (CONTRACT.md section 7): a second order for the same room and service
//! within the hotel's merge window grows the open task instead of making another; its answer, its
//! redelivery, its cancellation, `task.merged`, the inbound log, the metrics and the live board.
//! Every hotel here merges as a new hotel does (default window 10 minutes) unless a test sets it.

use std::time::Duration;

use hubhook::{
    domain::{HotelId, Role},
    store::HotelSettings,
};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    receiver::{Receiver, eventually},
    ui_support::{UiClient, add_user},
};

/// An `orderCreated` for `room` with one product per `(external ID, quantity)`.
fn order_of(order_id: &str, room: &str, products: &[(&str, u32)]) -> Value {
    let mut body = order(order_id, room, &[]);
    body["resource"]["order"]["products"] = products
        .iter()
        .map(|(e, q)| json!({"name": format!("Service {e}"), "externalId": e, "quantity": q}))
        .collect();
    body
}

fn cancellation(order_id: &str) -> Value {
    json!({"accountId": "acc", "event": "orderCancelled",
        "resource": {"id": "res-1", "order": {"id": order_id}}})
}

async fn set_window(app: &TestApp, hotel: &Hotel, secs: u32) {
    let settings = HotelSettings {
        merge_window_secs: Some(secs),
        ..HotelSettings::default()
    };
    app.store
        .update_hotel(&HotelId::parse(&hotel.id).unwrap(), settings)
        .await
        .unwrap();
}

fn ids(answer: &Value) -> Vec<String> {
    answer["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks in {answer}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn task(app: &TestApp, key: &str, id: &str) -> Value {
    let (s, t) = app.get_api(key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(s, 200, "{t}");
    t
}

async fn move_to(app: &TestApp, key: &str, id: &str, status: &str) {
    let (s, body) = app
        .post_api(
            key,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": status}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

fn notes(task: &Value) -> Vec<String> {
    task["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["note"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_repeated_order_within_the_window_grows_the_open_task_and_is_answered_merged() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    let (s, sub) = app
        .post_api(&key, "/api/v1/webhooks", &json!({"url": rx.url}))
        .await;
    assert_eq!(s, 201, "{sub}");

    let (s, first) = app
        .webhook(&hotel, &order_of("o1", "101", &[("4", 2)]))
        .await;
    assert_eq!(s, 201, "{first}");
    let id = ids(&first)[0].clone();

    let (s, merged) = app
        .webhook(&hotel, &order_of("o2", "101", &[("4", 1)]))
        .await;
    assert_eq!(s, 200, "{merged}");
    assert_eq!(merged["status"], "merged", "{merged}");
    assert_eq!(merged["orderId"], "o2");
    assert_eq!(ids(&merged), [id.as_str()], "no new task");
    let t = &merged["tasks"][0];
    assert_eq!(t["quantity"], 3);
    assert_eq!(t["orderIds"], json!(["o1", "o2"]));
    assert_eq!(t["status"], "open");
    assert_eq!(t["createdAt"], first["tasks"][0]["createdAt"]);
    assert!(merged.get("skipped").is_none(), "{merged}");

    assert_eq!(task_list(&app, &key).await.len(), 1);
    let detail = task(&app, &key, &id).await;
    assert_eq!(detail["quantity"], 3);
    assert_eq!(detail["orderIds"], json!(["o1", "o2"]));
    assert!(
        notes(&detail).contains(&"merged order o2, quantity +1".to_owned()),
        "{detail}"
    );
    let log = inbound_log(&app, &key).await;
    assert_eq!(log[0]["code"], "merged", "{log:?}");
    assert_eq!(log[0]["taskIds"], json!([id]));

    // task.merged reaches the subscription, after task.created, with the order and the change.
    let got = rx.wait_for(2).await;
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["type"], "task.created");
    assert_eq!(bodies[1]["type"], "task.merged", "{bodies:?}");
    assert_eq!(bodies[1]["data"]["id"], id.as_str());
    assert_eq!(bodies[1]["data"]["quantity"], 3);
    assert_eq!(
        bodies[1]["merge"],
        json!({"orderId": "o2", "quantityDelta": 1, "reason": "order_merged"})
    );

    // Redeliveries answer the same thing and change nothing.
    let (s, again) = app
        .webhook(&hotel, &order_of("o2", "101", &[("4", 1)]))
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["orderId"], "o2");
    assert_eq!(ids(&again), [id.as_str()]);
    assert_eq!(again["tasks"][0]["quantity"], 3);
    let (s, again) = app
        .webhook(&hotel, &order_of("o1", "101", &[("4", 2)]))
        .await;
    assert_eq!((s, again["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(again["tasks"][0]["quantity"], 3);
    assert_eq!(task(&app, &key, &id).await["quantity"], 3);

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hubhook_webhooks_total{code=\"merged\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_window_counts_from_the_latest_request_and_after_it_a_new_task_takes_over() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    set_window(&app, &hotel, 4).await;
    let (s, first) = app.webhook(&hotel, &order("o1", "101", &["4"])).await;
    assert_eq!(s, 201, "{first}");
    let old = ids(&first)[0].clone();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (s, a) = app.webhook(&hotel, &order("o2", "101", &["4"])).await;
    assert_eq!((s, a["status"].as_str()), (200, Some("merged")), "{a}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Five seconds after the task was made, but 2.5 after the guest last asked: still merged.
    let (s, b) = app.webhook(&hotel, &order("o3", "101", &["4"])).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("merged")), "{b}");
    assert_eq!(b["tasks"][0]["quantity"], 3);
    tokio::time::sleep(Duration::from_millis(5000)).await;

    let (s, late) = app.webhook(&hotel, &order("o4", "101", &["4"])).await;
    assert_eq!(s, 201, "past the window: a new task {late}");
    let new = ids(&late)[0].clone();
    assert_ne!(new, old);
    assert_eq!(late["tasks"][0]["orderIds"], json!(["o4"]));
    // The next repeat joins the new task; the old one keeps its orders.
    let (s, next) = app.webhook(&hotel, &order("o5", "101", &["4"])).await;
    assert_eq!(
        (s, next["status"].as_str()),
        (200, Some("merged")),
        "{next}"
    );
    assert_eq!(ids(&next), [new.as_str()]);
    let old_task = task(&app, &key, &old).await;
    assert_eq!(old_task["quantity"], 3);
    assert_eq!(old_task["orderIds"], json!(["o1", "o2", "o3"]));
    app.stop().await;
}

#[tokio::test]
async fn a_window_of_0_never_merges() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let out = app
        .cli()
        .args(["hotel", "set", "h1", "--merge-window", "0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for o in ["o1", "o2", "o3"] {
        let (s, answer) = app.webhook(&hotel, &order(o, "101", &["4"])).await;
        assert_eq!(s, 201, "{answer}");
    }
    let tasks = task_list(&app, &key).await;
    assert_eq!(tasks.len(), 3);
    assert!(tasks.iter().all(|t| t["quantity"] == 1));
    app.stop().await;
}

#[tokio::test]
async fn only_an_open_or_accepted_task_takes_a_repeated_order() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let (_, first) = app.webhook(&hotel, &order("o1", "101", &["4"])).await;
    let t1 = ids(&first)[0].clone();
    move_to(&app, &key, &t1, "accepted").await;
    let (s, a) = app.webhook(&hotel, &order("o2", "101", &["4"])).await;
    assert_eq!((s, a["status"].as_str()), (200, Some("merged")), "{a}");
    assert_eq!(a["tasks"][0]["status"], "accepted");

    move_to(&app, &key, &t1, "in_progress").await;
    let (s, b) = app.webhook(&hotel, &order("o3", "101", &["4"])).await;
    assert_eq!(s, 201, "a task being done takes no more: {b}");
    let t2 = ids(&b)[0].clone();
    assert_ne!(t2, t1);
    move_to(&app, &key, &t2, "done").await;
    let (s, c) = app.webhook(&hotel, &order("o4", "101", &["4"])).await;
    assert_eq!(s, 201, "{c}");
    assert_ne!(ids(&c)[0], t2);
    assert_eq!(task(&app, &key, &t1).await["quantity"], 2);
    assert_eq!(task(&app, &key, &t2).await["quantity"], 1);
    app.stop().await;
}

#[tokio::test]
async fn another_room_or_service_makes_its_own_task_and_a_mixed_order_is_created() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let (_, first) = app.webhook(&hotel, &order("o1", "101", &["4"])).await;
    let towels = ids(&first)[0].clone();
    let (s, room) = app.webhook(&hotel, &order("o2", "102", &["4"])).await;
    assert_eq!(s, 201, "another room: {room}");
    let (s, service) = app.webhook(&hotel, &order("o3", "101", &["22"])).await;
    assert_eq!(s, 201, "another service: {service}");

    // Towels again with a cot: the cot is a new task (listed first), the towels merge.
    let (s, mixed) = app
        .webhook(&hotel, &order_of("o4", "101", &[("4", 2), ("8", 1)]))
        .await;
    assert_eq!(s, 201, "{mixed}");
    assert_eq!(mixed["status"], "created");
    let got = ids(&mixed);
    assert_eq!(got.len(), 2);
    assert_eq!(mixed["tasks"][0]["externalId"], "8");
    assert_eq!(mixed["tasks"][0]["orderIds"], json!(["o4"]));
    assert_eq!(got[1], towels);
    assert_eq!(mixed["tasks"][1]["quantity"], 3);
    assert_eq!(mixed["tasks"][1]["orderIds"], json!(["o1", "o4"]));
    assert_eq!(task_list(&app, &key).await.len(), 4);
    // Its redelivery names the same tasks in the same order.
    let (s, again) = app
        .webhook(&hotel, &order_of("o4", "101", &[("4", 2), ("8", 1)]))
        .await;
    assert_eq!((s, again["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(ids(&again), got);
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_merged_order_takes_its_quantity_off_and_the_last_cancels_the_task() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    let (s, _) = app
        .post_api(&key, "/api/v1/webhooks", &json!({"url": rx.url}))
        .await;
    assert_eq!(s, 201);
    let (_, first) = app
        .webhook(&hotel, &order_of("o1", "101", &[("4", 2)]))
        .await;
    let id = ids(&first)[0].clone();
    let (_, m) = app
        .webhook(&hotel, &order_of("o2", "101", &[("4", 1)]))
        .await;
    assert_eq!(m["status"], "merged", "{m}");
    let (_, m) = app
        .webhook(&hotel, &order_of("o3", "101", &[("4", 3)]))
        .await;
    assert_eq!(m["tasks"][0]["quantity"], 6);

    // The order that made the task is cancelled first: its 2 come off, the task stays.
    let (s, c) = app.webhook(&hotel, &cancellation("o1")).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "cancelled");
    assert_eq!(ids(&c), [id.as_str()]);
    assert_eq!(c["tasks"][0]["status"], "open");
    assert_eq!(c["tasks"][0]["quantity"], 4);
    // Delivered twice, it changes nothing more.
    let (s, c) = app.webhook(&hotel, &cancellation("o1")).await;
    assert_eq!((s, c["tasks"][0]["quantity"].as_u64()), (200, Some(4)));
    let (_, c) = app.webhook(&hotel, &cancellation("o3")).await;
    assert_eq!(c["tasks"][0]["status"], "open");
    assert_eq!(c["tasks"][0]["quantity"], 1);
    let detail = task(&app, &key, &id).await;
    assert_eq!(detail["status"], "open");
    let n = notes(&detail);
    assert!(
        n.contains(&"order o1 cancelled in Duve, quantity -2".to_owned()),
        "{n:?}"
    );
    assert!(
        n.contains(&"order o3 cancelled in Duve, quantity -3".to_owned()),
        "{n:?}"
    );

    // The last order still standing: the task is cancelled.
    let (_, c) = app.webhook(&hotel, &cancellation("o2")).await;
    assert_eq!(c["tasks"][0]["status"], "cancelled", "{c}");
    assert_eq!(task(&app, &key, &id).await["status"], "cancelled");

    // created, merged twice, merged -2, merged -3, then the cancellation's two events.
    let bodies = eventually(
        "every event delivered",
        || async { rx.received() },
        |got| got.len() >= 7,
    )
    .await;
    let types: Vec<String> = bodies
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.merged",
            "task.merged",
            "task.merged",
            "task.merged",
            "task.status_changed",
            "task.cancelled"
        ]
    );
    let off = bodies[3].json();
    assert_eq!(
        off["merge"],
        json!({"orderId": "o1", "quantityDelta": -2, "reason": "order_cancelled"})
    );
    assert_eq!(off["data"]["quantity"], 4);
    app.stop().await;
}

#[tokio::test]
async fn the_board_hears_the_merge_and_shows_the_new_quantity() {
    let app = spawn_app().await;
    let hotel = app.create_merging_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut ui = UiClient::signed_in(&app, "ana@h1.test").await;
    let cookie = format!("hubhook_session={}", ui.cookies["hubhook_session"]);
    let (_, first) = app.webhook(&hotel, &order("o1", "101", &["4"])).await;
    let id = ids(&first)[0].clone();
    let board = ui.get("/board").await;
    assert!(board.body.contains(&format!(r#"data-task-id="{id}""#)));
    assert!(!board.body.contains("× 2"), "{}", board.body);

    let mut stream = app
        .client
        .get(app.url("/board/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    crate::ui_pages::read_stream_until(&mut stream, "event: ready").await;
    let (_, m) = app.webhook(&hotel, &order("o2", "101", &["4"])).await;
    assert_eq!(m["status"], "merged", "{m}");
    let seen = crate::ui_pages::read_stream_until(&mut stream, r#""kind":"merged""#).await;
    assert!(seen.contains(&id), "{seen}");
    let cards = ui.get("/board/cards").await;
    assert!(cards.body.contains("× 2"), "{}", cards.body);
    drop(stream);
    app.stop().await;
}
