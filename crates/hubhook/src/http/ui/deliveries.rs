//! Manager pages for the delivery log: the hotel's outbound deliveries (filter by status), one
//! delivery with every attempt, and replay. Same rules as the subscriptions' pages (`webhooks.rs`):
//! [`Manager`] first, a CSRF token on every form, everything scoped to the session's hotel.

use std::sync::Arc;

use axum::{
    extract::{Form, Path, Query, State, rejection::FormRejection},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use jiff::tz::TimeZone;
use maud::html;
use serde::Deserialize;

use super::{
    Nav, Viewer, body, hotel_tz, layout, local_time,
    manage::{CsrfOnly, Done, csrf_field, form, notice},
    session::Manager,
    webhooks::{error_notice, subscriptions},
};
use crate::{
    domain::time,
    http::{AppState, error::UiError},
    outbox::DeliveryStatus,
    store::{Delivery, Scope, StoreError, Subscription},
};

/// How many deliveries the log page shows (newest first).
const LOG_LIMIT: u32 = 200;

/// An attempt's instant to the second, in the hotel's timezone: retries are often seconds apart.
fn precise_time(raw: &str, tz: &TimeZone) -> String {
    match time::parse_instant(raw) {
        Some(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%-d %b %H:%M:%S")
            .to_string(),
        None => raw.to_owned(),
    }
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    status: String,
}

fn status_class(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

pub async fn deliveries(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<LogQuery>,
) -> Result<Html<String>, UiError> {
    let status = match q.status.as_str() {
        "" => None,
        s => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            UiError::BadRequest(format!(
                "status {s:?} is not one of pending, delivered, failed"
            ))
        })?),
    };
    let list = app
        .store
        .list_deliveries(Scope::Hotel(v.user.hotel.as_str()), status, LOG_LIMIT)
        .await?;
    let tz = hotel_tz(&app, &v.user.hotel);
    let now = time::now();
    let filter = |s: Option<DeliveryStatus>, label: &str| {
        let href = match s {
            Some(s) => format!("/manage/deliveries?status={}", s.as_str()),
            None => "/manage/deliveries".to_owned(),
        };
        html! {
            @if s == status { a href=(href) aria-current="true" { strong { (label) } } }
            @else { a href=(href) { (label) } }
        }
    };
    let body = html! {
        h1 { "Deliveries" }
        p { "The last " (LOG_LIMIT) " outbound deliveries of this hotel, newest first. Show: "
            (filter(None, "all")) " · "
            (filter(Some(DeliveryStatus::Pending), "pending")) " · "
            (filter(Some(DeliveryStatus::Delivered), "delivered")) " · "
            (filter(Some(DeliveryStatus::Failed), "failed"))
        }
        table.deliveries {
            thead { tr {
                th { "Created" } th { "Event" } th { "Task" } th { "Status" } th { "Attempts" }
                th { "Code / message" } th {}
            } }
            tbody {
                @for d in &list {
                    tr.refused[d.status == DeliveryStatus::Failed] data-delivery-id=(d.id)
                        data-status=(status_class(d.status)) {
                        td { (local_time(&d.created_at, &tz, now)) }
                        td { code { (d.event) } }
                        td { @if let Some(t) = &d.task_id { a href={ "/tasks/" (t) } { "task" } } }
                        td { (d.status.as_str()) }
                        td { (d.attempts) }
                        td {
                            @if let Some(c) = &d.code { code { (c) } }
                            @if let Some(m) = &d.message { p.detail { (m) } }
                        }
                        td { a href={ "/manage/deliveries/" (d.id) } { "Details" } }
                    }
                }
            }
        }
        @if list.is_empty() { p.empty { "No delivery." } }
    };
    Ok(layout(&v, "Deliveries", Nav::Deliveries, body))
}

