//! The manager pages: staff can neither reach nor post to them; `hubhook user add`; the pages
//! change the hotel and explain refusals.

use std::{io::Write, process::Stdio};

use hubhook::domain::{HotelId, Role};

use crate::{
    helpers::{order, spawn_app},
    ui_support::{PASSWORD, UiClient, add_user},
};

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
