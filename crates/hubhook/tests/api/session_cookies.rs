//! The session cookie over HTTP (docs/security.md, "Session cookies"): `__Host-hubhook_session`
//! with `Secure` when the request came over TLS, which hubhook (plain HTTP itself) learns only from
//! a trusted proxy's `X-Forwarded-Proto: https` or from `secure_cookies`; `hubhook_session`
//! without `Secure` otherwise, whatever an untrusted client claims.

use hubhook::{config::Config, domain::Role, outbox::dispatcher::IpRange};

use crate::{
    helpers::{TestApp, spawn_app_in},
    ui_support::{PASSWORD, UiClient, add_user},
};

async fn app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_app_in(dir, tweak).await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Manager).await;
    app
}

/// A client that says it came over HTTPS.
fn over_https(app: &TestApp) -> UiClient {
    let mut c = UiClient::new(app);
    c.extra_headers
        .push(("x-forwarded-proto".into(), "https".into()));
    c
}

#[tokio::test]
async fn a_trusted_proxy_saying_https_gets_a_host_prefixed_secure_cookie() {
    let app =
        app_with(|c| c.limits.trusted_proxies = vec![IpRange::parse("127.0.0.1").unwrap()]).await;
    let mut c = over_https(&app);
    let res = c.login("ana@h1.test", PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(res.set_cookie("hubhook_session").is_none());
    let cookie = res
        .set_cookie("__Host-hubhook_session")
        .expect("__Host- session cookie");
    for attr in ["; Secure", "; Path=/;", "; HttpOnly", "; SameSite=Strict"] {
        assert!(cookie.contains(attr), "{attr}: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    // The login form's cookie is Secure too.
    let form = over_https(&app).get("/login").await;
    assert!(
        form.set_cookie("hubhook_login")
            .unwrap()
            .contains("; Secure"),
        "{:?}",
        form.headers
    );
    // The session works over HTTPS; the same token under the plain name opens nothing there.
    assert_eq!(c.get("/manage/users").await.status, 200);
    let token = c.cookies["__Host-hubhook_session"].clone();
    let mut plain_name = over_https(&app);
    plain_name
        .cookies
        .insert("hubhook_session".into(), token.clone());
    assert_eq!(plain_name.get("/board").await.status, 303);
    // A request that did not come through TLS does not read the __Host- cookie.
    let mut plain = UiClient::new(&app);
    plain.cookies.insert("__Host-hubhook_session".into(), token);
    assert_eq!(plain.get("/board").await.status, 303);
    // Signing out clears it under its own name.
    let csrf = c.csrf().await;
    let out = c.post("/logout", &[("csrf", &csrf)]).await;
    let cleared = out.set_cookie("__Host-hubhook_session").expect("cleared");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Secure"),
        "{cleared}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_untrusted_client_saying_https_gets_the_plain_cookie() {
    // A proxy is configured, but the test's client (127.0.0.1) is not it.
    let app =
        app_with(|c| c.limits.trusted_proxies = vec![IpRange::parse("10.0.0.0/8").unwrap()]).await;
    let mut c = over_https(&app);
    let res = c.login("ana@h1.test", PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(res.set_cookie("__Host-hubhook_session").is_none());
    let cookie = res.set_cookie("hubhook_session").expect("session cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(c.get("/board").await.status, 200);
    // With no proxy configured at all, the header is not believed either.
    let app2 = app_with(|_| {}).await;
    let res = over_https(&app2).login("ana@h1.test", PASSWORD).await;
    let cookie = res.set_cookie("hubhook_session").expect("session cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
    app.stop().await;
    app2.stop().await;
}

#[tokio::test]
async fn secure_cookies_makes_every_session_cookie_secure() {
    let app = app_with(|c| c.secure_cookies = true).await;
    let mut c = UiClient::new(&app);
    let res = c.login("ana@h1.test", PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let cookie = res
        .set_cookie("__Host-hubhook_session")
        .expect("__Host- session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(c.get("/board").await.status, 200);
    app.stop().await;
}
