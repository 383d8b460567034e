//! Manager pages: rooms, catalog, hotel settings, Duve credentials, API keys (the inbound log is
//! in `inbound`).
//! Every handler takes [`Manager`] first: a staff session gets 403 before its form is even read.

use std::sync::Arc;

use axum::{
    extract::{Form, Path, Query, State, rejection::FormRejection},
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Nav, Viewer, hotel_tz, layout, local_time, session::Manager};
use crate::{
    domain::{
        CatalogEntry, ExternalId, Role, RoomNumber,
        hotel::parse_timezone,
        secret::{hash_token, new_key_id, new_token},
        time::{
            self, ARCHIVE_AFTER_MAX_SECS, WEEK_SECS, format_shift_ends, parse_setting_duration_max,
            parse_shift_ends,
        },
    },
    http::{AppState, error::UiError},
    store::{ApiKey, HotelSettings, Room},
};

pub(super) fn form<T>(f: Result<Form<T>, FormRejection>) -> Result<T, UiError> {
    f.map(|Form(t)| t)
        .map_err(|e| UiError::BadRequest(e.body_text()))
}

pub(super) fn csrf_field(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

pub(super) fn notice(text: Option<&str>) -> Markup {
    html! { @if let Some(t) = text { p.notice role="status" { (t) } } }
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    pub(super) done: String,
}

// --- Rooms

pub async fn rooms(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<Done>,
) -> Result<Html<String>, UiError> {
    let rooms = app.store.list_rooms(&v.user.hotel).await?;
    let body = html! {
        h1 { "Rooms" }
        (notice((!q.done.is_empty()).then_some(q.done.as_str())))
        p { "Duve's orders name a room; hubhook refuses an order for a room it does not know (Unknown room)." }
        div.two {
            form.panel method="post" action="/manage/rooms" {
                h2 { "Add rooms" }
                (csrf_field(&v))
                label { "Room numbers (separated by spaces or commas)" input type="text" name="rooms" required; }
                label { "Floor (optional; also sets the floor of rooms already known)" input type="text" name="floor"; }
                button type="submit" { "Add" }
            }
            form.panel method="post" action="/manage/rooms/import" {
                h2 { "Import CSV" }
                (csrf_field(&v))
                label { "CSV with a header row: a \"room\" column, an optional \"floor\" column"
                    textarea name="csv" rows="6" required placeholder="room,floor\n101,1\n102,1" {} }
                button type="submit" { "Import" }
            }
        }
        h2 { (rooms.len()) " rooms" }
        table {
            thead { tr { th { "Room" } th { "Floor" } } }
            tbody { @for r in &rooms { tr { td { (r.room) } td { (r.floor.as_deref().unwrap_or("")) } } } }
        }
    };
    Ok(layout(&v, "Rooms", Nav::Rooms, body))
}

#[derive(Deserialize)]
pub struct RoomsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rooms: String,
    #[serde(default)]
    floor: String,
}

pub async fn add_rooms(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<RoomsForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let floor = Some(f.floor.trim().to_owned()).filter(|s| !s.is_empty());
    let rooms = f
        .rooms
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|raw| {
            RoomNumber::parse(raw)
                .map(|r| Room {
                    room: r.into_string(),
                    floor: floor.clone(),
                })
                .map_err(|e| UiError::BadRequest(format!("{raw:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rooms.is_empty() {
        return Err(UiError::BadRequest("no room number given".into()));
    }
    let added = app.store.add_rooms(&v.user.hotel, rooms).await?;
    Ok(Redirect::to(&format!("/manage/rooms?done={added}+room(s)+added")).into_response())
}

#[derive(Deserialize)]
pub struct CsvForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    csv: String,
}

pub async fn import_rooms(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<CsvForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let rooms = crate::domain::rooms_csv::parse(&f.csv)
        .map_err(|e| UiError::BadRequest(e.to_string()))?
        .into_iter()
        .map(|row| crate::store::Room {
            room: row.room.into_string(),
            floor: row.floor,
        })
        .collect::<Vec<_>>();
    let total = rooms.len();
    let added = app.store.add_rooms(&v.user.hotel, rooms).await?;
    Ok(Redirect::to(&format!(
        "/manage/rooms?done={total}+row(s)+imported,+{added}+new+room(s)"
    ))
    .into_response())
}

// --- Catalog

pub async fn catalog(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<Done>,
) -> Result<Html<String>, UiError> {
    let entries = app.store.list_catalog(&v.user.hotel).await?;
    let entry_form = |e: Option<&CatalogEntry>| {
        html! {
            form.catalog-row method="post" action="/manage/catalog" {
                (csrf_field(&v))
                @match e {
                    Some(e) => {
                        input type="hidden" name="external_id" value=(e.external_id);
                        span.ext { "ID " (e.external_id) }
                    }
                    None => { label { "External ID" input type="text" name="external_id" required; } }
                }
                label { "Name" input type="text" name="name" required value=[e.map(|e| &e.name)]; }
                label { "Department" input type="text" name="department" value=[e.and_then(|e| e.department.as_deref())]; }
                label { "SLA minutes" input type="number" name="sla_minutes" min="1" max="10080" value=[e.and_then(|e| e.sla_minutes)]; }
                button type="submit" { @if e.is_some() { "Save" } @else { "Add" } }
            }
        }
    };
    let body = html! {
        h1 { "Catalog" }
        (notice((!q.done.is_empty()).then_some(q.done.as_str())))
        p { "Each entry maps a Duve service external ID to a task. The SLA sets a task's due time when the guest asked for no time." }
        section.panel { h2 { "Add an external ID" } (entry_form(None)) }
        h2 { (entries.len()) " entries" }
        @for e in &entries { (entry_form(Some(e))) }
    };
    Ok(layout(&v, "Catalog", Nav::Catalog, body))
}

#[derive(Deserialize)]
pub struct CatalogForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    sla_minutes: String,
}

pub async fn set_catalog(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<CatalogForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let external_id =
        ExternalId::parse(&f.external_id).map_err(|e| UiError::BadRequest(e.to_string()))?;
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(UiError::BadRequest(
            "the name must be 1 to 200 characters".into(),
        ));
    }
    let sla_minutes = match f.sla_minutes.trim() {
        "" => None,
        s => Some(
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=10080).contains(n))
                .ok_or_else(|| {
                    UiError::BadRequest("SLA minutes must be a number from 1 to 10080".into())
                })?,
        ),
    };
    let department = Some(f.department.trim().to_owned()).filter(|d| !d.is_empty());
    app.store
        .set_catalog(
            &v.user.hotel,
            CatalogEntry {
                external_id: external_id.as_str().to_owned(),
                name: name.to_owned(),
                department,
                sla_minutes,
            },
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/manage/catalog?done=Saved+external+ID+{}",
        external_id
            .as_str()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "+")
    ))
    .into_response())
}

