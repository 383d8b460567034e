//! Pages that show a stored body stay small: a 1 MiB webhook nested a hundred levels deep (which
//! re-indented is about a hundred times its size) makes an inbound log page and a task page of a
//! few KiB, its bytes come back exactly through the manager's download, the API's inbound list
//! stops at its byte budget, and the real server's memory stays flat after serving the pages of
//! four such bodies.

use std::{
    io::Write,
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use hubhook::domain::Role;
use serde_json::Value;

use crate::{
    helpers::{Hotel, TestApp, database_url, order, spawn_app},
    http_edge::{Served, cli_hotel},
    ui_support::{PASSWORD, UiClient, add_user},
};

/// Nesting of the test bodies: deep, but within what JSON parsers accept (128).
const DEPTH: usize = 100;

/// An `orderCreated` for `room` and service 4, about `size` bytes, most of them a list of numbers
/// nested [`DEPTH`] levels deep under a top-level key Duve does not define.
fn deep_order(order_id: &str, room: &str, size: usize) -> Vec<u8> {
    let mut head = order(order_id, room, &["4"]).to_string();
    head.pop(); // the closing brace
    let open = "[".repeat(DEPTH);
    let close = "]".repeat(DEPTH);
    let room_for_leaves = size.saturating_sub(head.len() + open.len() + close.len() + 16);
    let leaves = vec!["1"; room_for_leaves / 2].join(",");
    format!("{head},\"extra\":{open}{leaves}{close}}}").into_bytes()
}

/// A page's size must stay under both bounds: a small multiple of the body, and what the capped
/// display allows (64 KiB shown, each byte at most six once escaped, plus the page around it).
fn assert_bounded(what: &str, page: &str, body: &[u8]) {
    eprintln!(
        "page sizes: {what}: {} bytes for a {}-byte body",
        page.len(),
        body.len()
    );
    assert!(
        page.len() < 3 * body.len(),
        "{what}: {} bytes for a {}-byte body",
        page.len(),
        body.len()
    );
    assert!(
        page.len() < 512 * 1024,
        "{what}: {} bytes: the shown part is not capped",
        page.len()
    );
}

/// The inbound log's ids, newest first (`GET /api/v1/inbound` with a manager key).
async fn inbound_ids(app: &TestApp, key: &str) -> Vec<i64> {
    let (s, log) = app.get_api(key, "/api/v1/inbound?limit=500").await;
    assert_eq!(s, 200, "{log}");
    log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

async fn download(c: &UiClient, id: i64) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/manage/inbound/{id}/body", c.base))
        .header(
            "cookie",
            format!("hubhook_session={}", c.cookies["hubhook_session"]),
        )
        .send()
        .await
        .expect("download")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_megabyte_body_makes_small_pages_and_downloads_exactly() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &other, "eve@h2.test", Role::Manager).await;

    let body = deep_order("o-1", "101", 1_000_000);
    let (s, created) = crate::helpers::json_of(app.post_webhook(&hotel, body.clone()).await).await;
    assert_eq!(s, 201, "{created}");
    let task = created["tasks"][0]["id"].as_str().expect("task").to_owned();
    // The same, refused (an unknown room): stored in the log too.
    let refused = deep_order("o-2", "999", 1_000_000);
    let (s, answer) =
        crate::helpers::json_of(app.post_webhook(&hotel, refused.clone()).await).await;
    assert_eq!(s, 400, "{answer}");
    let ids = inbound_ids(&app, &key).await;
    let (refused_id, created_id) = (ids[0], ids[1]);

    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let log = boss.get("/manage/inbound").await;
    assert_eq!(log.status, 200);
    assert_bounded("inbound log page", &log.body, &body);
    assert!(log.body.contains("data-body-cut"), "the body is shown cut");
    assert!(
        log.body
            .contains(&format!("/manage/inbound/{created_id}/body")),
        "a link to the whole body"
    );
    let page = boss.get(&format!("/tasks/{task}")).await;
    assert_eq!(page.status, 200);
    assert_bounded("task page (manager)", &page.body, &body);
    assert!(page.body.contains("data-body-cut"));
    assert!(
        page.body
            .contains(&format!("/manage/inbound/{created_id}/body"))
    );
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let staff_page = ana.get(&format!("/tasks/{task}")).await;
    assert_eq!(staff_page.status, 200);
    assert_bounded("task page (staff)", &staff_page.body, &body);
    assert!(
        !staff_page.body.contains("/manage/inbound/"),
        "no download link for staff"
    );

    // The manager downloads exactly the stored bytes; staff and another hotel do not.
    for (id, sent) in [(created_id, &body), (refused_id, &refused)] {
        let res = download(&boss, id).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let disposition = res.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment;")
                && disposition.contains(&format!("inbound-{id}")),
            "{disposition}"
        );
        let got = res.bytes().await.expect("body");
        assert!(got[..] == sent[..], "the download is the body as stored");
    }
    assert_eq!(download(&ana, created_id).await.status(), 403);
    let mut eve = UiClient::signed_in(&app, "eve@h2.test").await;
    assert_eq!(download(&eve, created_id).await.status(), 404);
    assert_eq!(
        eve.get("/manage/inbound/not-a-number/body").await.status,
        404
    );

    // A small body is still shown whole and indented.
    let (s, small) = app.webhook(&hotel, &order("o-3", "102", &["4"])).await;
    assert_eq!(s, 201, "{small}");
    let small_task = small["tasks"][0]["id"].as_str().unwrap().to_owned();
    let page = boss.get(&format!("/tasks/{small_task}")).await;
    assert!(
        page.body
            .contains("\n  &quot;accountId&quot;: &quot;acc&quot;,"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-body-cut"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apis_inbound_list_stops_at_its_byte_budget() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    // Ten bodies of a million bytes each: the 8 MiB budget holds the newest nine (the ninth is
    // the one that reaches it).
    let mut sent = Vec::new();
    for i in 0..10 {
        let body = deep_order(&format!("o-{i}"), "101", 1_000_000);
        let res = app.post_webhook(&hotel, body.clone()).await;
        assert_eq!(res.status(), 201);
        sent.push(body);
    }
    let (s, log) = app.get_api(&key, "/api/v1/inbound?limit=500").await;
    assert_eq!(s, 200);
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 9, "the list stops at the budget");
    for (entry, body) in entries.iter().zip(sent.iter().rev()) {
        assert_eq!(entry["body"].as_str().unwrap().as_bytes(), &body[..]);
    }
    // Small bodies: the limit decides, as before.
    let (_, log) = app.get_api(&key, "/api/v1/inbound?limit=3").await;
    assert_eq!(log["entries"].as_array().unwrap().len(), 3);
    app.stop().await;
}

