//! Manager pages for outbound webhooks: the hotel's subscriptions (add, remove, rotate the signing
//! secret); the delivery log is in `deliveries.rs`.
//!
//! Same rules as the other manager pages: [`Manager`] first (staff get 403 before the form is read),
//! a CSRF token on every form, everything scoped to the session's hotel (another hotel's ids are
//! 404). A signing secret is rendered once, in the answer to the POST that made it, never on a GET;
//! a Duve Connect Bearer token is never rendered at all.

use std::sync::Arc;

use axum::{
    extract::{Form, Path, Query, State, rejection::FormRejection},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;

use super::{
    Nav, Viewer, hotel_tz, layout, local_time,
    manage::{CsrfOnly, Done, csrf_field, form, notice},
    session::Manager,
};
use crate::{
    domain::time,
    http::{AppState, error::UiError, outbound::ROTATION_OVERLAP},
    outbox::{
        EventType, SubscriptionKind, SubscriptionRequest, check_destination, check_subscription,
        sign, template,
    },
    store::{Scope, StoreError, Subscription},
};

/// A refusal's reason above a form, when there is one.
pub(super) fn error_notice(text: Option<&str>) -> Markup {
    html! { @if let Some(t) = text { p.error-text role="alert" { (t) } } }
}

// --- Subscriptions

/// What the add form was filled with, to show it again when it is refused (never the Bearer).
#[derive(Default)]
struct AddForm {
    csrf: String,
    url: String,
    kind: String,
    events: Vec<String>,
    headers: String,
    bearer: String,
    field: String,
}

impl AddForm {
    /// A form's fields in order; `events` may repeat (one per checked box).
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = AddForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "url" => f.url = v,
                "kind" => f.kind = v,
                "events" => f.events.push(v),
                "headers" => f.headers = v,
                "bearer" => f.bearer = v,
                "field" => f.field = v,
                _ => {}
            }
        }
        f
    }

    fn request(&self) -> SubscriptionRequest {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        SubscriptionRequest {
            url: self.url.trim().to_owned(),
            kind: some(&self.kind),
            events: Some(self.events.clone()),
            headers: Some(
                self.headers
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            bearer: some(&self.bearer),
            body_template: None,
            field: some(&self.field),
        }
    }
}

/// What a subscriptions page shows besides the list.
#[derive(Default)]
struct Shown<'a> {
    done: Option<&'a str>,
    error: Option<&'a str>,
    /// A secret just made: (subscription id, secret, previous secret valid until).
    secret: Option<(&'a str, &'a str, Option<&'a str>)>,
    /// The refused form, to fill in again.
    refill: Option<&'a AddForm>,
}

