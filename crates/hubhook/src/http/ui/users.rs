//! Accounts on the pages: the manager's `/manage/users` (list, add, role and department, disable
//! and enable, reset a password, remove) and every user's `/account` (change one's own password).
//!
//! Disabling, removing or resetting the password of an account ends its sessions in the same
//! transaction (`AccountStore::update_user`, `remove_user`); every page and live stream looks its
//! session up again, so the account's open pages go to `/login` on their next request. A manager
//! cannot disable, remove or demote their own account here (the hotel would risk having no
//! manager left); another manager or `hubhook user` can.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    extract::{ConnectInfo, Form, Query, State, rejection::FormRejection},
    http::HeaderMap,
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::html;
use serde::Deserialize;

use super::{
    Nav, Viewer, hotel_tz, layout, local_time,
    manage::{Done, csrf_field, form, notice},
    session::Manager,
};
use crate::{
    domain::{
        Role,
        account::{normalize_email, parse_department, parse_email},
        password,
        secret::fill_random,
        time,
    },
    http::{AppState, error::UiError},
    store::{NewUser, UserChange},
};

/// A new password, hashed through the password gate (bounded, off the async workers).
async fn hash_password(app: &AppState, raw: String) -> Result<String, UiError> {
    app.passwords
        .run(move || password::hash(&raw))
        .await?
        .map_err(|e| UiError::BadRequest(e.to_string()))
}

/// `done=` text for a redirect: letters, digits and `@.-_` kept, anything else a space.
fn done_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "@.-_".contains(c) => c,
            _ => '+',
        })
        .collect()
}

