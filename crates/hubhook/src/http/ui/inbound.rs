//! The inbound log's page (`/manage/inbound`: Duve's last 200 deliveries, each body shown bounded)
//! and the download of one body exactly as stored (`/manage/inbound/{id}/body`). Managers only.

use std::sync::Arc;

use axum::{
    extract::{Path, Query, State},
    http::header,
    response::{Html, IntoResponse, Response},
};
use maud::html;
use serde::Deserialize;

use super::{Nav, body, hotel_tz, layout, local_time, session::Manager};
use crate::{
    domain::time,
    http::{AppState, error::UiError},
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
    // Only each body's beginning is read: 200 whole bodies could be 200 MiB.
    let preview = u32::try_from(body::PREVIEW_BYTES).unwrap_or(u32::MAX);
    let entries = app
        .store
        .inbound_previews(&v.user.hotel, 200, preview)
        .await?;
    let only_refused = !q.refused.is_empty();
    let tz = hotel_tz(&app, &v.user.hotel);
    let now = time::now();
    let body = html! {
        h1 { "Inbound log" }
        p { "Duve's last 200 deliveries to this hotel, newest first: what hubhook answered, and why it refused one. "
            @if only_refused { a href="/manage/inbound" { "Show all" } }
            @else { a href="/manage/inbound?refused=1" { "Show only refusals" } }
        }
        table.inbound {
            thead { tr { th { "Received" } th { "Event" } th { "Answer" } th { "Why / tasks" } } }
            tbody {
                @for p in entries.iter().filter(|p| !only_refused || p.entry.code.starts_with("WEB_HUK_")) {
                    @let e = &p.entry;
                    tr.refused[e.code.starts_with("WEB_HUK_")] data-code=(e.code) data-inbound-id=(e.id) {
                        td { (local_time(&e.received_at, &tz, now)) }
                        td { (e.event.as_deref().unwrap_or("—")) }
                        td { code { (e.code) } }
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
                        }
                    }
                }
            }
        }
    };
    Ok(layout(&v, "Inbound log", Nav::Inbound, body))
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
