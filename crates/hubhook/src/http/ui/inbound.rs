//! The inbound log's page (`/manage/inbound`: Duve's last 200 deliveries, each body shown bounded),
//! the download of one body exactly as stored (`/manage/inbound/{id}/body`), and the replay of a
//! refused delivery (`POST /manage/inbound/{id}/replay`, CONTRACT.md section 7). Managers only.

use std::sync::Arc;

use axum::{
    extract::{Form, Path, Query, State, rejection::FormRejection},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{
    Nav, Viewer, body, hotel_tz, layout, local_time,
    manage::{CsrfOnly, csrf_field, form},
    session::Manager,
};
use crate::{
    domain::time,
    http::{AppState, error::UiError},
    intake::{Outcome, review::replayable},
    review::ReplayError,
    store::Scope,
};

#[derive(Deserialize, Default)]
pub struct InboundQuery {
    #[serde(default)]
    refused: String,
}

pub async fn inbound(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<InboundQuery>,
) -> Result<Html<String>, UiError> {
    render(&app, &v, !q.refused.is_empty(), None).await
}

/// The log page, with a replay's result above it when there is one.
async fn render(
    app: &AppState,
    v: &Viewer,
    only_refused: bool,
    result: Option<Markup>,
) -> Result<Html<String>, UiError> {
    // Only each body's beginning is read: 200 whole bodies could be 200 MiB.
    let preview = u32::try_from(body::PREVIEW_BYTES).unwrap_or(u32::MAX);
    let entries = app
        .store
        .inbound_previews(&v.user.hotel, 200, preview)
        .await?;
    let tz = hotel_tz(app, &v.user.hotel);
    let now = time::now();
    let body = html! {
        h1 { "Inbound log" }
        @if let Some(r) = result { (r) }
        p { "Duve's last 200 deliveries to this hotel, newest first: what hubhook answered, and why it refused one. "
            "A delivery refused for an unknown room or service, or for a room or name missing, can be "
            "replayed once that is fixed: it is decided again as the webhook would now. "
            a href="/manage/dry-run" { "Dry run a body" } ". "
            @if only_refused { a href="/manage/inbound" { "Show all" } }
            @else { a href="/manage/inbound?refused=1" { "Show only refusals" } }
        }
        table.inbound {
            thead { tr { th { "Received" } th { "Event" } th { "Answer" } th { "Why / tasks" } } }
            tbody {
                @for p in entries.iter().filter(|p| !only_refused || p.entry.code.starts_with("WEB_HUK_")) {
                    @let e = &p.entry;
                    tr.refused[e.code.starts_with("WEB_HUK_")] data-code=(e.code) data-inbound-id=(e.id) {
                        td { (local_time(&e.received_at, &tz, now)) br; span.mono { "#" (e.id) } }
                        td { (e.event.as_deref().unwrap_or("—")) }
                        td { code { (e.code) }
                            @if let Some(of) = e.replay_of { p.note data-replay-of=(of) { "replay of #" (of) } } }
                        td {
                            @for d in &e.details { p.detail { (d) } }
                            @for id in &e.task_ids { a href={ "/tasks/" (id) } { "task" } " " }
                            @if p.body_bytes > 0 {
                                details {
                                    summary { "Body" }
                                    (body::shown(&e.body, p.body_bytes, body::PREVIEW_BYTES,
                                        Some(&body_download(e.id))))
                                }
                            }
                            div.actions {
                                @if replayable(&e.code, e.event.as_deref()).is_ok() {
                                    form.inline.replay method="post" action={ "/manage/inbound/" (e.id) "/replay" } {
                                        (csrf_field(v))
                                        button type="submit" data-replay=(e.id) { "Replay" }
                                    }
                                }
                                @if e.event.is_some() {
                                    a href={ "/manage/dry-run?inbound=" (e.id) } data-dry-run=(e.id) { "Dry run this body" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(v, "Inbound log", Nav::Inbound, body))
}

/// Decides a refused delivery again, as the webhook would now (CONTRACT.md section 7), and shows
/// the log with the answer above it.
pub async fn replay(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
    f: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let id: i64 = id.parse().map_err(|_| UiError::NotFound)?;
    let scope = Scope::Hotel(v.user.hotel.as_str());
    let (status, result) =
        match crate::review::replay(app.store.as_ref(), scope, id, &app.config.fields).await {
            Ok(done) => (StatusCode::OK, replayed(id, done.outcome)),
            Err(ReplayError::NotFound(_)) => return Err(UiError::NotFound),
            Err(ReplayError::NotReplayable(n)) => (
                StatusCode::CONFLICT,
                html! {
                    div.replay-result.error-text role="alert" data-code=(n.code()) {
                        p { "Entry #" (id) " was not replayed: " (n.message()) }
                        @for d in n.details() { p { (d) } }
                    }
                },
            ),
            Err(ReplayError::Store(e)) => return Err(e.into()),
        };
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, inbound = id, "inbound entry replayed from the log page");
    let page = render(&app, &v, false, Some(result)).await?;
    Ok((status, page).into_response())
}

/// A replay's answer, as the webhook would have given it now.
fn replayed(id: i64, outcome: Outcome) -> Markup {
    let status = outcome.status();
    let code = outcome.code();
    html! {
        @match &outcome {
            Outcome::Refused(r) => {
                div.replay-result.error-text role="alert" data-status=(status) data-code=(code) {
                    p { "Entry #" (id) " replayed: still refused, " (status) " " code { (r.code()) } " " (r.message()) }
                    @for d in &r.details { p { (d) } }
                }
            }
            _ => {
                div.replay-result.notice role="status" data-status=(status) data-code=(code) {
                    "Entry #" (id) " replayed: " (status) " " (code)
                    @if outcome.tasks().is_empty() { "." }
                    @else {
                        ": "
                        @for t in outcome.tasks() {
                            a href={ "/tasks/" (t.id) } { (t.task_name) " for room " (t.room) } " "
                        }
                    }
                }
            }
        }
    }
}

/// Where a manager downloads an inbound entry's body as stored.
pub(super) fn body_download(id: i64) -> String {
    format!("/manage/inbound/{id}/body")
}

/// An inbound entry's body exactly as stored, as a file (`application/json`; a refused body that is
/// not JSON is sent as it came too). Managers only: it holds guest data.
pub async fn inbound_body(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id: i64 = id.parse().map_err(|_| UiError::NotFound)?;
    let stored = app
        .store
        .inbound_body(&v.user.hotel, id)
        .await?
        .ok_or(UiError::NotFound)?;
    let disposition = format!("attachment; filename=\"inbound-{id}.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        stored,
    )
        .into_response())
}