// --- Settings

pub async fn settings(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<Done>,
) -> Result<Html<String>, UiError> {
    let hotels = app.store.list_hotels().await?;
    let h = hotels
        .into_iter()
        .find(|h| h.hotel_id == v.user.hotel.as_str())
        .ok_or(UiError::NotFound)?;
    let body = html! {
        h1 { "Hotel settings" }
        (notice((!q.done.is_empty()).then_some(q.done.as_str())))
        form.panel method="post" action="/manage/settings" {
            (csrf_field(&v))
            label { "Name" input type="text" name="name" required value=(h.name); }
            label { "Timezone (IANA name, e.g. Europe/Lisbon)" input type="text" name="timezone" required value=(h.timezone); }
            label { "Escalate a task not accepted within (e.g. 90s, 10m, 2h; 0 turns it off)"
                input type="text" name="escalate_after" required value=(h.escalate_after); }
            label { "Merge a repeated request for the same room and service into the open task within (e.g. 10m; 0 turns it off)"
                input type="text" name="merge_window" required value=(h.merge_window); }
            label { "Shift ends, local time, for the shift report (e.g. 07:00,15:00,23:00; empty for none)"
                input type="text" name="shift_ends" value=(h.shift_ends.join(",")); }
            label { "Archive a task left unfinished after (e.g. 3d, up to 90d; 0 turns it off)"
                input type="text" name="archive_after" required value=(h.archive_after); }
            label.check {
                input type="checkbox" name="sync_paid_orders" value="on" checked[h.sync_paid_orders];
                " Make tasks for paid orders too (by default only free upsells become tasks)"
            }
            button type="submit" { "Save" }
        }
    };
    Ok(layout(&v, "Settings", Nav::Settings, body))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    /// Absent (an older form): unchanged.
    #[serde(default)]
    escalate_after: Option<String>,
    /// Absent (an older form): unchanged.
    #[serde(default)]
    merge_window: Option<String>,
    /// Absent (an older form): unchanged.
    #[serde(default)]
    shift_ends: Option<String>,
    /// Absent (an older form): unchanged.
    #[serde(default)]
    archive_after: Option<String>,
    /// An unchecked checkbox is not sent at all.
    #[serde(default)]
    sync_paid_orders: Option<String>,
}

pub async fn save_settings(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<SettingsForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(UiError::BadRequest(
            "the name must be 1 to 200 characters".into(),
        ));
    }
    let tz = f.timezone.trim();
    if parse_timezone(tz).is_none() {
        return Err(UiError::BadRequest(format!(
            "unknown timezone {tz:?} (use an IANA name such as Europe/Lisbon)"
        )));
    }
    let duration = |what: &str, raw: Option<&str>, max: u32| {
        raw.map(|raw| {
            parse_setting_duration_max(raw, max)
                .map(|s| s.unwrap_or(0))
                .map_err(|e| UiError::BadRequest(format!("{what}: {e}")))
        })
        .transpose()
    };
    let escalate_after_secs = duration("escalate after", f.escalate_after.as_deref(), WEEK_SECS)?;
    let merge_window_secs = duration("merge window", f.merge_window.as_deref(), WEEK_SECS)?;
    let archive_after_secs = duration(
        "archive after",
        f.archive_after.as_deref(),
        ARCHIVE_AFTER_MAX_SECS,
    )?;
    let shift_ends = f
        .shift_ends
        .as_deref()
        .map(|raw| {
            parse_shift_ends(raw)
                .map(|e| format_shift_ends(&e))
                .map_err(|e| UiError::BadRequest(format!("shift ends: {e}")))
        })
        .transpose()?;
    app.store
        .update_hotel(
            &v.user.hotel,
            HotelSettings {
                name: Some(name.to_owned()),
                timezone: Some(tz.to_owned()),
                sync_paid_orders: Some(f.sync_paid_orders.is_some()),
                escalate_after_secs,
                merge_window_secs,
                shift_ends,
                archive_after_secs,
            },
        )
        .await?;
    Ok(Redirect::to("/manage/settings?done=Saved").into_response())
}

