//! Status moves: forward moves, skips and cancellations allowed and kept in history; backward, same
//! and final moves refused with 409.

use hubhook::domain::Role;
use serde_json::{Value, json};

use super::{actor_of, assert_error, detail, manual, move_to, webhook_task};
use crate::helpers::{json_of, spawn_app};

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
