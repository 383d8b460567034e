//! Listing tasks: newest first, filters by status, room and time, bad query parameters, the limit's
//! default and bound, cursor pagination.

use hubhook::domain::Role;
use serde_json::{Value, json};

use super::{assert_error, ids, list, manual, move_to, webhook_task};
use crate::helpers::{order, spawn_app};

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
