//! Accounts (docs/security.md, "Accounts and sessions"): `hubhook user list|set|remove` (the real
//! binary on the server's database) and the manager's `/manage/users` and everyone's `/account`
//! pages (HTTP). Disabling, removing or resetting an account's password ends its sessions at once:
//! its open session is sent to `/login` on its very next request; a role change takes effect on
//! the next request of the same session.

use std::{io::Write, process::Stdio};

use hubhook::domain::Role;
use serde_json::Value;

use crate::{
    helpers::{TestApp, spawn_app},
    ui_support::{PASSWORD, UiClient, add_user},
};

const NEW_PASSWORD: &str = "a brand new password";

/// `hubhook <args>` on the app's database, `stdin` written first; (success, stdout, stderr).
fn cli(app: &TestApp, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = app
        .cli()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hubhook");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        pipe.write_all(format!("{input}\n").as_bytes())
            .expect("stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cli` that must succeed, its `--json` output parsed.
fn cli_json(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, out, err) = cli(app, &all, stdin);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// The answer to a fresh login (a new client, so no session is reused).
async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    UiClient::new(app)
        .login(email, password)
        .await
        .status
        .as_u16()
}

/// Asserts that the client's session is over: its next page is a redirect to `/login`.
async fn signed_out(c: &mut UiClient) {
    let res = c.get("/board").await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/login"));
}

#[tokio::test]
async fn user_commands_list_change_disable_and_remove_accounts() {
    let app = spawn_app().await;
    app.create_hotel("h1").await;
    app.create_hotel("h2").await;
    let ana = cli_json(
        &app,
        &[
            "user",
            "add",
            "h1",
            "--email",
            "Ana@H1.test",
            "--role",
            "staff",
            "--department",
            "Housekeeping",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert_eq!(ana["email"], "ana@h1.test");
    assert_eq!(ana["department"], "Housekeeping");
    cli_json(
        &app,
        &[
            "user",
            "add",
            "h1",
            "--email",
            "bo@h1.test",
            "--role",
            "manager",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    let list = cli_json(&app, &["user", "list", "h1"], None);
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["email"], "ana@h1.test");
    assert_eq!(list[0]["role"], "staff");
    assert_eq!(list[0]["department"], "Housekeeping");
    assert_eq!(list[0]["disabled"], false);
    assert_eq!(list[1]["email"], "bo@h1.test");
    assert_eq!(list[1]["department"], Value::Null);
    assert!(!list[0].to_string().contains("argon2"), "no password hash");
    let (ok, text, _) = cli(&app, &["user", "list", "h1"], None);
    assert!(ok && text.contains("ana@h1.test") && text.contains("Housekeeping"));
    assert!(cli_json(&app, &["user", "list", "h2"], None) == serde_json::json!([]));
    let (ok, _, err) = cli(&app, &["user", "list", "nope"], None);
    assert!(!ok && err.contains("no hotel nope"), "{err}");

    // A role change takes effect on the next request of the same session.
    let mut session = UiClient::signed_in(&app, "ana@h1.test").await;
    assert_eq!(session.get("/manage/rooms").await.status, 403);
    let changed = cli_json(
        &app,
        &["user", "set", "h1", "ANA@h1.test", "--role", "manager"],
        None,
    );
    assert_eq!(changed["role"], "manager");
    assert_eq!(changed["department"], "Housekeeping");
    assert_eq!(session.get("/manage/rooms").await.status, 200);
    let cleared = cli_json(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--department", ""],
        None,
    );
    assert_eq!(cleared["department"], Value::Null);

    // Disabled: the open session is over at once, and the right password opens nothing.
    let disabled = cli_json(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--disabled", "true"],
        None,
    );
    assert_eq!(disabled["disabled"], true);
    signed_out(&mut session).await;
    assert_eq!(login_status(&app, "ana@h1.test", PASSWORD).await, 401);
    cli_json(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--disabled", "false"],
        None,
    );
    let mut session = UiClient::signed_in(&app, "ana@h1.test").await;

    // A new password ends the sessions; only the new one opens.
    cli_json(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--password-stdin"],
        Some(NEW_PASSWORD),
    );
    signed_out(&mut session).await;
    assert_eq!(login_status(&app, "ana@h1.test", PASSWORD).await, 401);
    let mut session = UiClient::new(&app);
    assert_eq!(session.login("ana@h1.test", NEW_PASSWORD).await.status, 303);

    // Refusals: nothing to change, another hotel's account, a bad value.
    let (ok, _, err) = cli(&app, &["user", "set", "h1", "ana@h1.test"], None);
    assert!(!ok && err.contains("nothing to change"), "{err}");
    let (ok, _, err) = cli(
        &app,
        &["user", "set", "h2", "ana@h1.test", "--disabled", "true"],
        None,
    );
    assert!(
        !ok && err.contains("no account ana@h1.test in hotel h2"),
        "{err}"
    );
    let (ok, _, _) = cli(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--disabled", "maybe"],
        None,
    );
    assert!(!ok);
    assert_eq!(
        session.get("/board").await.status,
        200,
        "refusals changed nothing"
    );

    // Removed: the session ends, the account cannot sign in, the email is free again.
    let removed = cli_json(&app, &["user", "remove", "h1", "Ana@h1.test"], None);
    assert_eq!(removed["removed"], true);
    signed_out(&mut session).await;
    assert_eq!(login_status(&app, "ana@h1.test", NEW_PASSWORD).await, 401);
    let list = cli_json(&app, &["user", "list", "h1"], None);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (ok, _, err) = cli(&app, &["user", "remove", "h1", "ana@h1.test"], None);
    assert!(!ok && err.contains("no account"), "{err}");
    cli_json(
        &app,
        &[
            "user",
            "add",
            "h1",
            "--email",
            "ana@h1.test",
            "--role",
            "staff",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert_eq!(login_status(&app, "ana@h1.test", PASSWORD).await, 303);
    app.stop().await;
}

#[tokio::test]
async fn a_manager_manages_the_hotels_accounts_on_the_users_page() {
    let app = spawn_app().await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    add_user(&app, &h1, "mia@h1.test", Role::Manager).await;
    add_user(&app, &h1, "sam@h1.test", Role::Staff).await;
    add_user(&app, &h2, "zed@h2.test", Role::Manager).await;
    let mut mia = UiClient::signed_in(&app, "mia@h1.test").await;
    let csrf = mia.csrf().await;
    let page = mia.get("/manage/users").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"data-user-email="sam@h1.test""#));
    assert!(page.body.contains(r#"data-user-email="mia@h1.test""#));
    assert!(
        !page.body.contains("zed@h2.test"),
        "another hotel's account"
    );
    assert!(!page.body.contains("argon2"));

    // Staff get 403 on the page and on every crafted POST; a form without the CSRF token is 403.
    let mut sam = UiClient::signed_in(&app, "sam@h1.test").await;
    let sams_csrf = sam.csrf().await;
    assert_eq!(sam.get("/manage/users").await.status, 403);
    for path in [
        "/manage/users",
        "/manage/users/update",
        "/manage/users/disable",
        "/manage/users/password",
        "/manage/users/remove",
    ] {
        let res = sam
            .post(
                path,
                &[
                    ("email", "mia@h1.test"),
                    ("role", "staff"),
                    ("disabled", "true"),
                    ("password", NEW_PASSWORD),
                    ("csrf", &sams_csrf),
                ],
            )
            .await;
        assert_eq!(res.status, 403, "{path}");
    }
    let forged = mia
        .post(
            "/manage/users/disable",
            &[("email", "sam@h1.test"), ("disabled", "true")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(login_status(&app, "mia@h1.test", PASSWORD).await, 303);

    // Add: the new account signs in; a short password or a taken email is refused.
    let add = |email: &'static str, password: &'static str| {
        vec![
            ("email", email),
            ("role", "staff"),
            ("department", "Front Office"),
            ("password", password),
            ("csrf", csrf.as_str()),
        ]
    };
    let res = mia
        .post("/manage/users", &add("New@H1.test", NEW_PASSWORD))
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(login_status(&app, "new@h1.test", NEW_PASSWORD).await, 303);
    let short = mia
        .post("/manage/users", &add("short@h1.test", "short"))
        .await;
    assert_eq!(short.status, 400);
    let taken = mia
        .post("/manage/users", &add("sam@h1.test", NEW_PASSWORD))
        .await;
    assert_eq!(taken.status, 409);

    // A role change reaches sam's open session on its next request.
    let res = mia
        .post(
            "/manage/users/update",
            &[
                ("email", "sam@h1.test"),
                ("role", "manager"),
                ("department", "Housekeeping"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(sam.get("/manage/rooms").await.status, 200);
    let page = mia.get("/manage/users").await;
    assert!(page.body.contains("Housekeeping"));

    // Disable: sam's session goes to /login at once; the right password opens nothing.
    let disable = |email: &'static str, on: &'static str| {
        vec![("email", email), ("disabled", on), ("csrf", csrf.as_str())]
    };
    let res = mia
        .post("/manage/users/disable", &disable("sam@h1.test", "true"))
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    signed_out(&mut sam).await;
    assert_eq!(login_status(&app, "sam@h1.test", PASSWORD).await, 401);
    let page = mia.get("/manage/users").await;
    assert!(
        page.body.contains(r#"data-disabled="true""#),
        "{}",
        page.body
    );
    mia.post("/manage/users/disable", &disable("sam@h1.test", "false"))
        .await;
    let mut sam = UiClient::signed_in(&app, "sam@h1.test").await;

    // Reset password: sam's sessions end, only the new password opens.
    let res = mia
        .post(
            "/manage/users/password",
            &[
                ("email", "sam@h1.test"),
                ("password", NEW_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    signed_out(&mut sam).await;
    assert_eq!(login_status(&app, "sam@h1.test", PASSWORD).await, 401);
    assert_eq!(login_status(&app, "sam@h1.test", NEW_PASSWORD).await, 303);

    // Another hotel's account is not found; the manager cannot lock themselves out.
    let other = mia
        .post("/manage/users/disable", &disable("zed@h2.test", "true"))
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(login_status(&app, "zed@h2.test", PASSWORD).await, 303);
    let me = mia
        .post("/manage/users/disable", &disable("mia@h1.test", "true"))
        .await;
    assert_eq!(me.status, 400);
    let me = mia
        .post(
            "/manage/users/update",
            &[("email", "mia@h1.test"), ("role", "staff"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(me.status, 400);
    let me = mia
        .post(
            "/manage/users/remove",
            &[("email", "mia@h1.test"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(me.status, 400);
    assert_eq!(mia.get("/manage/users").await.status, 200);

    // Remove: the account's session ends and it cannot sign in any more.
    let mut new = UiClient::signed_in_with(&app, "new@h1.test", NEW_PASSWORD).await;
    let res = mia
        .post(
            "/manage/users/remove",
            &[("email", "new@h1.test"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    signed_out(&mut new).await;
    assert_eq!(login_status(&app, "new@h1.test", NEW_PASSWORD).await, 401);
    let page = mia.get("/manage/users").await;
    assert!(!page.body.contains("new@h1.test"));
    app.stop().await;
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_their_other_sessions_end() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut here = UiClient::signed_in(&app, "ana@h1.test").await;
    let mut elsewhere = UiClient::signed_in(&app, "ana@h1.test").await;
    let page = here.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"name="current""#), "{}", page.body);
    let csrf = here.csrf().await;
    let change = |current: &'static str, new: &'static str| {
        vec![
            ("current", current),
            ("password", new),
            ("csrf", csrf.as_str()),
        ]
    };

    let wrong = here
        .post(
            "/account/password",
            &change("not my password", NEW_PASSWORD),
        )
        .await;
    assert_eq!(wrong.status, 400);
    let short = here
        .post("/account/password", &change(PASSWORD, "short"))
        .await;
    assert_eq!(short.status, 400);
    let forged = here
        .post(
            "/account/password",
            &[("current", PASSWORD), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        elsewhere.get("/board").await.status,
        200,
        "nothing changed yet"
    );

    let res = here
        .post("/account/password", &change(PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(here.get("/board").await.status, 200, "this session stays");
    signed_out(&mut elsewhere).await;
    assert_eq!(login_status(&app, "ana@h1.test", PASSWORD).await, 401);
    assert_eq!(login_status(&app, "ana@h1.test", NEW_PASSWORD).await, 303);
    app.stop().await;
}

/// The key a manager makes on the API keys page, read from the page that shows it once.
async fn page_key(c: &mut UiClient) -> String {
    let csrf = c.csrf().await;
    let page = c
        .post("/manage/api-keys", &[("role", "manager"), ("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let marker = r#"id="new-api-key">"#;
    let start = page.body.find(marker).expect("the new key") + marker.len();
    let len = page.body[start..].find('<').expect("its end");
    page.body[start..start + len].to_owned()
}

#[tokio::test]
async fn a_users_api_keys_stop_while_it_is_disabled_and_go_when_it_is_removed() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "max@h1.test", Role::Manager).await;
    let operator_key = app.api_key(&hotel, Role::Manager).await;
    let mut max = UiClient::signed_in(&app, "max@h1.test").await;
    let key = page_key(&mut max).await;
    assert_eq!(app.get_api(&key, "/api/v1/tasks").await.0, 200);
    let page = max.get("/manage/api-keys").await.body;
    assert!(page.contains("max@h1.test"), "who made it: {page}");
    assert!(page.contains("operator (command line)"), "{page}");

    // Disabled: the account's keys stop with its sessions; the operator's key is the hotel's.
    cli_json(
        &app,
        &["user", "set", "h1", "max@h1.test", "--disabled", "true"],
        None,
    );
    assert_eq!(app.get_api(&key, "/api/v1/tasks").await.0, 401);
    assert_eq!(app.get_api(&operator_key, "/api/v1/tasks").await.0, 200);
    cli_json(
        &app,
        &["user", "set", "h1", "max@h1.test", "--disabled", "false"],
        None,
    );
    assert_eq!(
        app.get_api(&key, "/api/v1/tasks").await.0,
        200,
        "enabled again"
    );

    // Removed: its keys are revoked, and a new account of the same email does not revive them.
    let (ok, _, err) = cli(&app, &["user", "remove", "h1", "max@h1.test"], None);
    assert!(ok, "{err}");
    assert_eq!(app.get_api(&key, "/api/v1/tasks").await.0, 401);
    add_user(&app, &hotel, "max@h1.test", Role::Manager).await;
    assert_eq!(app.get_api(&key, "/api/v1/tasks").await.0, 401);
    let keys = app
        .store
        .list_api_keys(&hubhook::domain::HotelId::parse("h1").unwrap())
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "only the operator's key is left: {keys:?}");
    assert_eq!(app.get_api(&operator_key, "/api/v1/tasks").await.0, 200);
    app.stop().await;
}
