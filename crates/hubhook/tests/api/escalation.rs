//! Escalation (CONTRACT.md section 6): a task still open past the hotel's escalate-after, or not
//! done by its due time, escalates once per reason (`task.escalated`, priority, history); a longer
//! setting holds back open tasks; `hubhook hotel set --escalate-after` on the real binary reaches
//! the running server. Two instances on PostgreSQL: tests/api_pg/instances/background.rs.

use std::time::Duration;

use hubhook::domain::Role;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    operations::{at, cli, escalate_after, move_task, subscribe, task},
    receiver::Receiver,
};

#[tokio::test]
async fn hotel_set_changes_escalate_after_on_the_running_server() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (_, list, _) = cli(&app, &["hotel", "list", "--json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["escalateAfter"], "10m", "the default: {list}");

    for (given, shown) in [("90s", "90s"), ("2h", "2h"), ("0", "0"), ("10m", "10m")] {
        let (ok, out, err) = cli(
            &app,
            &["hotel", "set", "h1", "--escalate-after", given, "--json"],
        )
        .await;
        assert!(ok, "{given}: {err}");
        let shown_now: Value = serde_json::from_str(&out).expect("one JSON document");
        assert_eq!(shown_now["escalateAfter"], shown, "{given}: {out}");
    }
    for bad in ["soon", "-5m", "8d", "1.5s"] {
        let flag = format!("--escalate-after={bad}");
        let (ok, _, err) = cli(&app, &["hotel", "set", "h1", &flag]).await;
        assert!(!ok, "{bad} was accepted");
        assert!(err.contains("--escalate-after"), "{bad}: {err}");
    }
    let (ok, _, err) = cli(&app, &["hotel", "set", "nope", "--escalate-after", "5m"]).await;
    assert!(!ok && err.contains("nope"), "{err}");

    // Set through the binary while the server runs: its next task escalates two seconds on.
    let rx = Receiver::start().await;
    subscribe(&app, &key, &rx.url, &["task.escalated"]).await;
    let (ok, _, err) = cli(&app, &["hotel", "set", "h1", "--escalate-after", "2s"]).await;
    assert!(ok, "{err}");
    let (s, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{created}");
    let got = rx.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(body["reason"], "unaccepted", "{body}");
    assert_eq!(body["data"]["id"], created["tasks"][0]["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_task_not_accepted_in_time_escalates_once() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    escalate_after(&app, &hotel, 2).await;
    let rx = Receiver::start().await;
    subscribe(&app, &key, &rx.url, &["task.escalated"]).await;
    let (s, created) = app.webhook(&hotel, &order("o-1", "101", &["4", "6"])).await;
    assert_eq!(s, 201, "{created}");
    let waiting = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let accepted = created["tasks"][1]["id"].as_str().unwrap().to_owned();
    // Accepted in time: it never escalates for this reason.
    move_task(&app, &key, &accepted, "accepted").await;

    let got = rx.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(body["type"], "task.escalated", "{body}");
    assert_eq!(body["reason"], "unaccepted", "{body}");
    assert_eq!(body["data"]["id"], waiting.as_str());
    assert_eq!(body["data"]["escalated"], "unaccepted");
    assert_eq!(body["data"]["priority"], "high");
    let deadline = at(&created["tasks"][0]["createdAt"])
        .checked_add(SignedDuration::from_secs(2))
        .unwrap();
    assert!(at(&body["timestamp"]) >= deadline, "not before: {body}");

    let t = task(&app, &key, &waiting).await;
    assert_eq!(t["escalated"], "unaccepted", "{t}");
    assert_eq!(t["priority"], "high", "{t}");
    let line = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["note"] == "escalated: not accepted within 2s")
        .unwrap_or_else(|| panic!("a history line: {t}"))
        .clone();
    assert_eq!(line["actor"], "hubhook");
    assert_eq!(
        (&line["from"], &line["to"]),
        (&json!("open"), &json!("open"))
    );
    let t = task(&app, &key, &accepted).await;
    assert_eq!(
        (&t["escalated"], &t["priority"]),
        (&json!(false), &json!("normal"))
    );

    // Once per reason: still open long after, no second event.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.received().len(), 1, "escalated once");
    let (_, list) = app.get_api(&key, "/api/v1/tasks?limit=10").await;
    let escalated: Vec<&Value> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["escalated"] != false)
        .collect();
    assert_eq!(escalated.len(), 1, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn a_task_not_done_by_its_due_time_escalates_as_overdue_next_to_task_overdue() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    escalate_after(&app, &hotel, 0).await;
    let rx = Receiver::start().await;
    subscribe(&app, &key, &rx.url, &["task.escalated", "task.overdue"]).await;
    let due = Timestamp::now()
        .checked_add(SignedDuration::from_millis(1500))
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (s, t) = app
            .post_api(
                &key,
                "/api/v1/tasks",
                &json!({"room": "101", "externalId": "4", "dueAt": due.to_string()}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        assert_eq!(t["escalated"], false);
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    // Done in time: neither event for it.
    move_task(&app, &key, &ids[1], "done").await;
    // Accepted but not done: still escalates when it is due.
    move_task(&app, &key, &ids[0], "accepted").await;

    let got = rx.wait_for(2).await;
    let mut kinds: Vec<(String, Value)> = got
        .iter()
        .map(|r| {
            let b = r.json();
            assert_eq!(b["data"]["id"], ids[0].as_str(), "{b}");
            (b["type"].as_str().unwrap().to_owned(), b["reason"].clone())
        })
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        [
            ("task.escalated".to_owned(), json!("overdue")),
            ("task.overdue".to_owned(), Value::Null)
        ]
    );
    let t = task(&app, &key, &ids[0]).await;
    assert_eq!(
        (&t["escalated"], &t["priority"]),
        (&json!("overdue"), &json!("high"))
    );
    assert_eq!(t["status"], "accepted", "escalation moves no status");
    // It stays escalated as it moves on.
    move_task(&app, &key, &ids[0], "done").await;
    assert_eq!(task(&app, &key, &ids[0]).await["escalated"], "overdue");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), 2, "once each");
    app.stop().await;
}

#[tokio::test]
async fn a_longer_escalate_after_holds_back_tasks_already_open() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    escalate_after(&app, &hotel, 2).await;
    let rx = Receiver::start().await;
    subscribe(&app, &key, &rx.url, &["task.escalated"]).await;
    let (s, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{created}");
    escalate_after(&app, &hotel, 3600).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(rx.received().is_empty(), "held back by the longer setting");
    let id = created["tasks"][0]["id"].as_str().unwrap();
    assert_eq!(task(&app, &key, id).await["escalated"], false);
    app.stop().await;
}
