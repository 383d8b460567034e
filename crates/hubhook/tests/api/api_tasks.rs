//! `/api/v1/tasks`: authentication, listing (order, filters, limits, cursors), detail with history,
//! manual creation, status moves and the isolation between hotels (CONTRACT.md §3).

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Hotel, TestApp, json_of, order, spawn_app};

/// How `helpers::TestApp::api_key` names a key, i.e. the actor the history shows for it.
fn actor_of(key: &str) -> String {
    format!("api:key_{}", &key[4..12])
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["details"].is_array(), "{body}");
}

fn ids(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .expect("tasks is an array")
        .iter()
        .map(|t| t["id"].as_str().expect("task id").to_owned())
        .collect()
}

/// Creates a task by hand and returns it.
async fn manual(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, task) = app.post_api(key, "/api/v1/tasks", &body).await;
    assert_eq!(status, 201, "{task}");
    task
}

/// A task made from a webhook order (room 101, "Serve towels").
async fn webhook_task(app: &TestApp, hotel: &Hotel, order_id: &str) -> Value {
    let (status, body) = app.webhook(hotel, &order(order_id, "101", &["4"])).await;
    assert_eq!(status, 201, "{body}");
    body["tasks"][0].clone()
}

async fn move_to(app: &TestApp, key: &str, id: &str, to: &str) -> (u16, Value) {
    app.post_api(
        key,
        &format!("/api/v1/tasks/{id}/status"),
        &json!({"status": to}),
    )
    .await
}

