//! The web pages over plain HTTP (no browser): login, sessions, CSRF, the rate limit, roles, hotel
//! scoping, the live feed, the manager pages and `hubhook user add`.

use std::{io::Write, process::Stdio, time::Duration};

use hubhook::domain::{HotelId, Role};
use serde_json::json;

use crate::{
    helpers::{order, spawn_app, spawn_app_in},
    ui_support::{PASSWORD, UiClient, add_user, csrf_of},
};

#[tokio::test]
async fn login_opens_the_board_with_a_hardened_session_cookie() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let (s, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{created}");
    let task_id = created["tasks"][0]["id"].as_str().unwrap().to_owned();

    let mut c = UiClient::new(&app);
    let anonymous = c.get("/board").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location(), Some("/login"));

    let form = c.get("/login").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"name="email""#), "{}", form.body);
    assert!(form.body.contains(r#"name="password""#), "{}", form.body);

    let res = c.login("Ana@H1.test", PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/board"));
    let cookie = res.set_cookie("hubhook_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let board = c.get("/board").await;
    assert_eq!(board.status, 200);
    assert!(
        board.body.contains(&format!(r#"data-task-id="{task_id}""#)),
        "{}",
        board.body
    );
    assert!(board.body.contains(r#"data-status="open""#));
    assert!(board.body.contains(r#"data-action="accept""#));
    assert!(board.body.contains("Serve towels"));
    let csp = board.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    // Behind a TLS proxy: session_cookies.rs.
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_get_the_same_refusal() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut c = UiClient::new(&app);
    let wrong = c.login("ana@h1.test", "not the password").await;
    let unknown = c.login("nobody@h1.test", PASSWORD).await;
    for res in [&wrong, &unknown] {
        assert_eq!(res.status, 401);
        assert!(
            res.body.contains("Wrong email or password."),
            "{}",
            res.body
        );
        assert!(res.set_cookie("hubhook_session").is_none());
    }
    assert_eq!(c.get("/board").await.status, 303);
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "bo@h1.test", Role::Staff).await;
    let (_, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/board/tasks/{id}/status");

    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let mut bo = UiClient::signed_in(&app, "bo@h1.test").await;
    let bos_token = bo.csrf().await;
    let anas_token = ana.csrf().await;
    assert_ne!(anas_token, bos_token, "a token belongs to one session");

    let missing = ana.post(&path, &[("status", "accepted")]).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    let foreign = ana
        .post(&path, &[("status", "accepted"), ("csrf", &bos_token)])
        .await;
    assert_eq!(foreign.status, 403);
    let (_, task) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(task["status"], "open", "a refused form changed nothing");

    let ok = ana
        .post(&path, &[("status", "accepted"), ("csrf", &anas_token)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let (_, task) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(task["status"], "accepted");
    assert_eq!(task["events"][1]["actor"], "user:ana@h1.test");

    // The login form too: without the token of its own cookie it is refused.
    let mut fresh = UiClient::new(&app);
    let res = fresh
        .post(
            "/login",
            &[
                ("email", "ana@h1.test"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(res.set_cookie("hubhook_session").is_none());
    app.stop().await;
}

#[tokio::test]
async fn cancelling_from_the_board_needs_a_reason_and_keeps_it() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let (_, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/board/tasks/{id}/status");
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = ana.csrf().await;
    let no_reason = ana
        .post(&path, &[("status", "cancelled"), ("csrf", &csrf)])
        .await;
    assert_eq!(no_reason.status, 400);
    let res = ana
        .post(
            &path,
            &[
                ("status", "cancelled"),
                ("note", "guest left"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let (_, task) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(task["status"], "cancelled");
    assert_eq!(task["events"][1]["note"], "guest left");
    let again = ana
        .post(&path, &[("status", "done"), ("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 409, "final states stay final");
    app.stop().await;
}

#[tokio::test]
async fn logins_are_rate_limited_per_account_and_per_address() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    for who in ["ana", "bo", "cy"] {
        add_user(&app, &hotel, &format!("{who}@h1.test"), Role::Staff).await;
    }
    let mut c = UiClient::new(&app);
    for _ in 0..5 {
        assert_eq!(c.login("ana@h1.test", "wrong password").await.status, 401);
    }
    let blocked = c.login("ana@h1.test", PASSWORD).await;
    assert_eq!(blocked.status, 429, "the right password is refused too");
    let wait: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 15 * 60, "{wait}");
    assert!(blocked.set_cookie("hubhook_session").is_none());
    // Another account from the same address is not locked out by ana's failures.
    assert_eq!(
        UiClient::new(&app)
            .login("bo@h1.test", PASSWORD)
            .await
            .status,
        303
    );

    // 20 failures from one address, spread over accounts, block the address.
    let mut d = UiClient::new(&app);
    for i in 0..14 {
        let res = d
            .login(&format!("guess{i}@h1.test"), "wrong password")
            .await;
        assert_eq!(res.status, 401);
    }
    let res = UiClient::new(&app).login("cy@h1.test", PASSWORD).await;
    assert_eq!(res.status, 303, "5 + 14 = 19 failures: still allowed");
    assert_eq!(d.login("cy@h1.test", "wrong").await.status, 401, "the 20th");
    assert_eq!(
        UiClient::new(&app)
            .login("cy@h1.test", PASSWORD)
            .await
            .status,
        429,
        "the address is blocked for every account"
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut c = UiClient::signed_in(&app, "ana@h1.test").await;
    let stolen = c.cookies.clone();
    let csrf = c.csrf().await;
    assert_eq!(
        c.post("/logout", &[]).await.status,
        403,
        "needs the CSRF token"
    );
    let res = c.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), Some("/login"));
    assert!(
        res.set_cookie("hubhook_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(c.get("/board").await.status, 303);
    // A copy of the old cookie opens nothing any more.
    let mut replay = UiClient::new(&app);
    replay.cookies = stolen;
    let res = replay.get("/board").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location(), Some("/login"));
    app.stop().await;
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Manager).await;
    let mut c = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = c.csrf().await;
    let dir = app.dir.clone();
    app.stop().await;

    let app = spawn_app_in(dir, |_| {}).await;
    c.base = app.address.clone();
    let board = c.get("/board").await;
    assert_eq!(board.status, 200, "{}", board.body);
    assert_eq!(csrf_of(&board.body), csrf, "same session, same token");
    assert_eq!(c.get("/manage/rooms").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn staff_cannot_reach_manager_pages_nor_post_to_them() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "staff@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let mut staff = UiClient::signed_in(&app, "staff@h1.test").await;
    let csrf = staff.csrf().await;
    let board = staff.get("/board").await;
    assert!(
        !board.body.contains("/manage/"),
        "no manager links for staff"
    );
    for page in [
        "/manage/rooms",
        "/manage/catalog",
        "/manage/settings",
        "/manage/credentials",
        "/manage/api-keys",
        "/manage/inbound",
    ] {
        let res = staff.get(page).await;
        assert_eq!(res.status, 403, "{page}");
    }
    // Crafted posts with a valid session and token are refused all the same.
    let crafted: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/manage/settings",
            vec![
                ("name", "Pwned"),
                ("timezone", "UTC"),
                ("sync_paid_orders", "on"),
            ],
        ),
        ("/manage/rooms", vec![("rooms", "999")]),
        (
            "/manage/catalog",
            vec![("external_id", "4"), ("name", "Pwned")],
        ),
        ("/manage/credentials/rotate", vec![]),
        ("/manage/api-keys", vec![("role", "manager")]),
    ];
    for (path, mut fields) in crafted {
        fields.push(("csrf", &csrf));
        let res = staff.post(path, &fields).await;
        assert_eq!(res.status, 403, "{path}");
    }
    let hotels = app.store.list_hotels().await.unwrap();
    assert_eq!(hotels[0].name, "Hotel h1");
    assert!(!hotels[0].sync_paid_orders);
    let id = HotelId::parse("h1").unwrap();
    assert_eq!(app.store.list_rooms(&id).await.unwrap().len(), 2);
    let catalog = app.store.list_catalog(&id).await.unwrap();
    assert_eq!(
        catalog.iter().find(|e| e.external_id == "4").unwrap().name,
        "Serve towels"
    );
    assert!(app.store.list_api_keys(&id).await.unwrap().is_empty());
    let (s, _) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "the Duve tokens were not rotated");

    // The same post by a manager works.
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let csrf = boss.csrf().await;
    let res = boss
        .post(
            "/manage/settings",
            &[
                ("name", "Grand"),
                ("timezone", "Europe/Lisbon"),
                ("sync_paid_orders", "on"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let hotels = app.store.list_hotels().await.unwrap();
    assert_eq!(
        (
            hotels[0].name.as_str(),
            hotels[0].timezone.as_str(),
            hotels[0].sync_paid_orders
        ),
        ("Grand", "Europe/Lisbon", true)
    );
    app.stop().await;
}

#[tokio::test]
async fn another_hotels_task_is_not_found() {
    let app = spawn_app().await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    let key1 = app.api_key(&h1, Role::Staff).await;
    add_user(&app, &h2, "eve@h2.test", Role::Manager).await;
    let (_, created) = app.webhook(&h1, &order("o-1", "101", &["4"])).await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let mut eve = UiClient::signed_in(&app, "eve@h2.test").await;
    let csrf = eve.csrf().await;
    assert_eq!(eve.get(&format!("/tasks/{id}")).await.status, 404);
    let res = eve
        .post(
            &format!("/board/tasks/{id}/status"),
            &[("status", "done"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 404);
    let board = eve.get("/board").await;
    assert!(!board.body.contains(&id));
    let (_, task) = app.get_api(&key1, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(task["status"], "open");
    assert_eq!(eve.get("/tasks/not-a-uuid").await.status, 404);
    app.stop().await;
}

/// Reads the event stream until `needle` shows up (or the time runs out); returns what was read.
pub(crate) async fn read_stream_until(res: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
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

#[tokio::test]
async fn the_live_feed_carries_the_users_hotel_changes_only() {
    let app = spawn_app().await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    let key1 = app.api_key(&h1, Role::Staff).await;
    add_user(&app, &h1, "ana@h1.test", Role::Staff).await;
    let c = UiClient::signed_in(&app, "ana@h1.test").await;
    let cookie = format!("hubhook_session={}", c.cookies["hubhook_session"]);

    let anonymous = app
        .client
        .get(app.url("/board/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.url().path(), "/login", "redirected to sign in");

    let mut res = app
        .client
        .get(app.url("/board/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    read_stream_until(&mut res, "event: ready").await;

    let (_, other) = app.webhook(&h2, &order("o-9", "101", &["4"])).await;
    let other_id = other["tasks"][0]["id"].as_str().unwrap().to_owned();
    let (_, mine) = app.webhook(&h1, &order("o-1", "101", &["4"])).await;
    let id = mine["tasks"][0]["id"].as_str().unwrap().to_owned();
    let seen = read_stream_until(&mut res, &id).await;
    assert!(seen.contains("event: task"), "{seen}");
    assert!(seen.contains(r#""kind":"created""#), "{seen}");
    assert!(
        !seen.contains(&other_id),
        "another hotel's task leaked: {seen}"
    );

    // A move through the API and a cancellation from Duve are both published.
    let (s, _) = app
        .post_api(
            &key1,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200);
    read_stream_until(&mut res, r#""status":"accepted""#).await;
    let cancel = json!({"accountId": "acc", "event": "orderCancelled",
        "resource": {"id": "res-1", "order": {"id": "o-1"}}});
    let (s, body) = app.webhook(&h1, &cancel).await;
    assert_eq!(s, 200, "{body}");
    read_stream_until(&mut res, r#""status":"cancelled""#).await;
    // An open stream does not hold up a graceful shutdown: the server ends it.
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stopped with a board still connected");
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = res.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream was closed by the server");
}

#[tokio::test]
async fn user_add_creates_an_account_that_signs_in() {
    let app = spawn_app().await;
    app.create_hotel("h1").await;
    let run = |email: &str, password: &str| {
        let mut child = app
            .cli()
            .args([
                "user",
                "add",
                "h1",
                "--email",
                email,
                "--role",
                "manager",
                "--password-stdin",
                "--json",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hubhook");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().expect("output")
    };
    let out = run("Mia@H1.test", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["email"], "mia@h1.test");
    assert_eq!(created["role"], "manager");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));

    let short = run("short@h1.test", "abc");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least"));
    let again = run("mia@h1.test", PASSWORD);
    assert!(!again.status.success(), "emails are unique");

    let mut c = UiClient::signed_in(&app, "mia@h1.test").await;
    assert_eq!(c.get("/manage/settings").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn manager_pages_change_the_hotel_and_explain_refusals() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let csrf = boss.csrf().await;
    let id = HotelId::parse("h1").unwrap();

    // Rooms: add with a floor, import a CSV; the webhook path sees them at once.
    let res = boss
        .post(
            "/manage/rooms",
            &[("rooms", "201, 202"), ("floor", "2"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = boss
        .post(
            "/manage/rooms/import",
            &[("csv", "room,floor\n301,3\n302,3\n"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let bad = boss
        .post(
            "/manage/rooms/import",
            &[("csv", "number\n1\n"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("room"), "{}", bad.body);
    let rooms = app.store.list_rooms(&id).await.unwrap();
    assert_eq!(rooms.len(), 6);
    assert!(
        rooms
            .iter()
            .any(|r| r.room == "302" && r.floor.as_deref() == Some("3"))
    );
    let page = boss.get("/manage/rooms").await;
    assert!(page.body.contains("6 rooms"), "{}", page.body);
    let (s, _) = app.webhook(&hotel, &order("o-1", "302", &["4"])).await;
    assert_eq!(s, 201);

    // Catalog: rename with department and SLA, add an external ID.
    let res = boss
        .post(
            "/manage/catalog",
            &[
                ("external_id", "4"),
                ("name", "Towels"),
                ("department", "Housekeeping"),
                ("sla_minutes", "30"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = boss
        .post(
            "/manage/catalog",
            &[("external_id", "X-9"), ("name", "Spa kit"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    let bad = boss
        .post(
            "/manage/catalog",
            &[
                ("external_id", "4"),
                ("name", "T"),
                ("sla_minutes", "-3"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    let catalog = app.store.list_catalog(&id).await.unwrap();
    let towels = catalog.iter().find(|e| e.external_id == "4").unwrap();
    assert_eq!(
        (
            towels.name.as_str(),
            towels.department.as_deref(),
            towels.sla_minutes
        ),
        ("Towels", Some("Housekeeping"), Some(30))
    );
    let (s, body) = app.webhook(&hotel, &order("o-2", "101", &["X-9"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["taskName"], "Spa kit");

    // Settings: a bad timezone is refused.
    let bad = boss
        .post(
            "/manage/settings",
            &[("name", "H"), ("timezone", "Mars/Base"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(bad.status, 400);

    // Credentials: rotation shows three values that Duve can use; the old tokens stop.
    let page = boss.get("/manage/credentials").await;
    assert!(
        page.body.contains("custom_hotel_id") && page.body.contains(">h1<"),
        "{}",
        page.body
    );
    let rotated = boss
        .post("/manage/credentials/rotate", &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, 200);
    let grab = |html: &str, id: &str| -> String {
        let start = html.find(&format!(r#"id="{id}">"#)).unwrap() + id.len() + 6;
        html[start..start + html[start..].find('<').unwrap()].to_owned()
    };
    let access = grab(&rotated.body, "cred-access");
    let password = grab(&rotated.body, "cred-password");
    assert!(
        access.starts_with("hhat_") && password.starts_with("hhpt_"),
        "{access} {password}"
    );
    let (s, _) = app.webhook(&hotel, &order("o-3", "101", &["4"])).await;
    assert_eq!(s, 400, "the old tokens no longer work");
    let new = crate::helpers::Hotel {
        id: "h1".into(),
        access,
        password,
    };
    let (s, _) = app.webhook(&new, &order("o-3", "101", &["4"])).await;
    assert_eq!(s, 201);

    // API keys: the key shown once works on the API; revoked, it does not.
    let page = boss
        .post("/manage/api-keys", &[("role", "staff"), ("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 200);
    let key = grab(&page.body, "new-api-key");
    let (s, _) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(s, 200);
    let key_id = app.store.list_api_keys(&id).await.unwrap()[0].id.clone();
    let res = boss
        .post(
            &format!("/manage/api-keys/{key_id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    let (s, _) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(s, 401);

    // The inbound log says why Duve's request was refused.
    let (s, _) = app.webhook(&new, &order("o-4", "999", &["4"])).await;
    assert_eq!(s, 400);
    let log = boss.get("/manage/inbound?refused=1").await;
    assert_eq!(log.status, 200);
    assert!(
        log.body.contains("WEB_HUK_HUBOS_REQUEST_FAIL"),
        "{}",
        log.body
    );
    assert!(
        log.body.contains("999"),
        "the refused room is named: {}",
        log.body
    );
    assert!(
        !log.body.contains(r#"data-code="created""#),
        "only refusals"
    );
    app.stop().await;
}

#[tokio::test]
async fn task_page_and_dashboard_show_history_origin_and_figures() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let (_, created) = app
        .webhook(&hotel, &order("o-77", "101", &["4", "2"]))
        .await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = ana.csrf().await;
    let res = ana
        .post(
            &format!("/board/tasks/{id}/status"),
            &[("status", "done"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    let page = ana.get(&format!("/tasks/{id}")).await;
    assert_eq!(page.status, 200);
    for needle in [
        "Serve towels",
        "o-77",
        "user:ana@h1.test",
        "open → done",
        "Bobby",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    // The webhook it came from is the inbound log's, for managers (tests/api/roles.rs).
    assert!(!page.body.contains("orderCreated"), "{}", page.body);

    // A request for a time already past is overdue: highlighted on the board, counted on the dashboard.
    let mut late = order("o-78", "102", &["6"]);
    late["resource"]["order"]["deliveryTime"] = json!("2020-01-01T10:00:00Z");
    let (s, body) = app.webhook(&hotel, &late).await;
    assert_eq!(s, 201, "{body}");
    let late_id = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let board = ana.get("/board").await;
    let card = board
        .body
        .find(&format!(r#"data-task-id="{late_id}""#))
        .expect("the late card");
    let tag_start = board.body[..card].rfind("<article").unwrap();
    assert!(
        board.body[tag_start..card].contains(r#"class="card overdue""#),
        "{}",
        board.body
    );
    assert!(
        board.body.contains("Overdue (due 1 Jan 10:00)"),
        "{}",
        board.body
    );
    assert!(board.body.contains("1 overdue"), "{}", board.body);

    let dash = ana.get("/dashboard").await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("<svg"), "{}", dash.body);
    assert!(dash.body.contains(r#"id="stat-today">3<"#), "{}", dash.body);
    assert!(dash.body.contains(r#"id="stat-open">2<"#), "{}", dash.body);
    assert!(
        dash.body.contains(r#"id="stat-overdue">1<"#),
        "{}",
        dash.body
    );
    assert!(
        dash.body.contains("Serve towels"),
        "time to done per type: {}",
        dash.body
    );
    app.stop().await;
}
