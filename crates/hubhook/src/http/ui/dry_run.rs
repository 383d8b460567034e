//! The dry-run page (`/manage/dry-run`, managers): paste a Duve webhook body and see what the
//! webhook would do with it for this hotel now, stored nowhere (CONTRACT.md section 7): the answer,
//! why, the tasks as they would be, and where each field was found. `?inbound=ID` runs a body of the
//! inbound log, exactly as stored (support's "why was this refused").

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    response::Html,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Nav, Viewer, layout, manage::csrf_field, session::Manager};
use crate::{
    http::{AppState, error::UiError},
    intake::review::{DryRun, FieldAt},
};

/// `?inbound=ID`: run that log entry's body.
#[derive(Deserialize, Default)]
pub struct DryRunQuery {
    /// An inbound log entry whose stored body to run.
    #[serde(default)]
    inbound: Option<String>,
}

#[derive(Deserialize)]
struct DryRunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// How much larger than the webhook's body limit the form may be: URL-encoding a body can make it
/// up to three times its size, plus the form's other field.
fn form_limit(body_limit: usize) -> usize {
    body_limit.saturating_mul(3).saturating_add(64 * 1024)
}

/// The page, empty, or with a log entry's body run.
pub async fn page(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<DryRunQuery>,
) -> Result<Html<String>, UiError> {
    let Some(raw) = q.inbound.filter(|s| !s.is_empty()) else {
        return Ok(render(&v, "", None));
    };
    let id: i64 = raw.parse().map_err(|_| UiError::NotFound)?;
    let body = app
        .store
        .inbound_body(&v.user.hotel, id)
        .await?
        .ok_or(UiError::NotFound)?;
    let run = run(&app, &v, body.as_bytes()).await?;
    Ok(render(&v, &body, Some((&run, Some(id)))))
}

/// The page with the pasted body run.
pub async fn submit(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    body: Body,
) -> Result<Html<String>, UiError> {
    let limit = form_limit(app.config.body_limit);
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| UiError::BadRequest(format!("the form is larger than {limit} bytes")))?;
    let f: DryRunForm =
        serde_urlencoded::from_bytes(&bytes).map_err(|e| UiError::BadRequest(e.to_string()))?;
    v.check_csrf(&f.csrf)?;
    let run = run(&app, &v, f.body.as_bytes()).await?;
    Ok(render(&v, &f.body, Some((&run, None))))
}

async fn run(app: &AppState, v: &Viewer, body: &[u8]) -> Result<DryRun, UiError> {
    let hotel = app
        .cache
        .current(v.user.hotel.as_str())
        .await?
        .ok_or(UiError::NotFound)?;
    let limit = app.config.body_limit;
    Ok(crate::review::dry_run(app.store.as_ref(), &hotel, &app.config.fields, body, limit).await?)
}

fn render(v: &Viewer, body: &str, result: Option<(&DryRun, Option<i64>)>) -> Html<String> {
    let page = html! {
        h1 { "Dry run" }
        p { "Paste a webhook body as Duve sends it. hubhook decides it exactly as the webhook would "
            "for this hotel now (its rooms, catalog, the orders already received and what earlier "
            "events said about the reservation) and stores nothing: no task, no log entry, no "
            "outbound delivery." }
        @if let Some((run, from)) = result { (outcome(run, from)) }
        form.panel method="post" action="/manage/dry-run" {
            (csrf_field(v))
            label { "Webhook body (JSON)"
                textarea name="body" rows="14" required spellcheck="false" class="mono" { (body) } }
            button type="submit" { "Dry run" }
        }
        p { a href="/manage/inbound" { "Inbound log" } }
    };
    layout(v, "Dry run", Nav::Inbound, page)
}

fn at(f: &Option<FieldAt>) -> Markup {
    html! {
        @match f {
            Some(f) => { td { code { (f.value) } } td { code { (f.path) } } }
            None => { td.empty colspan="2" { "not found" } }
        }
    }
}

/// The result, readable first, then its JSON.
fn outcome(run: &DryRun, from: Option<i64>) -> Markup {
    let refused = run.outcome == "refused";
    let json = serde_json::to_string_pretty(run).unwrap_or_default();
    let f = &run.fields;
    let scalars = [
        ("room_number", &f.room_number),
        ("first_name", &f.first_name),
        ("last_name", &f.last_name),
        ("order_id", &f.order_id),
        ("reservation_id", &f.reservation_id),
        ("delivery_time", &f.delivery_time),
        ("notes", &f.notes),
        ("charge_amount", &f.charge_amount),
        ("language", &f.language),
        ("check_in", &f.check_in),
        ("check_out", &f.check_out),
    ];
    html! {
        section.panel.dry-run data-outcome=(run.outcome) data-status=(run.status) {
            h2 {
                @if let Some(id) = from { "Entry #" (id) " of the inbound log: the webhook would answer " }
                @else { "The webhook would answer " }
                (run.status) " "
                span.outcome.refused[refused] { (run.outcome) }
            }
            @if let (Some(code), Some(message)) = (run.code, run.message) {
                p.error-text role="alert" { code { (code) } " " (message) }
            }
            @if let Some(reason) = run.reason { p { "Reason: " (reason) } }
            ul.details { @for d in &run.details { li { (d) } } }
            @if !run.tasks.is_empty() {
                h3 { "Tasks" }
                table.tasks {
                    thead { tr { th { "Task" } th { "Qty" } th { "Room" } th { "Guest" } th { "Department" } th { "Status" } th { "Due" } } }
                    tbody { @for t in &run.tasks {
                        @let t = &t.0;
                        tr { td { (t.task_name) } td { (t.quantity) } td { (t.room) }
                            td { (t.guest_name.as_deref().unwrap_or("")) }
                            td { (t.department.as_deref().unwrap_or("")) }
                            td { (t.status.as_str()) } td { (t.due_at.as_deref().unwrap_or("")) } }
                    } }
                }
            }
            @if !run.skipped.is_empty() {
                h3 { "Skipped items" }
                table.skipped {
                    thead { tr { th { "Item" } th { "External ID" } th { "Why" } } }
                    tbody { @for s in &run.skipped {
                        tr { td { (s.name.as_deref().unwrap_or("unnamed item")) }
                            td { (s.external_id.as_deref().unwrap_or("none")) } td { (s.reason) } }
                    } }
                }
            }
            h3 { "Where each field was found" }
            table.fields {
                thead { tr { th { "Field" } th { "Value" } th { "Found at" } } }
                tbody {
                    @for (name, v) in scalars {
                        tr data-field=(name) { td { (name) } (at(v)) }
                    }
                    @match &f.products {
                        None => { tr data-field="products" { td { "products" } td.empty colspan="2" { "not found" } } }
                        Some(p) => {
                            tr data-field="products" { td { "products" } td { (p.value.len()) " item(s)" } td { code { (p.path) } } }
                            @for i in &p.value {
                                tr.item data-item=(i.key) {
                                    td { "· " (i.name.as_deref().unwrap_or("unnamed item")) }
                                    td { "external_id " @if let Some(e) = &i.external_id { code { (e.value) } } @else { "not found" }
                                        ", quantity " @if let Some(q) = &i.quantity { code { (q.value) } } @else { "1 (none sent)" } }
                                    td {
                                        @if let Some(e) = &i.external_id { code { (e.path) } }
                                        @if let Some(q) = &i.quantity { br; code { (q.path) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            details {
                summary { "JSON (as POST /api/v1/dry-run answers)" }
                pre.raw data-dry-run-json { (json) }
            }
        }
    }
}