fn webhooks_page(v: &Viewer, subs: &[Subscription], tz: &TimeZone, shown: Shown) -> Html<String> {
    let now = time::now();
    let refill = shown.refill;
    let kind = refill.map_or("webhook", |f| f.kind.as_str());
    // A new form has every task event ticked; the shift report only when asked for.
    let checked = |e: EventType| match refill {
        Some(f) => f.events.iter().any(|x| x == e.as_str()),
        None => e.is_task_event(),
    };
    let body = html! {
        h1 { "Outbound webhooks" }
        (notice(shown.done))
        (error_notice(shown.error))
        @if let Some((id, secret, until)) = shown.secret {
            div.notice role="status" {
                p { "Signing secret of " code { (id) } ", shown only now: copy it into the receiver." }
                p { code.mono #new-webhook-secret { (secret) } }
                @if let Some(u) = until {
                    p { "The previous secret keeps signing deliveries next to the new one until "
                        (local_time(u, tz, now)) "." }
                }
            }
        }
        p { "hubhook sends task changes to these URLs: a signed " code { "webhook" }
            " (Standard Webhooks), a " code { "duve-connect" }
            " call that writes the task's status into Duve, or a " code { "slack" }
            " message (one line per event, for a Slack, Mattermost or Rocket.Chat incoming webhook). "
            code { "report.shift" } " carries the shift report at each of the hotel's shift ends "
            "(webhook and slack only). The delivery log is under "
            a href="/manage/deliveries" { "Deliveries" } "." }
        form.panel method="post" action="/manage/webhooks" {
            h2 { "Add a subscription" }
            (csrf_field(v))
            label { "URL (http or https)"
                input type="url" name="url" required value=[refill.map(|f| f.url.as_str())]; }
            label { "Kind "
                select name="kind" {
                    option value="webhook" selected[kind == "webhook"] { "webhook (signed JSON)" }
                    option value="duve-connect" selected[kind == "duve-connect"] { "duve-connect" }
                    option value="slack" selected[kind == "slack"] { "slack (chat message)" }
                }
            }
            fieldset {
                legend { "Events" }
                @for e in EventType::ALL {
                    label.check {
                        input type="checkbox" name="events" value=(e.as_str()) checked[checked(e)];
                        " " (e.as_str())
                    }
                }
            }
            label { "Extra headers, one \"Name: value\" per line (optional)"
                textarea name="headers" rows="3" placeholder="X-Api-Key: abc123" {
                    (refill.map_or("", |f| f.headers.as_str()))
                }
            }
            fieldset {
                legend { "Duve Connect only" }
                label { "Bearer token (the Duve Connect access token; never shown again)"
                    input type="password" name="bearer" autocomplete="off"; }
                label { "Additional field the status is written to (default " (template::DEFAULT_FIELD) ")"
                    input type="text" name="field" placeholder=(template::DEFAULT_FIELD)
                        value=[refill.map(|f| f.field.as_str())]; }
            }
            button type="submit" { "Add" }
        }
        h2 { (subs.len()) " subscriptions" }
        table.subscriptions {
            thead { tr {
                th { "Kind" } th { "URL" } th { "Events" } th { "Headers" } th { "State" } th {}
            } }
            tbody {
                @for s in subs {
                    tr data-subscription-id=(s.id) {
                        td { (s.kind.as_str()) br; span.mono { (s.id) } }
                        td.mono { (s.url) }
                        td { @for e in &s.events { code { (e.as_str()) } " " } }
                        td { @for h in &s.headers { code { (h.name) } " " } }
                        td {
                            @if s.enabled { "enabled" }
                            @else { "disabled: " (s.disabled_reason.as_deref().unwrap_or("")) }
                            @if let Some(u) = &s.previous_secret_until {
                                br; "previous secret valid until " (local_time(u, tz, now))
                            }
                        }
                        td.actions {
                            @if s.kind == SubscriptionKind::Webhook {
                                form method="post" action={ "/manage/webhooks/" (s.id) "/rotate" } {
                                    (csrf_field(v))
                                    button type="submit" { "Rotate secret" }
                                }
                            }
                            form method="post" action={ "/manage/webhooks/" (s.id) "/remove" } {
                                (csrf_field(v))
                                button.danger type="submit" { "Remove…" }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(v, "Outbound webhooks", Nav::Webhooks, body)
}

/// The hotel's subscriptions, for the subscriptions page and a delivery's page.
pub(super) async fn subscriptions(
    app: &AppState,
    v: &Viewer,
) -> Result<Vec<Subscription>, UiError> {
    Ok(app
        .store
        .list_subscriptions(Scope::Hotel(v.user.hotel.as_str()))
        .await?)
}

pub async fn webhooks(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<Done>,
) -> Result<Html<String>, UiError> {
    let subs = subscriptions(&app, &v).await?;
    let shown = Shown {
        done: (!q.done.is_empty()).then_some(q.done.as_str()),
        ..Default::default()
    };
    Ok(webhooks_page(
        &v,
        &subs,
        &hotel_tz(&app, &v.user.hotel),
        shown,
    ))
}

pub async fn add_webhook(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    f: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = AddForm::from_pairs(form(f)?);
    v.check_csrf(&f.csrf)?;
    let tz = hotel_tz(&app, &v.user.hotel);
    let checked = check_subscription(v.user.hotel.clone(), f.request())
        .and_then(|new| check_destination(&new.url, &app.config.outbox.destinations).map(|()| new));
    let new = match checked {
        Ok(new) => new,
        Err(e) => {
            let subs = subscriptions(&app, &v).await?;
            let error = e.to_string();
            let page = webhooks_page(
                &v,
                &subs,
                &tz,
                Shown {
                    error: Some(&error),
                    refill: Some(&f),
                    ..Default::default()
                },
            );
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let secret = new.secret.clone();
    let sub = match app
        .store
        .create_subscription(new, app.config.max_subscriptions)
        .await
    {
        Ok(sub) => sub,
        // The hotel's subscriptions are at their cap: say so above the form, kept filled in.
        Err(StoreError::Limit(m)) => {
            let subs = subscriptions(&app, &v).await?;
            let error = format!("Not added: {m}.");
            let page = webhooks_page(
                &v,
                &subs,
                &tz,
                Shown {
                    error: Some(&error),
                    refill: Some(&f),
                    ..Default::default()
                },
            );
            return Ok((StatusCode::CONFLICT, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, subscription = %sub.id, "subscription added");
    let subs = subscriptions(&app, &v).await?;
    let done = format!("Added subscription {}.", sub.id);
    let page = webhooks_page(
        &v,
        &subs,
        &tz,
        Shown {
            done: Some(&done),
            secret: secret.as_deref().map(|s| (sub.id.as_str(), s, None)),
            ..Default::default()
        },
    );
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf: String,
    /// Absent on the first POST (which asks for confirmation), `yes` on the second.
    #[serde(default)]
    confirm: String,
}

pub async fn remove_webhook(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
    f: Result<Form<RemoveForm>, FormRejection>,
) -> Result<Response, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    if f.confirm == "yes" {
        app.store
            .remove_subscription(Scope::Hotel(v.user.hotel.as_str()), &id)
            .await?;
        tracing::info!(hotel = %v.user.hotel, by = %v.user.email, subscription = %id, "subscription removed");
        return Ok(Redirect::to("/manage/webhooks?done=Subscription+removed").into_response());
    }
    let subs = subscriptions(&app, &v).await?;
    let s = subs.iter().find(|s| s.id == id).ok_or(UiError::NotFound)?;
    let body = html! {
        h1 { "Remove a subscription?" }
        dl.facts {
            dt { "Id" } dd.mono { (s.id) }
            dt { "Kind" } dd { (s.kind.as_str()) }
            dt { "URL" } dd.mono { (s.url) }
        }
        p { "hubhook stops sending to this URL at once; its pending deliveries end as failed. "
            "This cannot be undone (add it again for a new subscription, with a new secret)." }
        form.panel method="post" action={ "/manage/webhooks/" (s.id) "/remove" } {
            (csrf_field(&v))
            input type="hidden" name="confirm" value="yes";
            button.danger type="submit" { "Yes, remove it" }
            " "
            a href="/manage/webhooks" { "Keep it" }
        }
    };
    Ok(layout(&v, "Remove a subscription", Nav::Webhooks, body).into_response())
}

pub async fn rotate_webhook(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Path(id): Path<String>,
    f: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Html<String>, UiError> {
    let f = form(f)?;
    v.check_csrf(&f.csrf)?;
    let secret = sign::new_secret();
    let until = time::now()
        .checked_add(ROTATION_OVERLAP)
        .map_err(|e| UiError::BadRequest(e.to_string()))?;
    let sub = app
        .store
        .rotate_secret(
            Scope::Hotel(v.user.hotel.as_str()),
            &id,
            secret.clone(),
            until,
        )
        .await?;
    tracing::info!(hotel = %v.user.hotel, by = %v.user.email, subscription = %sub.id, "signing secret rotated");
    let subs = subscriptions(&app, &v).await?;
    Ok(webhooks_page(
        &v,
        &subs,
        &hotel_tz(&app, &v.user.hotel),
        Shown {
            done: Some("Secret rotated."),
            secret: Some((&sub.id, &secret, sub.previous_secret_until.as_deref())),
            ..Default::default()
        },
    ))
}
