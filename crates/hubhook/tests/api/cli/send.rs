//! `hubhook send`: an order delivered to a server and the answer reported, a wrong token, a closed
//! port, a body file sent as is.

use serde_json::{Value, json};

use super::{cli_in, run, temp};
use crate::helpers::{Hotel, spawn_app};

fn send_args<'a>(url: &'a str, hotel: &'a Hotel) -> Vec<&'a str> {
    vec![
        "send",
        "orderCreated",
        "--url",
        url,
        "--hotel-id",
        &hotel.id,
        "--access-token",
        &hotel.access,
        "--password-token",
        &hotel.password,
        "--json",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_an_order_and_reports_the_answer() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, hubhook::domain::Role::Staff).await;
    let url = app.url("/webhooks/duve");
    let mut args = send_args(&url, &hotel);
    args.extend(["--room", "101", "--external-id", "4", "--first-name", "Ana"]);
    let report = run(app.cli(), &args).await.success().json();
    assert_eq!(report["status"], 201, "{report}");
    assert_eq!(report["code"], "created", "{report}");
    let task = &report["response"]["tasks"][0];
    assert_eq!(task["taskName"], "Serve towels");
    assert_eq!(
        task["guestName"].as_str().map(|g| g.contains("Ana")),
        Some(true)
    );
    let id = task["id"].as_str().expect("task id");
    let (s, detail) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(s, 200, "{detail}");
    assert_eq!(detail["room"], "101");
    assert_eq!(detail["externalId"], "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_a_wrong_token_fails_with_the_attempt_failed_report() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, hubhook::domain::Role::Staff).await;
    let url = app.url("/webhooks/duve");
    let wrong = Hotel {
        access: "hhat_wrong".into(),
        ..hotel.clone()
    };
    let mut args = send_args(&url, &wrong);
    args.extend(["--room", "101", "--external-id", "4", "--first-name", "Ana"]);
    let out = run(app.cli(), &args).await.failure();
    let report = out.json();
    assert_eq!(report["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED", "{report}");
    assert_eq!(
        report["message"],
        "Operation failed after 1 attempt, Please check credentials and request body."
    );
    assert_eq!(report["status"], 403);
    assert_eq!(report["lastStatus"], 400);
    assert_eq!(report["response"]["code"], "WEB_HUK_INVALID_CREDS");
    // Nothing was created.
    let (_, page) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(page["tasks"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_closed_port_gives_up_after_the_attempts() {
    // A port that was free a moment ago and on which nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhooks/duve");
    let hotel = Hotel {
        id: "h1".into(),
        access: "a".into(),
        password: "p".into(),
    };
    let dir = temp();
    let mut args = send_args(&url, &hotel);
    args.extend(["--room", "101", "--attempts", "2"]);
    let out = run(cli_in(dir.path()), &args).await.failure();
    let report = out.json();
    assert_eq!(report["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED", "{report}");
    assert_eq!(
        report["message"],
        "Operation failed after 2 attempt, Please check credentials and request body."
    );
    assert_eq!(report["status"], 403);
    assert_eq!(report["attempts"], 2);
    assert!(
        report.get("lastStatus").is_none_or(Value::is_null),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_body_sends_the_file_as_is() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, hubhook::domain::Role::Manager).await;
    let url = app.url("/webhooks/duve");
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../duve/tests/fixtures/orderCreated.hubos.json");
    let file_bytes = std::fs::read(&fixture).expect("fixture");
    let mut args = send_args(&url, &hotel);
    args.extend(["--body", fixture.to_str().unwrap()]);
    let report = run(app.cli(), &args).await.success().json();
    assert_eq!(report["status"], 201, "{report}");
    assert_eq!(report["code"], "created");
    assert_eq!(report["response"]["orderId"], "63be7b757c2370fadee27bd2");
    assert_eq!(report["response"]["tasks"][0]["quantity"], 2);
    // The server received exactly the file's bytes.
    let (_, inbound) = app.get_api(&key, "/api/v1/inbound").await;
    assert_eq!(
        inbound["entries"][0]["body"].as_str().unwrap().as_bytes(),
        &file_bytes[..]
    );
    // Sent again: Duve's retry, a duplicate, still a success.
    let report = run(app.cli(), &args).await.success().json();
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["code"], "duplicate");
    let (_, page) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
}