// --- Credentials

fn credentials_page(v: &Viewer, tokens: Option<(&str, &str)>) -> Html<String> {
    let body = html! {
        h1 { "Duve credentials" }
        p { "In Duve: Settings > Connections > Outgoing, add a webhook with hubhook's URL "
            code { "https://<this server>/webhooks/duve" }
            " and these three custom headers." }
        table.creds {
            tbody {
                tr { th { "custom_hotel_id" } td.mono #cred-hotel-id { (v.user.hotel) } }
                tr { th { "custom_access_token" } td.mono #cred-access {
                    @match tokens { Some((a, _)) => (a), None => "(shown only when created or rotated)" } } }
                tr { th { "custom_password_token" } td.mono #cred-password {
                    @match tokens { Some((_, p)) => (p), None => "(shown only when created or rotated)" } } }
            }
        }
        @if tokens.is_some() {
            p.notice role="status" { "New tokens: copy them into Duve now. hubhook keeps only their hashes; the old tokens no longer work." }
        }
        form.panel method="post" action="/manage/credentials/rotate" {
            (csrf_field(v))
            p { "Rotating makes new tokens and stops the current ones at once: Duve's deliveries fail until you paste the new ones." }
            button.danger type="submit" { "Rotate tokens" }
        }
    };
    layout(v, "Duve credentials", Nav::Credentials, body)
}

pub async fn credentials(Manager(v): Manager) -> Html<String> {
    credentials_page(&v, None)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub(super) csrf: String,
}

pub async fn rotate_credentials(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Html<String>, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let access = new_token("hhat_");
    let password = new_token("hhpt_");
    app.store
        .set_tokens(&v.user.hotel, hash_token(&access), hash_token(&password))
        .await?;
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, "Duve tokens rotated");
    Ok(credentials_page(&v, Some((&access, &password))))
}

// --- API keys

fn api_keys_page(
    v: &Viewer,
    keys: &[crate::store::ApiKeyInfo],
    created: Option<&str>,
    tz: &jiff::tz::TimeZone,
) -> Html<String> {
    let now = time::now();
    let body = html! {
        h1 { "API keys" }
        @if let Some(k) = created {
            p.notice role="status" { "New key, shown only now: " code.mono #new-api-key { (k) } }
        }
        p { "Keys for the HTTP API (" code { "Authorization: Bearer <key>" } "); see /openapi.json." }
        form.panel method="post" action="/manage/api-keys" {
            (csrf_field(v))
            label { "Role "
                select name="role" { option value="staff" { "staff" } option value="manager" { "manager" } }
            }
            button type="submit" { "Create a key" }
        }
        table {
            thead { tr { th { "Key id" } th { "Role" } th { "Created" } th { "By" } th {} } }
            tbody {
                @for k in keys {
                    tr {
                        td.mono { (k.id) }
                        td { (k.role.as_str()) }
                        td { (local_time(&k.created_at, tz, now)) }
                        td { (k.created_by.as_deref().unwrap_or("operator (command line)")) }
                        td {
                            form method="post" action={ "/manage/api-keys/" (k.id) "/revoke" } {
                                (csrf_field(v))
                                button.danger type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(v, "API keys", Nav::ApiKeys, body)
}

pub async fn api_keys(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
) -> Result<Html<String>, UiError> {
    let keys = app.store.list_api_keys(&v.user.hotel).await?;
    Ok(api_keys_page(
        &v,
        &keys,
        None,
        &hotel_tz(&app, &v.user.hotel),
    ))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

pub async fn create_api_key(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<KeyForm>, FormRejection>,
) -> Result<Html<String>, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let role = Role::parse(&f.role)
        .ok_or_else(|| UiError::BadRequest("role must be staff or manager".into()))?;
    let key = new_token("hhk_");
    app.store
        .create_api_key(
            ApiKey {
                id: new_key_id(),
                hotel_id: v.user.hotel.clone(),
                role,
                created_by: Some(v.user.user_id.clone()),
            },
            hash_token(&key),
        )
        .await?;
    let keys = app.store.list_api_keys(&v.user.hotel).await?;
    Ok(api_keys_page(
        &v,
        &keys,
        Some(&key),
        &hotel_tz(&app, &v.user.hotel),
    ))
}

pub async fn revoke_api_key(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
    f: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    app.store.delete_api_key(&v.user.hotel, &id).await?;
    Ok(Redirect::to("/manage/api-keys").into_response())
}