fn delivery_page(
    v: &Viewer,
    d: &Delivery,
    sub: Option<&Subscription>,
    tz: &TimeZone,
    done: Option<&str>,
    error: Option<&str>,
) -> Html<String> {
    let now = time::now();
    let attempts = d.attempt_log.as_deref().unwrap_or_default();
    let body = html! {
        h1 { "Delivery " span.mono { (d.id) } }
        (notice(done))
        (error_notice(error))
        dl.facts {
            dt { "Event" } dd { code { (d.event) } }
            dt { "Task" } dd { @if let Some(t) = &d.task_id { a href={ "/tasks/" (t) } { (t) } } @else { "—" } }
            dt { "Subscription" } dd {
                span.mono { (d.subscription_id) }
                @match sub {
                    Some(s) => { " · " (s.kind.as_str()) " · " span.mono { (s.url) }
                        @if !s.enabled { " · disabled" } }
                    None => { " (removed)" }
                }
            }
            dt { "Status" } dd #delivery-status { (d.status.as_str()) }
            dt { "Attempts" } dd { (d.attempts) }
            @if let Some(n) = &d.next_attempt_at { dt { "Next attempt" } dd { (local_time(n, tz, now)) } }
            @if let Some(c) = &d.code { dt { "Code" } dd { code { (c) } } }
            @if let Some(m) = &d.message { dt { "Message" } dd { (m) } }
            dt { "Created" } dd { (local_time(&d.created_at, tz, now)) }
            dt { "Updated" } dd { (local_time(&d.updated_at, tz, now)) }
        }
        form.panel method="post" action={ "/manage/deliveries/" (d.id) "/replay" } {
            (csrf_field(v))
            p { "Replay sends this delivery again with the same payload and webhook-id, from its first attempt." }
            button type="submit" { "Replay" }
        }
        h2 { "Attempts" }
        table.attempts {
            thead { tr { th { "Time" } th { "Answer" } th { "Latency" } th { "Answer's first bytes" } } }
            tbody {
                @for a in attempts {
                    tr {
                        td { (precise_time(&a.at, tz)) }
                        td {
                            @if let Some(s) = a.status { (s) }
                            @if let Some(e) = &a.error { " " (e) }
                        }
                        td { (format!("{:.0} ms", a.latency_ms)) }
                        td { @if !a.response.is_empty() { pre.raw { (a.response) } } }
                    }
                }
            }
        }
        @if attempts.is_empty() { p.empty { "No attempt yet." } }
        h2 { "Payload" }
        @let payload = d.payload.as_deref().unwrap_or("");
        (body::shown(payload, payload.len() as u64, body::SHOWN_BYTES, None))
        p { a href="/manage/deliveries" { "All deliveries" } }
    };
    layout(v, "Delivery", Nav::Deliveries, body)
}

async fn delivery_of(app: &AppState, v: &Viewer, id: &str) -> Result<Delivery, UiError> {
    app.store
        .delivery(Scope::Hotel(v.user.hotel.as_str()), id)
        .await?
        .ok_or(UiError::NotFound)
}

async fn render_delivery(
    app: &AppState,
    v: &Viewer,
    id: &str,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Html<String>, UiError> {
    let d = delivery_of(app, v, id).await?;
    let subs = subscriptions(app, v).await?;
    let sub = subs.iter().find(|s| s.id == d.subscription_id);
    Ok(delivery_page(
        v,
        &d,
        sub,
        &hotel_tz(app, &v.user.hotel),
        done,
        error,
    ))
}

pub async fn delivery(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Html<String>, UiError> {
    let done = (!q.done.is_empty()).then_some(q.done.as_str());
    render_delivery(&app, &v, &id, done, None).await
}

pub async fn replay(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
    f: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    match app
        .store
        .replay_delivery(Scope::Hotel(v.user.hotel.as_str()), &id)
        .await
    {
        Ok(d) => {
            tracing::info!(hotel = %v.user.hotel, by = %v.user.email, delivery = %d.id, "delivery replayed");
            Ok(Redirect::to(&format!(
                "/manage/deliveries/{}?done=Queued+again:+it+is+sent+from+its+first+attempt",
                d.id
            ))
            .into_response())
        }
        // The subscription is gone or disabled, the delivery is being sent, or too many of the
        // hotel's are waiting: say so on the delivery's page.
        Err(StoreError::Conflict(m) | StoreError::Limit(m)) => {
            let error = format!("Not replayed: {m}.");
            let page = render_delivery(&app, &v, &id, None, Some(&error)).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
