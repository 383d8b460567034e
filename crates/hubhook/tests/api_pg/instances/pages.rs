//! The web pages across instances: a change made through one reaches the live board of another; a
//! room added through one instance's pages counts on the other.

use std::time::Duration;

use super::{Instance, client, hotel_with_key, post, task_ids};
use crate::helpers::{database_url, expect_webhook_error, order};

/// Reads an event stream until `needle` shows up (or fails after 10 s).
async fn read_until(res: &mut reqwest::Response, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("{needle:?} not in the stream; got {seen:?}"))
            .expect("stream")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The cookies a response sets, as `name=value`.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_changed_through_one_instance_reaches_the_live_board_of_another() {
    use crate::ui_support::{PASSWORD, csrf_of, form_body};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "live");
    add_user(&db, "usr_live", "live", "ana@live.test", hubhook::domain::Role::Staff).await;
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    // Signed in on B.
    let browser = hubhook::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let form = browser.get(b.url("/login")).send().await.expect("login page");
    let mut cookies = set_cookies(&form);
    let csrf = csrf_of(&form.text().await.expect("login page"));
    let signed = browser
        .post(b.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookies.join("; "))
        .body(form_body(&[
            ("email", "ana@live.test"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ]))
        .send()
        .await
        .expect("login");
    assert_eq!(signed.status(), 303);
    cookies.extend(set_cookies(&signed));
    let session = cookies
        .iter()
        .rev()
        .find(|c| c.starts_with("hubhook_session="))
        .expect("a session cookie")
        .clone();
    let mut events = browser
        .get(b.url("/board/events"))
        .header("cookie", &session)
        .send()
        .await
        .expect("event stream");
    assert_eq!(events.status(), 200);
    read_until(&mut events, "event: ready").await;

    // A Duve order and a staff move, both through A.
    let (status, answer, _) = post(&client, a.url("/webhooks/duve"), &hotel, &order("live-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{answer}");
    let id = task_ids(&answer).remove(0);
    let seen = read_until(&mut events, &id).await;
    assert!(seen.contains(r#""kind":"created""#), "{seen}");
    let moved = client
        .post(a.url(&format!("/api/v1/tasks/{id}/status")))
        .bearer_auth(&key)
        .json(&serde_json::json!({"status": "accepted"}))
        .send()
        .await
        .expect("move");
    assert_eq!(moved.status(), 200);
    read_until(&mut events, r#""status":"accepted""#).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_added_through_one_instances_pages_counts_on_the_other_at_once() {
    use crate::ui_support::{PASSWORD, UiClient};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "paged");
    let (other, _) = hotel_with_key(&db, "other");
    add_user(&db, "usr_paged", "paged", "boss@paged.test", hubhook::domain::Role::Manager).await;
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;
    let hook = |i: &Instance| i.url("/webhooks/duve");

    // B has the hotel cached, without room 404.
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("warm", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("early", "404", &["4"])).await;
    expect_webhook_error(&(s, body), 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");

    // The manager adds the room through A's pages.
    let mut ui = UiClient::at(&a.base);
    let res = ui.login("boss@paged.test", PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let csrf = ui.csrf().await;
    let res = ui
        .post("/manage/rooms", &[("csrf", &csrf), ("rooms", "404"), ("floor", "4")])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);

    // B takes it from its next webhook on; the other hotel's webhooks on B never noticed.
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("late", "404", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "404");
    let (s, body, _) = post(&client, hook(&b), &other, &order("other-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
}

/// An account of `hotel` with the UI tests' password, written straight into the store.
async fn add_user(db: &str, id: &str, hotel: &str, email: &str, role: hubhook::domain::Role) {
    let store = hubhook::store::open(db).await.expect("open the store");
    store
        .create_user(hubhook::store::NewUser {
            id: id.into(),
            hotel: hubhook::domain::HotelId::parse(hotel).expect("hotel id"),
            email: email.into(),
            role,
            department: None,
            password_hash: hubhook::domain::password::hash(crate::ui_support::PASSWORD)
                .expect("hash"),
        })
        .await
        .expect("create user");
}
