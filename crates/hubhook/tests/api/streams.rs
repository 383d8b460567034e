//! Live board streams (`/board/events`) against a small connection cap: streams beyond the caps per
//! session, per hotel and in all are refused with 429 while webhooks and health checks are still
//! answered; a closed stream gives its place back; a stream ends with its session (logout at once,
//! a session gone from the store within the session check).

use std::{sync::Arc, time::Duration};

use hubhook::{
    config::Config,
    domain::{
        HotelId, Role,
        secret::{hash_token, new_token},
    },
    store::NewUser,
};

use crate::{
    helpers::{Hotel, TestApp, order, spawn_app_in},
    ui_support::UiClient,
};

/// A deadline for answers that must come while every stream slot is held (not a speed check: a
/// server whose connections are all taken never answers).
const PROMPTLY: Duration = Duration::from_secs(10);

/// The caps these tests run with: 2 streams per session, 4 per hotel, 32 connections (so 8 streams
/// in all), sessions looked up again every `check`.
fn small_caps(c: &mut Config, check: Duration) {
    c.http.max_connections = 32;
    c.streams.per_session = 2;
    c.streams.per_hotel = 4;
    c.streams.session_check = check;
}

async fn app_with_caps(check: Duration) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_app_in(dir, |c| small_caps(c, check)).await
}

/// A signed-in session of a new user of `hotel`: its `Cookie` header and its token. Written
/// straight into the store (no password check: these tests open many sessions).
async fn session(app: &TestApp, hotel: &Hotel, user: &str) -> (String, String) {
    let id = format!("usr_{user}");
    app.store
        .create_user(NewUser {
            id: id.clone(),
            hotel: HotelId::parse(&hotel.id).expect("hotel id"),
            email: format!("{user}@{}.test", hotel.id),
            role: Role::Staff,
            password_hash: "unused".into(),
            department: None,
        })
        .await
        .expect("create user");
    let token = new_token("");
    let expires = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    app.store
        .create_session(hash_token(&token), &id, expires)
        .await
        .expect("create session");
    (format!("hubhook_session={token}"), token)
}

