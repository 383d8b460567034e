//! The first run: `/setup` creates the first hotel, its rooms and its first manager, then shows the
//! Duve header values and sends a test order through the real webhook path.
//!
//! - `hubhook serve` on a database without a hotel opens the [`SetupGate`] with a new random token
//!   and prints `http://ADDRESS/setup?token=TOKEN` (once, on stderr and in the log). The gate keeps
//!   only the token's SHA-256, compared in constant time; each start makes a new token (the old one
//!   is invalid), and the gate lives in memory only.
//! - The token is good until it is used, and only while no hotel exists: once any hotel exists
//!   (made here or by `hubhook hotel create`), `/setup` answers 404 whatever the token.
//! - The form carries the token and a double-submit CSRF value (a random value in a `hubhook_setup`
//!   cookie and in the form, which must match), like the login form.
//! - A successful form signs the new manager in and shows the three header values (the tokens only
//!   this once, like `hubhook hotel create`) with copy buttons, and a button that sends a test
//!   order (`/setup/test-order`, a signed-in manager's form, which stays available to the hotel's
//!   managers) through the webhook handler itself.
//! - Should the rooms or the account fail after the hotel was made, the hotel stays and `/setup` is
//!   gone: the error page says so and the command line finishes the job (`rooms add`, `user add`).

use std::{net::SocketAddr, sync::Arc, sync::Mutex};

use axum::{
    body::Body,
    extract::{ConnectInfo, Form, Query, State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{
    Nav, layout,
    manage::form,
    session::{self, Manager, Viewer},
};
use crate::{
    domain::{
        HotelId, Role,
        account::parse_email,
        hotel::parse_timezone,
        password, room_list, rooms_csv,
        secret::{TokenHash, fill_random, hash_token, new_token},
        time,
    },
    http::{AppState, error::UiError},
    store::{NewHotel, NewUser, Room, SessionUser},
};

/// The cookie of the setup form's double-submit CSRF value.
const SETUP_COOKIE: &str = "hubhook_setup";
/// The catalog entry the test order asks for (the default catalog's "Serve towels").
pub const TEST_ORDER_EXTERNAL_ID: &str = "4";

/// The one-time setup token, kept hashed in memory (see the module's documentation).
#[derive(Default)]
pub struct SetupGate {
    hash: Mutex<Option<TokenHash>>,
}

impl SetupGate {
    /// A new token replaces any earlier one; returns it (the caller prints it once).
    pub fn open(&self) -> String {
        let token = new_token("hhsu_");
        *self.lock() = Some(hash_token(&token));
        token
    }

    /// Whether the gate is open at all (a cheap check before any database read).
    pub fn is_open(&self) -> bool {
        self.lock().is_some()
    }

    /// Closes the gate: no token works any more.
    pub fn close(&self) {
        *self.lock() = None;
    }

    /// Whether `token` is the open gate's token (constant-time comparison of the hashes).
    pub fn matches(&self, token: &str) -> bool {
        let presented = hash_token(token);
        self.lock()
            .is_some_and(|h| bool::from(h.as_slice().ct_eq(presented.as_slice())))
    }

    /// Takes the token if `token` is it: only one caller ever gets `Some`.
    fn take(&self, token: &str) -> Option<TokenHash> {
        let presented = hash_token(token);
        let mut g = self.lock();
        match *g {
            Some(h) if bool::from(h.as_slice().ct_eq(presented.as_slice())) => g.take(),
            _ => None,
        }
    }

    /// Puts a taken token back (the setup failed before any hotel existed).
    fn restore(&self, hash: TokenHash) {
        self.lock().get_or_insert(hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<TokenHash>> {
        // The guarded value is a plain Option: a panic elsewhere cannot leave it half-written.
        self.hash.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether `/setup` may answer: the gate is open and the database has no hotel. A hotel made
/// meanwhile (e.g. by `hubhook hotel create`) closes the gate for good.
async fn gate_open(app: &AppState) -> Result<bool, UiError> {
    if !app.ui.setup.is_open() {
        return Ok(false);
    }
    if app.store.list_hotels().await?.is_empty() {
        return Ok(true);
    }
    app.ui.setup.close();
    Ok(false)
}

/// `?token=`
#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The setup form's fields.
#[derive(Deserialize, Default)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    rooms: String,
    #[serde(default)]
    rooms_csv: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn page(title: &str, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hubhook" }
                link rel="stylesheet" href="/static/app.css";
            }
            body { main.narrow { (body) } }
        }
    };
    Html(page.into_string())
}

fn setup_form(f: &SetupForm, csrf: &str, error: Option<&str>) -> Html<String> {
    let tz = if f.timezone.is_empty() {
        "UTC"
    } else {
        &f.timezone
    };
    page(
        "Set up hubhook",
        html! {
            h1 { "Set up hubhook" }
            p { "Create your hotel, its rooms and the first manager's account. This link works once." }
            @if let Some(e) = error { p.error-text role="alert" { (e) } }
            form.login #setup method="post" action="/setup" {
                input type="hidden" name="token" value=(f.token);
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { "Hotel" }
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(f.name) required autofocus;
                    label for="timezone" { "Timezone (IANA name, e.g. Europe/Lisbon)" }
                    input #timezone type="text" name="timezone" value=(tz) list="timezones" required;
                    datalist #timezones {
                        @for name in jiff::tz::db().available() { option value=(name.as_str()) {} }
                    }
                }
                fieldset {
                    legend { "Rooms" }
                    label for="rooms" { "Room numbers and ranges, e.g. 101-110, 201, 202" }
                    input #rooms type="text" name="rooms" value=(f.rooms);
                    label for="rooms_csv" { "Or paste a CSV (header row with a \"room\" column, optional \"floor\")" }
                    textarea #rooms_csv name="rooms_csv" rows="4" { (f.rooms_csv) }
                }
                fieldset {
                    legend { "First manager" }
                    label for="email" { "Email" }
                    input #email type="email" name="email" value=(f.email) autocomplete="username" required;
                    label for="password" { "Password (at least " (password::MIN_LENGTH) " characters)" }
                    input #password type="password" name="password" autocomplete="new-password" required;
                }
                button type="submit" { "Create the hotel" }
            }
        },
    )
}