/// `GET /manage/users`: the hotel's accounts, the add form and each account's actions.
pub async fn users(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<Done>,
) -> Result<Html<String>, UiError> {
    let users = app.store.list_users(&v.user.hotel).await?;
    let tz = hotel_tz(&app, &v.user.hotel);
    let now = time::now();
    let role_select = |current: Option<Role>| {
        html! {
            select name="role" {
                @for r in [Role::Staff, Role::Manager] {
                    option value=(r.as_str()) selected[current == Some(r)] { (r.as_str()) }
                }
            }
        }
    };
    let body = html! {
        h1 { "Users" }
        (notice((!q.done.is_empty()).then_some(q.done.as_str())))
        p { "Accounts of the board and these pages. Disabling or removing an account, or resetting its password, ends its sessions at once, open boards included. API keys belong to the hotel, not to an account: revoke them on the API keys page." }
        form.panel method="post" action="/manage/users" {
            h2 { "Add a user" }
            (csrf_field(&v))
            label { "Email" input type="email" name="email" required autocomplete="off"; }
            label { "Role " (role_select(Some(Role::Staff))) }
            label { "Department (optional)" input type="text" name="department" maxlength="100"; }
            label { "Password (at least " (password::MIN_LENGTH) " characters)"
                input type="password" name="password" required minlength=(password::MIN_LENGTH) autocomplete="new-password"; }
            button type="submit" { "Add" }
        }
        h2 { (users.len()) " users" }
        @for u in &users {
            @let me = u.id == v.user.user_id;
            section.panel.user data-user-email=(u.email) data-role=(u.role.as_str()) data-disabled=(u.disabled) {
                h3 {
                    (u.email)
                    @if me { " (you)" }
                    @if u.disabled { " · " strong.error-text { "disabled" } }
                }
                p.meta { "Since " (local_time(&u.created_at, &tz, now)) }
                form.catalog-row method="post" action="/manage/users/update" {
                    (csrf_field(&v))
                    input type="hidden" name="email" value=(u.email);
                    label { "Role " (role_select(Some(u.role))) }
                    label { "Department" input type="text" name="department" maxlength="100" value=[u.department.as_deref()]; }
                    button type="submit" data-action="save" { "Save" }
                }
                div.actions {
                    @if !me {
                        form.inline method="post" action="/manage/users/disable" {
                            (csrf_field(&v))
                            input type="hidden" name="email" value=(u.email);
                            @if u.disabled {
                                input type="hidden" name="disabled" value="false";
                                button type="submit" data-action="enable" { "Enable" }
                            } @else {
                                input type="hidden" name="disabled" value="true";
                                button.danger type="submit" data-action="disable" { "Disable" }
                            }
                        }
                    }
                    details.cancel {
                        summary { "Reset password" }
                        form method="post" action="/manage/users/password" {
                            (csrf_field(&v))
                            input type="hidden" name="email" value=(u.email);
                            label { "New password (ends the account's sessions)"
                                input type="password" name="password" required minlength=(password::MIN_LENGTH) autocomplete="new-password"; }
                            button type="submit" data-action="reset-password" { "Set password" }
                        }
                    }
                    @if !me {
                        form.inline method="post" action="/manage/users/remove" {
                            (csrf_field(&v))
                            input type="hidden" name="email" value=(u.email);
                            button.danger type="submit" data-action="remove" { "Remove" }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&v, "Users", Nav::Users, body))
}

/// The add form of `/manage/users`.
#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    password: String,
}

fn role_of(raw: &str) -> Result<Role, UiError> {
    Role::parse(raw).ok_or_else(|| UiError::BadRequest("role must be staff or manager".into()))
}

fn department_of(raw: &str) -> Result<Option<String>, UiError> {
    parse_department(raw).map_err(|e| UiError::BadRequest(e.to_string()))
}

/// `POST /manage/users`: a new account of the manager's hotel.
pub async fn add_user(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<AddForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let email = parse_email(&f.email)
        .ok_or_else(|| UiError::BadRequest(format!("invalid email {:?}", f.email)))?;
    let role = role_of(&f.role)?;
    let department = department_of(&f.department)?;
    let hash = hash_password(&app, f.password).await?;
    let mut raw = [0u8; 8];
    fill_random(&mut raw);
    let id = format!(
        "usr_{}",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    app.store
        .create_user(NewUser {
            id,
            hotel: v.user.hotel.clone(),
            email: email.clone(),
            role,
            department,
            password_hash: hash,
        })
        .await?;
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, user = %email, "account added");
    Ok(Redirect::to(&format!("/manage/users?done=Added+{}", done_text(&email))).into_response())
}

/// An account's role and department.
#[derive(Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
}

/// Applies `change` to the hotel's account `email` and redirects with `what` as the notice;
/// refuses `refuse_self` changes of the manager's own account.
async fn change(
    app: &AppState,
    v: &Viewer,
    email: &str,
    change: UserChange,
    refuse_self: bool,
    what: &str,
) -> Result<Response, UiError> {
    let email = normalize_email(email);
    if refuse_self && email == v.user.email {
        return Err(UiError::BadRequest(
            "you cannot disable, remove or demote your own account: ask another manager, or use hubhook user set on the server".into(),
        ));
    }
    let ends_sessions = change.ends_sessions();
    app.store
        .update_user(&v.user.hotel, &email, change, None)
        .await?;
    if ends_sessions {
        end_streams(app, v, &email).await;
    }
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, user = %email, what, "account changed");
    Ok(Redirect::to(&format!(
        "/manage/users?done={}+{}",
        done_text(what),
        done_text(&email)
    ))
    .into_response())
}

/// Ends this instance's live streams of the hotel's account `email` at once (its sessions are
/// gone; other instances' streams end at their next session check).
async fn end_streams(app: &AppState, v: &Viewer, email: &str) {
    match app.store.find_user(email).await {
        Ok(Some(u)) if u.hotel == v.user.hotel => app.ui.streams.end_user(&u.id),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not look the account up to end its live streams")
        }
    }
}

/// `POST /manage/users/update`: an account's role and department.
pub async fn update_user(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<UpdateForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let role = role_of(&f.role)?;
    let c = UserChange {
        role: Some(role),
        department: Some(department_of(&f.department)?),
        ..UserChange::default()
    };
    change(&app, &v, &f.email, c, role != Role::Manager, "Saved").await
}

/// Disable (`true`) or enable (`false`) an account.
#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    disabled: String,
}

/// `POST /manage/users/disable`: disabling ends the account's sessions.
pub async fn disable_user(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<DisableForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let disabled = match f.disabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(UiError::BadRequest("disabled must be true or false".into())),
    };
    let c = UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    let what = if disabled { "Disabled" } else { "Enabled" };
    change(&app, &v, &f.email, c, disabled, what).await
}