async fn detail(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, body) = app.get_api(key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn list(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = app.get_api(key, &format!("/api/v1/tasks{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[tokio::test]
async fn missing_unknown_or_malformed_keys_are_401_with_an_error_body() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    webhook_task(&app, &hotel, "o-1").await;

    let paths = ["/api/v1/tasks", "/api/v1/inbound"];
    let authorizations: [Option<String>; 7] = [
        None,
        Some("Bearer hhk_unknown-key-0000000000000000000000000000".into()),
        Some("Bearer ".into()),
        Some(format!("Basic {key}")),
        Some(format!("Token {key}")),
        Some(key.clone()),
        Some(format!("Bearer{key}")),
    ];
    for path in paths {
        for auth in &authorizations {
            let mut req = app.client.get(app.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let (status, body) = json_of(req.send().await.expect("request")).await;
            assert_error(status, &body, 401, "UNAUTHORIZED");
            assert!(body.get("tasks").is_none() && body.get("entries").is_none());
        }
    }
    // Writes are refused the same way, and nothing is created.
    let res = app
        .client
        .post(app.url("/api/v1/tasks"))
        .json(&json!({"room": "101", "name": "Sneaky"}))
        .send()
        .await
        .expect("request");
    let (status, body) = json_of(res).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let (status, body) = app
        .post_api(
            "hhk_not-a-key",
            "/api/v1/tasks",
            &json!({"room": "101", "name": "Sneaky"}),
        )
        .await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    // The right key works (and only one task exists), whatever the scheme's case.
    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
    for scheme in ["bearer", "BEARER"] {
        let res = app
            .client
            .get(app.url("/api/v1/tasks"))
            .header("authorization", format!("{scheme} {key}"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn list_is_newest_first_and_filters_by_status_room_and_since() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let mut created = Vec::new();
    for (oid, room, ext) in [
        ("o-1", "101", vec!["4"]),
        ("o-2", "102", vec!["22"]),
        ("o-3", "101", vec!["2", "3"]),
    ] {
        let (status, body) = app.webhook(&hotel, &order(oid, room, &ext)).await;
        assert_eq!(status, 201, "{body}");
        created.extend(ids(&body["tasks"]));
    }
    let manual_task = manual(&app, &key, json!({"room": "102", "name": "Fix the lamp"})).await;
    created.push(manual_task["id"].as_str().unwrap().to_owned());
    assert_eq!(created.len(), 5);

    // Newest first.
    let page = list(&app, &key, "").await;
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(ids(&page["tasks"]), newest_first);
    assert_eq!(page["next"], Value::Null);
    let stamps: Vec<&str> = page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["createdAt"].as_str().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "{stamps:?}");
    // Every task has the TASK shape.
    for t in page["tasks"].as_array().unwrap() {
        for field in [
            "id",
            "externalId",
            "taskName",
            "room",
            "guestName",
            "quantity",
            "status",
            "dueAt",
            "createdAt",
        ] {
            assert!(t.get(field).is_some(), "{field} missing in {t}");
        }
    }

    // room
    let page = list(&app, &key, "?room=101").await;
    let want: Vec<String> = newest_first
        .iter()
        .filter(|id| *id != &created[1] && *id != &created[4])
        .cloned()
        .collect();
    assert_eq!(ids(&page["tasks"]), want);
    assert!(
        page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["room"] == "101")
    );
    let page = list(&app, &key, "?room=102").await;
    assert_eq!(
        ids(&page["tasks"]),
        vec![created[4].clone(), created[1].clone()]
    );
    let page = list(&app, &key, "?room=999").await;
    assert_eq!(page["tasks"], json!([]));

    // status
    let (s, _) = move_to(&app, &key, &created[0], "accepted").await;
    assert_eq!(s, 200);
    let (s, _) = move_to(&app, &key, &created[2], "done").await;
    assert_eq!(s, 200);
    let page = list(&app, &key, "?status=accepted").await;
    assert_eq!(ids(&page["tasks"]), vec![created[0].clone()]);
    assert_eq!(page["tasks"][0]["status"], "accepted");
    let page = list(&app, &key, "?status=done").await;
    assert_eq!(ids(&page["tasks"]), vec![created[2].clone()]);
    let page = list(&app, &key, "?status=open").await;
    assert_eq!(
        ids(&page["tasks"]),
        vec![created[4].clone(), created[3].clone(), created[1].clone()]
    );
    let page = list(&app, &key, "?status=cancelled").await;
    assert_eq!(page["tasks"], json!([]));
    // status and room together
    let page = list(&app, &key, "?status=open&room=101").await;
    assert_eq!(ids(&page["tasks"]), vec![created[3].clone()]);

    // since: in the past → everything; in the future → nothing; with an offset → the same instant.
    let page = list(&app, &key, "?since=2000-01-01T00:00:00Z").await;
    assert_eq!(ids(&page["tasks"]), newest_first);
    let page = list(&app, &key, "?since=2999-01-01T00:00:00Z").await;
    assert_eq!(page["tasks"], json!([]));
    let page = list(&app, &key, "?since=2999-01-01T00:00:00%2B01:00").await;
    assert_eq!(page["tasks"], json!([]));
    // since = a task's createdAt: exactly the tasks created at or after it.
    let all = list(&app, &key, "").await;
    let pivot = all["tasks"][1]["createdAt"].as_str().unwrap().to_owned();
    let want: Vec<String> = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["createdAt"].as_str().unwrap() >= pivot.as_str())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let page = list(&app, &key, &format!("?since={pivot}")).await;
    assert_eq!(ids(&page["tasks"]), want);
    assert!(want.len() >= 2, "{want:?}");
    assert_eq!(want[..2], ids(&all["tasks"])[..2]);
}

#[tokio::test]
async fn bad_query_parameters_are_400_invalid_request() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    webhook_task(&app, &hotel, "o-1").await;
    for query in [
        "?limit=0",
        "?limit=501",
        "?limit=abc",
        "?limit=-1",
        "?limit=",
        "?status=closed",
        "?status=OPEN",
        "?status=",
        "?since=yesterday",
        "?since=2024-13-01T00:00:00Z",
        "?cursor=abc",
        "?cursor=-5",
    ] {
        let (status, body) = app.get_api(&key, &format!("/api/v1/tasks{query}")).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
        assert!(
            !body["details"].as_array().unwrap().is_empty(),
            "{query}: details should say what is wrong: {body}"
        );
    }
    for query in ["?limit=1", "?limit=500", "?limit=50"] {
        list(&app, &key, query).await;
    }
}

#[tokio::test]
async fn limit_defaults_to_50_and_allows_500() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let catalog: Vec<String> = (2..=26).map(|n| n.to_string()).collect();
    let catalog: Vec<&str> = catalog.iter().map(String::as_str).collect();
    for oid in ["big-1", "big-2", "big-3"] {
        let (status, body) = app.webhook(&hotel, &order(oid, "101", &catalog)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["tasks"].as_array().unwrap().len(), 25);
    }
    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 50);
    assert!(page["next"].is_string(), "{}", page["next"]);
    let rest = list(
        &app,
        &key,
        &format!("?cursor={}", page["next"].as_str().unwrap()),
    )
    .await;
    assert_eq!(rest["tasks"].as_array().unwrap().len(), 25);
    assert_eq!(rest["next"], Value::Null);
    let page = list(&app, &key, "?limit=500").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 75);
    assert_eq!(page["next"], Value::Null);
    // A page exactly as long as the rest has no next page.
    let page = list(&app, &key, "?limit=75").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 75);
    assert_eq!(page["next"], Value::Null);
}

