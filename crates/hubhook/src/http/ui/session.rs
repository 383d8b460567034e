//! Sign-in, sessions, CSRF tokens and the login rate limit.
//!
//! - A session is a random 256-bit token in a cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`).
//!   On a request that came over TLS (`secure_cookies`, or a trusted proxy saying
//!   `X-Forwarded-Proto: https`: [`Limits::forwarded_https`]) the cookie is `__Host-hubhook_session`
//!   with `Secure`: the browser sends it only over HTTPS, and the prefix keeps a sibling host or a
//!   plain-HTTP page from planting one. Otherwise it is `hubhook_session` (plain-HTTP setups,
//!   docs/security.md), and each kind of request reads only its own name.
//!   The database keeps only its SHA-256, so sessions survive a restart and a copy of the database
//!   opens none. A session lasts [`SESSION_HOURS`] hours; every request looks it up again, so a
//!   disabled or removed account, or a changed password, ends it at once.
//! - The CSRF token of a session is derived from its token (SHA-256 of a label and the token): it
//!   needs no storage, is the same on every page of the session, and reveals nothing of the cookie.
//!   Every form carries it in a hidden `csrf` field; the script's fetch POSTs send the same form.
//! - The login form, which has no session yet, uses a double-submit token: a random value in a
//!   short-lived `hubhook_login` cookie and in the form, which must match.
//! - Login attempts are counted in memory per account and per client address in fixed windows
//!   (`http::limits`, settings `login_*`), each *before* its password is checked; past the limit,
//!   logins are refused with 429 until the window ends, even with the right password. The checks
//!   themselves run through [`crate::http::passwords`]: a few at once, off the async workers, 503
//!   when too many wait.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    extract::{ConnectInfo, Form, FromRequestParts, State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Redirect, Response},
};
use base64::Engine;
use maud::{DOCTYPE, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::streams::Streams;
use crate::{
    domain::{
        Role,
        account::normalize_email,
        password,
        secret::{TokenHash, hash_token, new_token},
        time,
    },
    http::{AppState, error::UiError},
    store::SessionUser,
};

/// The session cookie of a plain-HTTP request.
pub const SESSION_COOKIE: &str = "hubhook_session";
/// The session cookie of a request that came over TLS.
pub const SECURE_SESSION_COOKIE: &str = "__Host-hubhook_session";
const LOGIN_COOKIE: &str = "hubhook_login";
pub const SESSION_HOURS: i64 = 12;

/// What the web pages keep in memory: the open live streams, and the signal that ends them all
/// when the server shuts down (a graceful shutdown waits for open connections).
pub struct UiState {
    closing: watch::Sender<bool>,
    /// The open live streams, capped per session, per hotel and in all.
    pub streams: Streams,
    /// The first run's one-time setup link (`setup`).
    pub setup: super::setup::SetupGate,
}

impl UiState {
    /// The pages' state, with live streams capped by `streams`.
    pub fn new(streams: Streams) -> Self {
        Self {
            closing: watch::channel(false).0,
            streams,
            setup: super::setup::SetupGate::default(),
        }
    }

    pub fn close_streams(&self) {
        let _ = self.closing.send(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// The signed-in user of a page, with the session's CSRF token.
pub struct Viewer {
    pub user: SessionUser,
    pub csrf: String,
    /// The session's token hash, as the store keys it.
    pub session: TokenHash,
}

impl Viewer {
    /// How the user appears in a task's history.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.email)
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), UiError> {
        if bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(UiError::Csrf)
        }
    }
}

/// A signed-in manager; staff get 403 before anything else of the request is looked at.
pub struct Manager(pub Viewer);

pub(super) fn csrf_for(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"hubhook-csrf\0");
    h.update(session_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether a request came over TLS: always with `secure_cookies`, otherwise when a trusted proxy
/// says so (see the module's documentation).
pub(super) fn secure(app: &AppState, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    app.config.secure_cookies || peer.is_some_and(|p| app.limits.forwarded_https(p, headers))
}

/// The session cookie's name for a request that is `secure` or not.
pub(super) fn session_cookie(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// A `Set-Cookie` value with the attributes every cookie of the pages has.
pub(super) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    secure: bool,
) -> HeaderValue {
    let s = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    // Values are base64url tokens: always a valid header value.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` of a new session (or, with an empty token, of its end).
pub(super) fn session_set_cookie(token: &str, secure: bool) -> HeaderValue {
    let max_age = if token.is_empty() {
        0
    } else {
        SESSION_HOURS * 3600
    };
    set_cookie(session_cookie(secure), token, "/", max_age, secure)
}

/// The session's token as this request carries it.
pub(super) fn session_token<'a>(
    app: &AppState,
    peer: Option<SocketAddr>,
    headers: &'a HeaderMap,
) -> Option<&'a str> {
    cookie(headers, session_cookie(secure(app, peer, headers)))
}

/// The signed-in user of a request, if its session cookie names a live session.
async fn session_of(
    app: &AppState,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, UiError> {
    let Some(token) = session_token(app, peer, headers) else {
        return Ok(None);
    };
    let session = hash_token(token);
    let user = app.store.find_session(session, time::now()).await?;
    Ok(user.map(|user| Viewer {
        user,
        csrf: csrf_for(token),
        session,
    }))
}

/// The TCP peer of a request (set by the accept loop).
fn peer_of(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        session_of(app, peer_of(parts), &parts.headers)
            .await?
            .ok_or(UiError::SignIn)
    }
}

impl FromRequestParts<Arc<AppState>> for Manager {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::from_request_parts(parts, app).await?;
        if viewer.user.role != Role::Manager {
            return Err(UiError::Forbidden);
        }
        Ok(Manager(viewer))
    }
}

fn login_form(csrf: &str, email: &str, error: Option<&str>) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · hubhook" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                main.narrow {
                    h1 { "hubhook" }
                    p { "Sign in to see your hotel's task board." }
                    @if let Some(e) = error { p.error-text role="alert" { (e) } }
                    form.login method="post" action="/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="email" { "Email" }
                        input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    };
    Html(page.into_string())
}