/// A new password for an account.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /manage/users/password`: a new password ends the account's sessions.
pub async fn reset_password(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let hash = hash_password(&app, f.password).await?;
    let c = UserChange {
        password_hash: Some(hash),
        ..UserChange::default()
    };
    change(&app, &v, &f.email, c, false, "New password for").await
}

/// An account named by its email.
#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// `POST /manage/users/remove`: the account and its sessions are deleted.
pub async fn remove_user(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<EmailForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let email = normalize_email(&f.email);
    if email == v.user.email {
        return Err(UiError::BadRequest(
            "you cannot remove your own account: ask another manager, or use hubhook user remove on the server".into(),
        ));
    }
    let user = app.store.find_user(&email).await?;
    app.store.remove_user(&v.user.hotel, &email).await?;
    if let Some(u) = user.filter(|u| u.hotel == v.user.hotel) {
        app.ui.streams.end_user(&u.id);
    }
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, user = %email, "account removed");
    Ok(Redirect::to(&format!("/manage/users?done=Removed+{}", done_text(&email))).into_response())
}

// --- One's own account

/// `GET /account`: one's own account and the password form.
pub async fn account(v: Viewer, Query(q): Query<Done>) -> Html<String> {
    let body = html! {
        h1 { "Your account" }
        (notice((!q.done.is_empty()).then_some(q.done.as_str())))
        p { (v.user.email) " · " (v.user.role.as_str()) " · hotel " (v.user.hotel) }
        form.panel method="post" action="/account/password" {
            h2 { "Change your password" }
            (csrf_field(&v))
            label { "Current password" input type="password" name="current" required autocomplete="current-password"; }
            label { "New password (at least " (password::MIN_LENGTH) " characters)"
                input type="password" name="password" required minlength=(password::MIN_LENGTH) autocomplete="new-password"; }
            p { "Your other sessions (other browsers and devices) end; this one stays signed in." }
            button type="submit" { "Change password" }
        }
    };
    layout(&v, "Your account", Nav::Account, body)
}

/// One's current password and the new one.
#[derive(Deserialize)]
pub struct OwnPasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
}

/// Changes the signed-in user's password once the current one is checked. The check counts
/// against the login limiter like a login (a stolen session cannot guess the password faster than
/// the login form could), and the user's other sessions end.
pub async fn change_own_password(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    v: Viewer,
    f: Result<Form<OwnPasswordForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    if f.password.chars().count() < password::MIN_LENGTH {
        return Err(UiError::BadRequest(
            password::PasswordError::TooShort.to_string(),
        ));
    }
    let client = app.limits.client(peer, &headers);
    let attempt = app
        .limits
        .login_attempt(&v.user.email, client, Instant::now())
        .map_err(|wait| UiError::RateLimited {
            retry_after_secs: wait,
        })?;
    let user = match app.store.find_user(&v.user.email).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            app.limits.login_not_checked(attempt);
            return Err(UiError::SignIn);
        }
        Err(e) => {
            app.limits.login_not_checked(attempt);
            return Err(e.into());
        }
    };
    let (current, new, stored) = (f.current, f.password, user.password_hash);
    let checked = app
        .passwords
        .run(move || {
            password::verify(&current, &stored)
                .then(|| password::hash(&new))
                .transpose()
        })
        .await;
    let hash = match checked {
        Ok(Ok(Some(hash))) => hash,
        Ok(Ok(None)) => {
            tracing::info!(ip = %client, user = %user.id, "wrong current password");
            return Err(UiError::BadRequest(
                "the current password is not right".into(),
            ));
        }
        Ok(Err(e)) => {
            app.limits.login_not_checked(attempt);
            return Err(UiError::BadRequest(e.to_string()));
        }
        Err(e) => {
            app.limits.login_not_checked(attempt);
            return Err(e.into());
        }
    };
    app.limits.login_succeeded(attempt);
    let c = UserChange {
        password_hash: Some(hash),
        ..UserChange::default()
    };
    app.store
        .update_user(&v.user.hotel, &v.user.email, c, Some(v.session))
        .await?;
    tracing::info!(user = %user.id, "password changed; other sessions ended");
    Ok(
        Redirect::to("/account?done=Password+changed;+your+other+sessions+have+ended")
            .into_response(),
    )
}