#[tokio::test]
async fn cursor_pagination_sees_every_task_once_in_order() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let task = if i % 2 == 0 {
            webhook_task(&app, &hotel, &format!("o-{i}")).await
        } else {
            manual(
                &app,
                &key,
                json!({"room": "102", "name": format!("Manual {i}")}),
            )
            .await
        };
        created.push(task["id"].as_str().unwrap().to_owned());
    }
    created.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_owned(),
        };
        let page = list(&app, &key, &query).await;
        let got = ids(&page["tasks"]);
        assert!(got.len() <= 3, "{page}");
        seen.extend(got);
        pages += 1;
        assert!(pages <= 5, "pagination does not end");
        match &page["next"] {
            Value::Null => break,
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("next is neither a string nor null: {other}"),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);

    // Filters hold across pages: room 101 has the 4 webhook tasks.
    let first = list(&app, &key, "?room=101&limit=3").await;
    assert_eq!(first["tasks"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().expect("a second page").to_owned();
    let second = list(&app, &key, &format!("?room=101&limit=3&cursor={next}")).await;
    assert_eq!(second["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(second["next"], Value::Null);
    let mut all = ids(&first["tasks"]);
    all.extend(ids(&second["tasks"]));
    let want: Vec<String> = created.iter().step_by(2).cloned().collect();
    assert_eq!(all, want);

    // A task created after the first page was read does not disturb the following pages.
    let first = list(&app, &key, "?limit=3").await;
    manual(&app, &key, json!({"room": "101", "name": "Late"})).await;
    let next = first["next"].as_str().unwrap();
    let second = list(&app, &key, &format!("?limit=3&cursor={next}")).await;
    assert_eq!(ids(&second["tasks"]), created[3..6].to_vec());
}

#[tokio::test]
async fn task_detail_has_the_task_and_its_creation_event() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let task = webhook_task(&app, &hotel, "o-1").await;
    let id = task["id"].as_str().unwrap();
    let d = detail(&app, &key, id).await;
    for field in [
        "id",
        "externalId",
        "taskName",
        "room",
        "guestName",
        "quantity",
        "status",
        "dueAt",
        "createdAt",
    ] {
        assert_eq!(d[field], task[field], "{field}: {d}");
    }
    assert_eq!(d["taskName"], "Serve towels");
    assert_eq!(d["externalId"], "4");
    assert_eq!(d["room"], "101");
    assert_eq!(d["status"], "open");
    let events = d["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{d}");
    assert_eq!(events[0]["from"], Value::Null);
    assert_eq!(events[0]["to"], "open");
    assert_eq!(events[0]["actor"], "duve");
    assert_eq!(events[0]["at"], d["createdAt"]);

    // A task made through the API names its key as the actor.
    let t = manual(&app, &key, json!({"room": "102", "externalId": "22"})).await;
    let d = detail(&app, &key, t["id"].as_str().unwrap()).await;
    assert_eq!(d["events"][0]["actor"], actor_of(&key));
    assert_eq!(d["events"][0]["to"], "open");

    // Not a UUID, or a UUID that names no task: 404 with the error body.
    for bad in [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-000000000000",
        "0190f5a3-7b1c-7d2e-8f00-123456789abc",
    ] {
        let (status, body) = app.get_api(&key, &format!("/api/v1/tasks/{bad}")).await;
        assert_error(status, &body, 404, "NOT_FOUND");
        let (status, body) = move_to(&app, &key, bad, "accepted").await;
        assert_error(status, &body, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn another_hotels_tasks_are_invisible_and_untouchable() {
    let app = spawn_app().await;
    let a = app.create_hotel("hotel-a").await;
    let b = app.create_hotel("hotel-b").await;
    let key_a = app.api_key(&a, Role::Manager).await;
    let key_b = app.api_key(&b, Role::Manager).await;
    let task_a = webhook_task(&app, &a, "same-order").await;
    // The same order id at the other hotel is a different order.
    let task_b = webhook_task(&app, &b, "same-order").await;
    let manual_a = manual(&app, &key_a, json!({"room": "101", "name": "A only"})).await;
    let id_a = task_a["id"].as_str().unwrap();

    let (status, body) = app.get_api(&key_b, &format!("/api/v1/tasks/{id_a}")).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    for to in ["accepted", "done", "cancelled"] {
        let (status, body) = move_to(&app, &key_b, id_a, to).await;
        assert_error(status, &body, 404, "NOT_FOUND");
    }
    // A's task is unchanged.
    let d = detail(&app, &key_a, id_a).await;
    assert_eq!(d["status"], "open");
    assert_eq!(d["events"].as_array().unwrap().len(), 1);

    let page_b = list(&app, &key_b, "?limit=500").await;
    assert_eq!(ids(&page_b["tasks"]), vec![task_b["id"].as_str().unwrap()]);
    let page_a = list(&app, &key_a, "?limit=500").await;
    assert_eq!(
        ids(&page_a["tasks"]),
        vec![manual_a["id"].as_str().unwrap(), id_a]
    );
    for query in ["?room=101", "?status=open", "?since=2000-01-01T00:00:00Z"] {
        let page = list(&app, &key_b, query).await;
        assert!(!ids(&page["tasks"]).contains(&id_a.to_owned()), "{query}");
    }
    // Paging B's list with a cursor from A's list leaks nothing either.
    let first_a = list(&app, &key_a, "?limit=1").await;
    let cursor = first_a["next"].as_str().unwrap();
    let page = list(&app, &key_b, &format!("?cursor={cursor}")).await;
    assert!(!ids(&page["tasks"]).contains(&id_a.to_owned()));
}

#[tokio::test]
async fn manual_task_creation() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;

    // externalId: the task takes the catalog's name.
    let t = manual(&app, &key, json!({"room": "101", "externalId": "4"})).await;
    assert_eq!(t["taskName"], "Serve towels");
    assert_eq!(t["externalId"], "4");
    assert_eq!(t["room"], "101");
    assert_eq!(t["status"], "open");
    assert_eq!(t["quantity"], 1);
    assert!(t["id"].as_str().is_some_and(|i| i.len() == 36), "{t}");
    assert!(t["createdAt"].is_string());
    // The same task is what the API shows afterwards.
    let d = detail(&app, &key, t["id"].as_str().unwrap()).await;
    assert_eq!(d["taskName"], "Serve towels");

    // A name only.
    let t = manual(
        &app,
        &key,
        json!({"room": "102", "name": "Fix the shower", "quantity": 2}),
    )
    .await;
    assert_eq!(t["taskName"], "Fix the shower");
    assert_eq!(t["externalId"], Value::Null);
    assert_eq!(t["room"], "102");
    assert_eq!(t["quantity"], 2);

    // Numbers for room and externalId, as Duve sends them.
    let t = manual(&app, &key, json!({"room": 101, "externalId": 22})).await;
    assert_eq!(t["room"], "101");
    assert_eq!(t["externalId"], "22");
    assert_eq!(t["taskName"], "Luggage");

    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 3);

    // Refusals: a well-formed request for what the hotel lacks is 422, a malformed one 400.
    let (status, body) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "999", "externalId": "4"}),
        )
        .await;
    assert_error(status, &body, 422, "UNKNOWN_ROOM");
    let (status, body) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "101", "externalId": "999"}),
        )
        .await;
    assert_error(status, &body, 422, "UNKNOWN_SERVICE");
    for body in [
        json!({"room": "101"}),
        json!({"room": "101", "name": "   "}),
        json!({"externalId": "4"}),
        json!({"name": "No room"}),
    ] {
        let (status, answer) = app.post_api(&key, "/api/v1/tasks", &body).await;
        assert_error(status, &answer, 400, "INVALID_REQUEST");
    }
    // Malformed JSON: a JSON error body, not axum's plain text.
    for raw in ["{not json", "", "[]", "\"text\""] {
        let res = app
            .client
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("request");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (status, answer) = json_of(res).await;
        assert!(content_type.starts_with("application/json"), "{raw:?}");
        assert_error(status, &answer, 400, "INVALID_REQUEST");
    }
    // Nothing was created by the refusals.
    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn forward_moves_skips_and_cancellations_are_allowed_and_kept_in_history() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let actor = actor_of(&key);

    // The whole way, with notes.
    let task = webhook_task(&app, &hotel, "o-1").await;
    let id = task["id"].as_str().unwrap();
    let steps = [
        ("accepted", Some("on my way")),
        ("in_progress", None),
        ("done", Some("two towels left")),
    ];
    for (to, note) in steps {
        let mut body = json!({"status": to});
        if let Some(n) = note {
            body["note"] = json!(n);
        }
        let (status, answer) = app
            .post_api(&key, &format!("/api/v1/tasks/{id}/status"), &body)
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], to);
        assert_eq!(answer["id"], id);
        assert_eq!(answer["taskName"], "Serve towels");
    }
    let d = detail(&app, &key, id).await;
    assert_eq!(d["status"], "done");
    let events = d["events"].as_array().unwrap();
    assert_eq!(events.len(), 4, "{d}");
    let want = [
        (Value::Null, "open", "duve", Value::Null),
        (
            json!("open"),
            "accepted",
            actor.as_str(),
            json!("on my way"),
        ),
        (
            json!("accepted"),
            "in_progress",
            actor.as_str(),
            Value::Null,
        ),
        (
            json!("in_progress"),
            "done",
            actor.as_str(),
            json!("two towels left"),
        ),
    ];
    for (e, (from, to, who, note)) in events.iter().zip(want) {
        assert_eq!(e["from"], from, "{e}");
        assert_eq!(e["to"], to, "{e}");
        assert_eq!(e["actor"], who, "{e}");
        assert_eq!(e["note"], note, "{e}");
        let at = e["at"].as_str().expect("at");
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");
    }
    let ats: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{ats:?}");
    assert_eq!(d["updatedAt"], *ats.last().unwrap());

    // Skipping steps.
    for path in [vec!["done"], vec!["in_progress"], vec!["accepted", "done"]] {
        let t = manual(&app, &key, json!({"room": "101", "name": "Skip"})).await;
        let id = t["id"].as_str().unwrap();
        for to in &path {
            let (status, answer) = move_to(&app, &key, id, to).await;
            assert_eq!(status, 200, "{path:?}: {answer}");
            assert_eq!(answer["status"], *to);
        }
        let d = detail(&app, &key, id).await;
        assert_eq!(d["events"].as_array().unwrap().len(), path.len() + 1);
    }

    // Cancelled from open, accepted and in_progress.
    for before in [vec![], vec!["accepted"], vec!["in_progress"]] {
        let t = manual(&app, &key, json!({"room": "102", "name": "Cancel me"})).await;
        let id = t["id"].as_str().unwrap();
        for to in &before {
            assert_eq!(move_to(&app, &key, id, to).await.0, 200);
        }
        let (status, answer) = app
            .post_api(
                &key,
                &format!("/api/v1/tasks/{id}/status"),
                &json!({"status": "cancelled", "note": "guest left"}),
            )
            .await;
        assert_eq!(status, 200, "{before:?}: {answer}");
        assert_eq!(answer["status"], "cancelled");
        let d = detail(&app, &key, id).await;
        let last = d["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["to"], "cancelled");
        assert_eq!(last["from"], before.last().copied().unwrap_or("open"));
        assert_eq!(last["note"], "guest left");
        assert_eq!(last["actor"], actor);
    }
}