pub async fn login_page(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Ok(Some(_)) = session_of(&app, Some(peer), &headers).await {
        return Redirect::to("/board").into_response();
    }
    let token = new_token("");
    let secure = secure(&app, Some(peer), &headers);
    (
        [(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, &token, "/login", 3600, secure),
        )],
        login_form(&token, "", None),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    let expected = cookie(&headers, LOGIN_COOKIE).ok_or(UiError::Csrf)?;
    if !bool::from(form.csrf.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(UiError::Csrf);
    }
    // The same form of the email as the account lookup compares, so every spelling that reaches
    // an account counts against that account.
    let email = normalize_email(&form.email);
    let client = app.limits.client(peer, &headers);
    // Counted before the check: attempts sent at once cannot all pass a limit none has reached.
    let attempt = app
        .limits
        .login_attempt(&email, client, Instant::now())
        .map_err(|wait| UiError::RateLimited {
            retry_after_secs: wait,
        })?;
    let checked = check_password(&app, &email, form.password).await;
    let user = match checked {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::info!(ip = %client, "failed login");
            let mut res =
                login_form(expected, &email, Some("Wrong email or password.")).into_response();
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(res);
        }
        Err(e) => {
            // Never checked: the attempt does not count against the account or the address.
            app.limits.login_not_checked(attempt);
            if matches!(e, UiError::Busy) {
                tracing::warn!(ip = %client, "login refused: too many password checks at once");
            }
            return Err(e);
        }
    };
    app.limits.login_succeeded(attempt);
    let token = new_token("");
    let expires = time::now()
        .checked_add(jiff::SignedDuration::from_hours(SESSION_HOURS))
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    app.store
        .create_session(hash_token(&token), &user.id, expires)
        .await?;
    tracing::info!(user = %user.id, hotel = %user.hotel, "signed in");
    let secure = secure(&app, Some(peer), &headers);
    let mut res = Redirect::to("/board").into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, session_set_cookie(&token, secure));
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", "/login", 0, secure),
    );
    Ok(res)
}

/// The account `email` names if `password` is its password and it is not disabled. An unknown or
/// disabled account is checked against a decoy hash, so that it takes as long and says nothing.
/// The check runs through the password gate (bounded, off the async workers).
async fn check_password(
    app: &AppState,
    email: &str,
    password: String,
) -> Result<Option<crate::store::User>, UiError> {
    let user = app.store.find_user(email).await?;
    let stored = user
        .as_ref()
        .filter(|u| !u.disabled)
        .map(|u| u.password_hash.clone());
    let matches = app
        .passwords
        .run(move || match &stored {
            Some(hash) => password::verify(&password, hash),
            None => password::verify(&password, password::decoy_hash()),
        })
        .await?;
    Ok(user.filter(|u| matches && !u.disabled))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    viewer: Viewer,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    viewer.check_csrf(&form.csrf)?;
    app.store.delete_session(viewer.session).await?;
    // This instance's open boards of the session end now; other instances' at their next check.
    app.ui.streams.end_session(&viewer.session);
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session_set_cookie("", secure(&app, Some(peer), &headers)),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hubhook_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert_ne!(csrf_for("tok"), csrf_for("tok2"));
    }
}