/// Opens a stream with `cookie`: the open stream (its `ready` event read), or the refusal's
/// status and body.
async fn open_stream(app: &TestApp, cookie: &str) -> Result<reqwest::Response, (u16, String)> {
    let send = app
        .client
        .get(app.url("/board/events"))
        .header("cookie", cookie)
        .send();
    let mut res = tokio::time::timeout(PROMPTLY, send)
        .await
        .expect("the stream request was answered")
        .expect("request");
    let status = res.status().as_u16();
    if status != 200 {
        let retry_after = res.headers().get("retry-after").cloned();
        let body = res.text().await.unwrap_or_default();
        assert!(
            retry_after.is_some(),
            "a refusal says when to retry: {body}"
        );
        return Err((status, body));
    }
    let mut seen = String::new();
    while !seen.contains("event: ready") {
        let chunk = tokio::time::timeout(PROMPTLY, res.chunk())
            .await
            .expect("the ready event came")
            .expect("stream")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(res)
}

/// Whether the server ends `res` within `within` (its body ends or the connection closes).
async fn ends_within(res: &mut reqwest::Response, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        loop {
            match res.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await
    .is_ok()
}

fn refused_for(result: Result<reqwest::Response, (u16, String)>, why: &str) {
    match result {
        Ok(_) => panic!("a stream beyond the {why} cap was opened"),
        Err((status, body)) => {
            assert_eq!(status, 429, "{body}");
            assert!(body.contains(why), "the answer names the {why} cap: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_streams_against_32_connections_leave_webhooks_and_health_checks_answered() {
    let app = app_with_caps(Duration::from_secs(60)).await;
    let hotels = [
        app.create_hotel("h1").await,
        app.create_hotel("h2").await,
        app.create_hotel("h3").await,
    ];
    let mut sessions = Vec::new();
    for i in 0..10 {
        let hotel = &hotels[i % 3];
        sessions.push((
            hotel.id.clone(),
            session(&app, hotel, &format!("u{i}")).await.0,
        ));
    }
    // Forty boards at once, each kept open (until `release`) if the server lets it.
    let (release, released) = tokio::sync::watch::channel(false);
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..40 {
        let (hotel, cookie) = sessions[i % sessions.len()].clone();
        let (client, url) = (app.client.clone(), app.url("/board/events"));
        let (answered, mut released) = (answered.clone(), released.clone());
        tokio::spawn(async move {
            let res = client.get(url).header("cookie", &cookie).send().await;
            let Ok(res) = res else { return };
            let closes = res
                .headers()
                .get("connection")
                .is_some_and(|v| v == "close");
            let _ = answered.send((hotel, cookie, res.status().as_u16(), closes));
            // An open stream stays open: its body is not read and the response is kept.
            let _ = released.wait_for(|r| *r).await;
            drop(res);
        });
    }

    // Every board gets an answer (before the caps, 32 of them got a stream and the rest waited).
    let mut got = Vec::new();
    let settle = tokio::time::Instant::now() + PROMPTLY;
    while got.len() < 40 {
        match tokio::time::timeout_at(settle, answers.recv()).await {
            Ok(Some(answer)) => got.push(answer),
            _ => break,
        }
    }

    // While the streams are held, Duve and the health check are answered.
    let webhook = tokio::time::timeout(
        PROMPTLY,
        app.webhook(&hotels[0], &order("o-1", "101", &["4"])),
    )
    .await
    .expect("the webhook was answered while the streams are held");
    assert_eq!(webhook.0, 201, "{}", webhook.1);
    let health = tokio::time::timeout(PROMPTLY, app.client.get(app.url("/healthz")).send())
        .await
        .expect("healthz was answered while the streams are held")
        .expect("healthz");
    assert_eq!(health.status(), 200);

    // At most 8 streams (2 a session, 4 a hotel), the rest refused with 429 on a connection the
    // server closes.
    assert_eq!(got.len(), 40, "every board was answered");
    let open: Vec<_> = got.iter().filter(|a| a.2 == 200).collect();
    assert!(open.len() <= 8, "{} streams open", open.len());
    for (key, cap) in [(0usize, 4usize), (1, 2)] {
        let mut counts = std::collections::HashMap::<&str, usize>::new();
        for a in &open {
            *counts
                .entry(if key == 0 { &a.0 } else { &a.1 })
                .or_default() += 1;
        }
        assert!(counts.values().all(|&n| n <= cap), "{counts:?}");
    }
    assert!(
        got.iter().all(|a| a.2 == 200 || (a.2 == 429 && a.3)),
        "{:?}",
        got.iter().map(|a| (a.2, a.3)).collect::<Vec<_>>()
    );
    release.send_replace(true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_each_cap_are_refused_and_a_closed_one_gives_its_place_back() {
    let app = app_with_caps(Duration::from_secs(60)).await;
    let (h1, h2, h3) = (
        app.create_hotel("h1").await,
        app.create_hotel("h2").await,
        app.create_hotel("h3").await,
    );
    let (a, _) = session(&app, &h1, "a").await;
    let (b, _) = session(&app, &h1, "b").await;
    let (c, _) = session(&app, &h1, "c").await;
    let (d, _) = session(&app, &h2, "d").await;
    let (e, _) = session(&app, &h2, "e").await;
    let (f, _) = session(&app, &h3, "f").await;

    let mut held = Vec::new();
    for cookie in [&a, &a] {
        held.push(open_stream(&app, cookie).await.expect("within the caps"));
    }
    refused_for(open_stream(&app, &a).await, "session");
    for cookie in [&b, &b] {
        held.push(open_stream(&app, cookie).await.expect("within the caps"));
    }
    refused_for(open_stream(&app, &c).await, "hotel");
    for cookie in [&d, &d, &e, &e] {
        held.push(open_stream(&app, cookie).await.expect("within the caps"));
    }
    refused_for(open_stream(&app, &f).await, "server");
    // What a refused board polls instead is served.
    let cards = app
        .client
        .get(app.url("/board/cards"))
        .header("cookie", &f)
        .send()
        .await
        .expect("cards");
    assert_eq!(cards.status(), 200);

    // A stream the client closes gives its place back.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        match open_stream(&app, &f).await {
            Ok(stream) => {
                held.push(stream);
                break;
            }
            Err((429, _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("the closed stream's place was not given back: {other:?}"),
        }
    }
    drop(held);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_at_once_when_its_session_signs_out() {
    // Sessions are looked up again only every minute: what ends the stream is the logout itself.
    let app = app_with_caps(Duration::from_secs(60)).await;
    let hotel = app.create_hotel("h1").await;
    let (cookie, token) = session(&app, &hotel, "ana").await;
    let (other, _) = session(&app, &hotel, "bob").await;
    let mut stream = open_stream(&app, &cookie).await.expect("a stream");
    let mut second = open_stream(&app, &cookie).await.expect("a second tab");
    let mut bobs = open_stream(&app, &other).await.expect("another session");

    let mut browser = UiClient::new(&app);
    browser.cookies.insert("hubhook_session".into(), token);
    let csrf = browser.csrf().await;
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(
        ends_within(&mut stream, Duration::from_secs(5)).await,
        "the signed-out session's stream goes on"
    );
    assert!(ends_within(&mut second, Duration::from_secs(5)).await);
    assert!(
        !ends_within(&mut bobs, Duration::from_millis(500)).await,
        "another session's stream ended"
    );
    // And the signed-out cookie opens no new one.
    let again = app
        .client
        .get(app.url("/board/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(again.url().path(), "/login");
    drop(bobs);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_within_seconds_once_its_session_is_gone_from_the_store() {
    // What expiry, a user disabled or removed, and a logout through another instance all come to:
    // the session's row is gone (or no longer valid) in the store.
    let check = Duration::from_secs(1);
    let app = app_with_caps(check).await;
    let hotel = app.create_hotel("h1").await;
    let (cookie, token) = session(&app, &hotel, "ana").await;
    let (other, _) = session(&app, &hotel, "bob").await;
    let mut stream = open_stream(&app, &cookie).await.expect("a stream");
    let mut bobs = open_stream(&app, &other).await.expect("another session");
    // Still open after a few checks while the session lives.
    assert!(!ends_within(&mut stream, 3 * check).await);

    app.store
        .delete_session(hash_token(&token))
        .await
        .expect("delete the session");
    assert!(
        ends_within(&mut stream, 5 * check).await,
        "the stream outlived its session"
    );
    assert!(!ends_within(&mut bobs, 2 * check).await);
    drop(bobs);
    app.stop().await;
}

#[tokio::test]
async fn disabling_or_removing_a_user_on_the_manager_page_ends_their_streams_at_once() {
    // The session check is a minute: only the page's own signal can end the streams in time.
    let app = app_with_caps(Duration::from_secs(60)).await;
    let hotel = app.create_hotel("h1").await;
    crate::ui_support::add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let (ana, _) = session(&app, &hotel, "ana").await;
    let (bob, _) = session(&app, &hotel, "bob").await;
    let mut anas = open_stream(&app, &ana).await.expect("ana's stream");
    let mut bobs = open_stream(&app, &bob).await.expect("bob's stream");

    let csrf = boss.csrf().await;
    let res = boss
        .post(
            "/manage/users/disable",
            &[
                ("csrf", &csrf),
                ("email", "ana@h1.test"),
                ("disabled", "true"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(
        ends_within(&mut anas, Duration::from_secs(3)).await,
        "a disabled user's stream went on"
    );
    assert!(!ends_within(&mut bobs, Duration::from_millis(500)).await);

    let res = boss
        .post(
            "/manage/users/remove",
            &[("csrf", &csrf), ("email", "bob@h1.test")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(
        ends_within(&mut bobs, Duration::from_secs(3)).await,
        "a removed user's stream went on"
    );
    app.stop().await;
}