#[tokio::test]
async fn backward_same_and_final_moves_are_409_and_change_nothing() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    // (path to reach the state, refused targets)
    let cases: [(&[&str], &[&str]); 5] = [
        (&[], &["open"]),
        (&["accepted"], &["open", "accepted"]),
        (&["in_progress"], &["open", "accepted", "in_progress"]),
        (
            &["done"],
            &["open", "accepted", "in_progress", "done", "cancelled"],
        ),
        (
            &["cancelled"],
            &["open", "accepted", "in_progress", "done", "cancelled"],
        ),
    ];
    for (path, refused) in cases {
        let t = manual(&app, &key, json!({"room": "101", "externalId": "3"})).await;
        let id = t["id"].as_str().unwrap();
        for to in path {
            assert_eq!(move_to(&app, &key, id, to).await.0, 200, "{path:?}");
        }
        let before = detail(&app, &key, id).await;
        for to in refused {
            let (status, body) = move_to(&app, &key, id, to).await;
            assert_error(status, &body, 409, "INVALID_TRANSITION");
        }
        let after = detail(&app, &key, id).await;
        assert_eq!(before, after, "a refused move changed the task");
    }

    // An unknown status word is a bad request, not a conflict.
    let t = manual(&app, &key, json!({"room": "101", "name": "Words"})).await;
    let id = t["id"].as_str().unwrap();
    for word in ["closed", "DONE", "in progress", ""] {
        let (status, body) = move_to(&app, &key, id, word).await;
        assert_error(status, &body, 400, "INVALID_REQUEST");
    }
    for body in [json!({}), json!({"status": 3}), json!({"note": "x"})] {
        let (status, answer) = app
            .post_api(&key, &format!("/api/v1/tasks/{id}/status"), &body)
            .await;
        assert_error(status, &answer, 400, "INVALID_REQUEST");
    }
    let res = app
        .client
        .post(app.url(&format!("/api/v1/tasks/{id}/status")))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"status\":")
        .send()
        .await
        .expect("request");
    let (status, body) = json_of(res).await;
    assert_error(status, &body, 400, "INVALID_REQUEST");
    let d = detail(&app, &key, id).await;
    assert_eq!(d["status"], "open");
    assert_eq!(d["events"].as_array().unwrap().len(), 1);
}