/// The form with a fresh CSRF cookie (and `status`).
fn form_response(
    app: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    f: &SetupForm,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = new_token("");
    let secure = session::secure(app, Some(peer), headers);
    // Every page's Referrer-Policy (same-origin) keeps the link's token from other sites.
    (
        status,
        [(
            header::SET_COOKIE,
            session::set_cookie(SETUP_COOKIE, &csrf, "/setup", 3600, secure),
        )],
        setup_form(f, &csrf, error),
    )
        .into_response()
}

/// `GET /setup?token=`: the form, or 404 (wrong, used or missing token; a hotel exists).
pub async fn setup_page(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, UiError> {
    if !gate_open(&app).await? || !app.ui.setup.matches(&q.token) {
        return Err(UiError::NotFound);
    }
    let f = SetupForm {
        token: q.token,
        ..SetupForm::default()
    };
    Ok(form_response(
        &app,
        peer,
        &headers,
        &f,
        None,
        StatusCode::OK,
    ))
}

/// What the form asks for, checked.
struct Checked {
    name: String,
    timezone: String,
    rooms: Vec<Room>,
    email: String,
}

fn check(f: &SetupForm) -> Result<Checked, String> {
    let name = f.name.trim().to_owned();
    if name.is_empty() {
        return Err("The hotel name is empty.".into());
    }
    let timezone = f.timezone.trim().to_owned();
    if parse_timezone(&timezone).is_none() {
        return Err(format!(
            "Unknown timezone {timezone:?}: use an IANA name such as Europe/Lisbon."
        ));
    }
    let mut rooms: Vec<Room> = room_list::parse(&f.rooms)
        .map_err(|e| format!("Rooms: {e}."))?
        .into_iter()
        .map(|r| Room {
            room: r.into_string(),
            floor: None,
        })
        .collect();
    if !f.rooms_csv.trim().is_empty() {
        let csv = rooms_csv::parse(&f.rooms_csv).map_err(|e| format!("Rooms CSV: {e}."))?;
        for row in csv {
            let room = row.room.into_string();
            match rooms.iter_mut().find(|r| r.room == room) {
                Some(r) => r.floor = row.floor,
                None => rooms.push(Room {
                    room,
                    floor: row.floor,
                }),
            }
        }
    }
    if rooms.is_empty() {
        return Err("Give at least one room (typed, or in the CSV).".into());
    }
    let email = parse_email(&f.email).ok_or_else(|| format!("Invalid email {:?}.", f.email))?;
    let length = f.password.chars().count();
    if length < password::MIN_LENGTH || f.password.len() > password::MAX_LENGTH {
        return Err(format!(
            "The password must have at least {} characters (and at most {} bytes).",
            password::MIN_LENGTH,
            password::MAX_LENGTH
        ));
    }
    Ok(Checked {
        name,
        timezone,
        rooms,
        email,
    })
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

/// The hotel's new credentials, shown once.
pub struct Credentials {
    hotel_id: String,
    access_token: String,
    password_token: String,
    room: String,
}

/// `POST /setup`: checks the token and the form, creates the hotel, its rooms and the manager,
/// signs the manager in and shows the Duve header values.
pub async fn create(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    f: Result<Form<SetupForm>, FormRejection>,
) -> Result<Response, UiError> {
    let mut f = form(f)?;
    if !gate_open(&app).await? || !app.ui.setup.matches(&f.token) {
        return Err(UiError::NotFound);
    }
    let expected = cookie(&headers, SETUP_COOKIE).ok_or(UiError::Csrf)?;
    if !bool::from(f.csrf.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(UiError::Csrf);
    }
    let checked = match check(&f) {
        Ok(c) => c,
        Err(e) => {
            f.password.clear();
            let status = StatusCode::BAD_REQUEST;
            return Ok(form_response(&app, peer, &headers, &f, Some(&e), status));
        }
    };
    let raw = std::mem::take(&mut f.password);
    let password_hash = app
        .passwords
        .run(move || password::hash(&raw))
        .await?
        .map_err(|e| UiError::BadRequest(e.to_string()))?;
    // Only one form gets the token, even two sent at once.
    let taken = app.ui.setup.take(&f.token).ok_or(UiError::NotFound)?;
    let id = HotelId::generate();
    let creds = Credentials {
        hotel_id: id.to_string(),
        access_token: new_token("hhat_"),
        password_token: new_token("hhpt_"),
        room: checked.rooms[0].room.clone(),
    };
    let made = app
        .store
        .create_hotel(NewHotel {
            id: id.clone(),
            name: checked.name.clone(),
            timezone: checked.timezone,
            access_hash: hash_token(&creds.access_token),
            password_hash: hash_token(&creds.password_token),
        })
        .await;
    if let Err(e) = made {
        // No hotel was made: the link works again.
        app.ui.setup.restore(taken);
        return Err(e.into());
    }
    // From here on the hotel exists and /setup is gone: an error says how to finish.
    let unfinished = |e: crate::store::StoreError| {
        UiError::Conflict(format!(
            "The hotel {id} was created, but not its rooms or its manager ({e}). Finish on the \
             server: hubhook rooms add {id} …, then hubhook user add {id} --role manager."
        ))
    };
    app.store
        .add_rooms(&id, checked.rooms)
        .await
        .map_err(unfinished)?;
    let mut raw_id = [0u8; 8];
    fill_random(&mut raw_id);
    let user_id = format!(
        "usr_{}",
        raw_id
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    app.store
        .create_user(NewUser {
            id: user_id.clone(),
            hotel: id.clone(),
            email: checked.email.clone(),
            role: Role::Manager,
            department: None,
            password_hash,
        })
        .await
        .map_err(unfinished)?;
    let token = new_token("");
    let expires = time::now()
        .checked_add(jiff::SignedDuration::from_hours(session::SESSION_HOURS))
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    app.store
        .create_session(hash_token(&token), &user_id, expires)
        .await?;
    tracing::info!(hotel = %id, user = %checked.email, "setup: first hotel and manager created");
    let viewer = Viewer {
        user: SessionUser {
            user_id,
            email: checked.email,
            hotel: id,
            role: Role::Manager,
        },
        csrf: session::csrf_for(&token),
        session: hash_token(&token),
    };
    let secure = session::secure(&app, Some(peer), &headers);
    let mut res = done_page(&viewer, &creds, None).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::session_set_cookie(&token, secure),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(SETUP_COOKIE, "", "/setup", 0, secure),
    );
    Ok(res)
}

/// The header values with copy buttons, the test-order button and the way to the board.
fn done_page(v: &Viewer, c: &Credentials, result: Option<Markup>) -> Html<String> {
    let value = |id: &str, label: &str, val: &str| {
        html! {
            div.copy-row {
                label for=(id) { code { (label) } }
                input id=(id) type="text" readonly value=(val);
                button type="button" data-copy=(id) { "Copy" }
            }
        }
    };
    layout(
        v,
        "Your hotel is ready",
        Nav::None,
        html! {
            h1 { "Your hotel is ready" }
            p { "Signed in as " (v.user.email) ", the hotel's manager." }
            h2 { "Connect Duve" }
            p { "In Duve, Settings > Connections > Outgoing, add these custom headers. "
                strong { "The tokens are shown only now" }
                "; hubhook keeps only their hashes (new ones: Duve credentials, or "
                code { "hubhook hotel rotate-tokens" } ")." }
            (value("custom_hotel_id", "custom_hotel_id", &c.hotel_id))
            (value("custom_access_token", "custom_access_token", &c.access_token))
            (value("custom_password_token", "custom_password_token", &c.password_token))
            h2 { "Try it" }
            @if let Some(r) = result { (r) }
            form method="post" action="/setup/test-order" {
                input type="hidden" name="csrf" value=(v.csrf);
                input type="hidden" name="hotel_id" value=(c.hotel_id);
                input type="hidden" name="access_token" value=(c.access_token);
                input type="hidden" name="password_token" value=(c.password_token);
                input type="hidden" name="room" value=(c.room);
                button #test-order type="submit" { "Send a test order" }
                " (room " (c.room) ", \"Serve towels\", through the same path as Duve's webhooks)"
            }
            p { a href="/board" { "Open the board" } }
        },
    )
}

/// The test-order form's fields.
#[derive(Deserialize)]
pub struct TestOrderForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    hotel_id: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    password_token: String,
    #[serde(default)]
    room: String,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    fill_random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The test order, shaped like Duve's `orderCreated` (as `hubhook send` builds it).
fn test_order(room: &str) -> Value {
    json!({
        "accountId": "hubhook-setup",
        "event": "orderCreated",
        "resource": {
            "id": random_hex(12),
            "roomNumber": room,
            "verifiedFirstName": "Test",
            "order": {
                "id": random_hex(12),
                "status": 0,
                "chargeAmount": 0,
                "currency": "USD",
                "products": [{"name": "Guest request", "externalId": TEST_ORDER_EXTERNAL_ID, "quantity": 1}],
            },
        },
    })
}

/// `POST /setup/test-order`: sends a test order with the hotel's header values through the webhook
/// handler itself (authentication, limits, intake, storage), then shows where its task is.
pub async fn send_test_order(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Manager(v): Manager,
    f: Result<Form<TestOrderForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    if f.hotel_id != v.user.hotel.as_str() {
        return Err(UiError::Forbidden);
    }
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| -> Result<(), UiError> {
        let value = HeaderValue::from_str(value)
            .map_err(|_| UiError::BadRequest(format!("invalid {name}")))?;
        headers.insert(name, value);
        Ok(())
    };
    put("content-type", "application/json")?;
    put("custom_hotel_id", &f.hotel_id)?;
    put("custom_access_token", &f.access_token)?;
    put("custom_password_token", &f.password_token)?;
    let body = Body::from(test_order(&f.room).to_string());
    let answer =
        crate::http::webhooks::duve(State(app.clone()), ConnectInfo(peer), headers, body).await;
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), 64 * 1024)
        .await
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let task = answer["tasks"][0]["id"].as_str();
    let result = match task {
        Some(id) if status.is_success() => html! {
            p.notice role="status" {
                "Test order received (" (status.as_u16()) " " (answer["status"].as_str().unwrap_or("")) "): task "
                a href=(format!("/tasks/{id}")) { (answer["tasks"][0]["taskName"].as_str().unwrap_or("")) }
                " for room " (f.room) ". "
                a #to-board href="/board" { "See it on the board" }
            }
        },
        _ => html! {
            p.error-text role="alert" {
                "The test order was not accepted (" (status.as_u16()) " "
                (answer["code"].as_str().or(answer["status"].as_str()).unwrap_or(""))
                "): " (answer["message"].as_str().or(answer["reason"].as_str()).unwrap_or(""))
            }
        },
    };
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, status = status.as_u16(), "setup: test order sent");
    let creds = Credentials {
        hotel_id: f.hotel_id,
        access_token: f.access_token,
        password_token: f.password_token,
        room: f.room,
    };
    Ok(done_page(&v, &creds, Some(result)).into_response())
}
