//! Signing in and out: the hardened session cookie, one refusal for wrong passwords and unknown
//! emails, CSRF tokens, the login rate limit, logout on the server, sessions across a restart.

use hubhook::domain::Role;

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
