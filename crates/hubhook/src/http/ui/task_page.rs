//! A task's page (`/tasks/{id}`): the task in the hotel's local time, its history, its assignee
//! (a manager picks anyone of the hotel or nobody; staff claim or release), and for managers only
//! the Duve webhook it came from (raw bodies are the inbound log's).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    response::Html,
};
use maud::{Markup, html};

use super::{Nav, Viewer, body, hotel_tz, inbound, layout, local_time};
use crate::{
    domain::{Role, Task, TaskId, time},
    http::{AppState, error::UiError},
    store::UserInfo,
};

/// The task's assignee and the form that changes it: a manager's select of the hotel's enabled
/// users (and nobody); a staff member's Claim (a task nobody has) or Release (their own).
fn assignment(viewer: &Viewer, t: &Task, users: &[UserInfo]) -> Markup {
    let me = viewer.user.email.as_str();
    let current = t.assignee.as_deref();
    html! {
        section.assignment data-assignee=[current] {
            h2 { "Assigned to" }
            p { (current.unwrap_or("nobody")) }
            @if !t.status.is_final() {
                form.inline method="post" action={ "/board/tasks/" (t.id) "/assign" } {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="back" value="task";
                    @if viewer.user.role == Role::Manager {
                        label { "Assignee "
                            select name="assignee" {
                                option value="" selected[current.is_none()] { "Nobody" }
                                @for u in users.iter().filter(|u| !u.disabled) {
                                    option value=(u.email) selected[current == Some(u.email.as_str())] {
                                        (u.email)
                                        @if let Some(d) = &u.department { " (" (d) ")" }
                                    }
                                }
                            }
                        }
                        button type="submit" data-action="assign" { "Assign" }
                    } @else if current.is_none() {
                        button type="submit" name="assignee" value=(me) data-action="claim" { "Claim" }
                    } @else if current == Some(me) {
                        button type="submit" name="assignee" value="" data-action="release" { "Release" }
                    }
                }
            }
        }
    }
}

pub async fn task_page(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Html<String>, UiError> {
    let id = TaskId::parse(&id).ok_or(UiError::NotFound)?;
    let hotel = &viewer.user.hotel;
    let detail = app
        .store
        .task_detail(hotel, id.as_str())
        .await?
        .ok_or(UiError::NotFound)?;
    // The webhook it came from (raw body, guest data) is the inbound log's: managers only.
    let manager = viewer.user.role == Role::Manager;
    let origin = if manager {
        app.store.task_origin(hotel, id.as_str()).await?
    } else {
        None
    };
    let download = origin
        .as_ref()
        .filter(|_| manager)
        .map(|o| inbound::body_download(o.id));
    let users = match manager {
        true => app.store.list_users(hotel).await?,
        false => Vec::new(),
    };
    let tz = hotel_tz(&app, hotel);
    let now = time::now();
    let t = &detail.task;
    let body = html! {
        p { a href="/board" { "← Board" } }
        h1 { (t.task_name) " · room " (t.room) }
        dl.facts data-task-id=(t.id) data-status=(t.status.as_str()) {
            dt { "Status" } dd { (t.status.as_str().replace('_', " ")) }
            dt { "Quantity" } dd { (t.quantity) }
            @if let Some(g) = &t.guest_name { dt { "Guest" } dd { (g) } }
            @if let Some(l) = &detail.language { dt { "Language" } dd { (l) } }
            @if let Some(r) = &t.scheduled_for { dt { "Requested for" } dd { (local_time(r, &tz, now)) } }
            @if let Some(d) = &t.due_at { dt { "Due" } dd { (local_time(d, &tz, now)) } }
            dt { "Created" } dd { (local_time(&t.created_at, &tz, now)) }
            @if let Some(d) = &t.department { dt { "Department" } dd { (d) } }
            dt { "Priority" } dd { (t.priority.as_str()) }
            @if let Some(r) = t.escalated {
                dt { "Escalated" } dd.escalated data-escalated=(r.as_str()) { (r.label()) }
            }
            @if let Some(e) = &t.external_id { dt { "Service external ID" } dd { (e) } }
            @if let Some(n) = &detail.notes { dt { "Notes" } dd { (n) } }
            @if let Some(o) = &detail.order_id { dt { "Duve order" } dd { (o) } }
            @if let Some(r) = &detail.reservation_id { dt { "Duve reservation" } dd { (r) } }
            @if t.archived { dt { "Archived" } dd.archived { "yes: off the board; any change brings it back" } }
            dt { "Task id" } dd.mono { (t.id) }
        }
        (assignment(&viewer, t, &users))
        h2 { "History" }
        table.history {
            thead { tr { th { "When" } th { "Who" } th { "Change" } th { "Note" } } }
            tbody {
                @for e in &detail.events {
                    tr {
                        td { (local_time(&e.at, &tz, now)) }
                        td { (e.actor) }
                        td {
                            @match e.from {
                                Some(from) if from != e.to => { (from.as_str()) " → " (e.to.as_str()) }
                                Some(_) => { "noted" }
                                None => { "created as " (e.to.as_str()) }
                            }
                        }
                        td { (e.note.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if manager { h2 { "The Duve order it came from" } }
        @match &origin {
            Some(o) => {
                p {
                    "Received " (local_time(&o.received_at, &tz, now))
                    @if let Some(ev) = &o.event { ", event " code { (ev) } }
                    ", answered " code { (o.code) } "."
                }
                (body::shown(&o.body, o.body.len() as u64, body::SHOWN_BYTES,
                    download.as_deref()))
            }
            None if manager => { p { "This task was made by staff or through the API, not by a Duve webhook." } }
            None => {}
        }
    };
    Ok(layout(&viewer, &t.task_name, Nav::None, body))
}