/// VmHWM (the peak resident size) of a process, in KiB.
fn peak_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn add_manager(db: &std::path::Path, dir: &std::path::Path, email: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args([
            "user",
            "add",
            "edge",
            "--email",
            email,
            "--role",
            "manager",
            "--password-stdin",
        ])
        .env("HUBHOOK_DATABASE_URL", database_url(db))
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("hubhook user add");
    writeln!(child.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    assert!(child.wait().expect("user add").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_servers_memory_stays_flat_serving_the_pages_of_four_nested_bodies() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = dir.path().join("pages.db");
    let (hotel, key): (Hotel, String) = cli_hotel(&db, dir.path());
    add_manager(&db, dir.path(), "boss@edge.test");
    let client = hubhook::http_client()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut server = Served::start(&db, dir.path(), &[]);
    server.wait_healthy(&client).await;
    let base = server.base();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let res = client
            .post(format!("{base}/webhooks/duve"))
            .header("content-type", "application/json")
            .header("custom_hotel_id", &hotel.id)
            .header("custom_access_token", &hotel.access)
            .header("custom_password_token", &hotel.password)
            .body(deep_order(&format!("o-{i}"), "101", 1_000_000))
            .send()
            .await
            .expect("webhook");
        let (s, answer): (u16, Value) = crate::helpers::json_of(res).await;
        assert_eq!(s, 201, "{answer}");
        tasks.push(answer["tasks"][0]["id"].as_str().unwrap().to_owned());
    }
    let before = peak_of(server.pid());

    let mut boss = UiClient::at(&base);
    assert_eq!(boss.login("boss@edge.test", PASSWORD).await.status, 303);
    for _ in 0..2 {
        let log = boss.get("/manage/inbound").await;
        assert_eq!(log.status, 200);
        for task in &tasks {
            assert_eq!(boss.get(&format!("/tasks/{task}")).await.status, 200);
        }
        let res = client
            .get(format!("{base}/api/v1/inbound?limit=500"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("api");
        assert_eq!(res.status(), 200);
        res.bytes().await.expect("api body");
    }
    let after = peak_of(server.pid());
    eprintln!(
        "page sizes: peak resident size (VmHWM) {before} KiB after four 1 MB nested webhooks, \
         {after} KiB after their pages"
    );
    assert!(
        after < 200 * 1024,
        "the server peaked at {after} KiB serving the pages (from {before} KiB)"
    );
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}
