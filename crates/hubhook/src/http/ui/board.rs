//! The staff board (`/board`), its live feed (`/board/events`), the status buttons, and a task's page
//! (with the Duve webhook it came from for managers only: raw bodies are the inbound log's).
//!
//! The board's cards are one HTML fragment (`/board/cards`) that the page embeds and that the script
//! fetches again whenever the feed says a task of this hotel changed: one renderer for the first
//! paint and for every update, so filters and live changes cannot disagree.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Form, Path, Query, State, rejection::FormRejection},
    http::{HeaderMap, header},
    response::{
        Html, IntoResponse, Redirect, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::stream::{self, Stream};
use jiff::{Timestamp, tz::TimeZone};
use maud::{Markup, html};
use serde::Deserialize;
use tokio::{
    sync::{
        broadcast::{self, error::RecvError},
        watch,
    },
    time::{Interval, MissedTickBehavior},
};

use super::{Nav, Viewer, age, body, hotel_tz, inbound, layout, local_time, streams::StreamSlot};
use crate::{
    domain::{
        HotelId, Role, Task, TaskId, TaskStatus,
        escalation::{Priority, Reason},
        secret::TokenHash,
        time,
    },
    events::TaskChange,
    http::{AppState, error::UiError},
    store::{BoardTask, StatusChange, Store},
};

/// Finished tasks stay on the board this long, so a tap on "done" shows where the card went.
const FINISHED_SHOWN_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(2);

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    floor: String,
}

const COLUMNS: [(&str, &str); 5] = [
    ("open", "Open"),
    ("accepted", "Accepted"),
    ("in_progress", "In progress"),
    ("later", "Later"),
    ("finished", "Finished (last 2 h)"),
];

/// A task's column: its status's, or "Later" while it is a request for a time still well ahead
/// (`Task::later_until`).
fn column_of(t: &Task, now: Timestamp) -> &'static str {
    if t.later_until().is_some_and(|until| now < until) {
        return "later";
    }
    match t.status {
        TaskStatus::Open => "open",
        TaskStatus::Accepted => "accepted",
        TaskStatus::InProgress => "in_progress",
        TaskStatus::Done | TaskStatus::Cancelled => "finished",
    }
}

fn is_overdue(t: &BoardTask, now: Timestamp) -> bool {
    !t.task.status.is_final()
        && t.task
            .due_at
            .as_deref()
            .and_then(time::parse_instant)
            .is_some_and(|due| due < now)
}

struct BoardData {
    tasks: Vec<BoardTask>,
    tz: TimeZone,
    now: Timestamp,
}

async fn load(app: &AppState, viewer: &Viewer) -> Result<BoardData, UiError> {
    let now = time::now();
    let since = now
        .checked_sub(FINISHED_SHOWN_FOR)
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    let tasks = app.store.board_tasks(&viewer.user.hotel, since).await?;
    Ok(BoardData {
        tasks,
        tz: hotel_tz(app, &viewer.user.hotel),
        now,
    })
}

fn status_form(viewer: &Viewer, id: &str, to: &str, action: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/board/tasks/" (id) "/status" } data-task-form {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="status" value=(to);
            button type="submit" data-action=(action) { (label) }
        }
    }
}

fn card(viewer: &Viewer, t: &BoardTask, tz: &TimeZone, now: Timestamp) -> Markup {
    let task = &t.task;
    let overdue = is_overdue(t, now);
    let created = time::parse_instant(&task.created_at);
    let status = task.status;
    html! {
        article.card.overdue[overdue].high[task.priority == Priority::High]
            data-task-id=(task.id) data-status=(status.as_str())
            data-escalated=[task.escalated.map(Reason::as_str)] {
            div.card-head {
                span.room { "Room " (task.room) }
                @if task.quantity > 1 { span.qty { "× " (task.quantity) } }
                span.badge { (status.as_str().replace('_', " ")) }
                @if let Some(r) = task.escalated {
                    span.badge.escalated title="Escalated" { "Escalated: " (r.label()) }
                }
            }
            h3 { a href={ "/tasks/" (task.id) } { (task.task_name) } }
            p.meta {
                @if let Some(g) = &task.guest_name { span { (g) } }
                @if let Some(r) = &task.scheduled_for { span { "requested for " (local_time(r, tz, now)) } }
                @if let Some(c) = created { span { (age(c, now)) " ago" } }
                @if let Some(d) = &task.department { span { (d) } }
                @if let Some(f) = &t.floor { span { "floor " (f) } }
            }
            @if let Some(n) = &t.notes { p.notes { (n) } }
            @if overdue {
                p.overdue-flag {
                    "Overdue"
                    @if let Some(d) = &task.due_at { " (due " (local_time(d, tz, now)) ")" }
                }
            }
            @if !status.is_final() {
                div.actions {
                    @if status == TaskStatus::Open {
                        (status_form(viewer, &task.id, "accepted", "accept", "Accept"))
                    }
                    @if matches!(status, TaskStatus::Open | TaskStatus::Accepted) {
                        (status_form(viewer, &task.id, "in_progress", "start", "Start"))
                    }
                    (status_form(viewer, &task.id, "done", "done", "Done"))
                    details.cancel {
                        summary { "Cancel…" }
                        form method="post" action={ "/board/tasks/" (task.id) "/status" } data-task-form {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            input type="hidden" name="status" value="cancelled";
                            label { "Reason " input type="text" name="note" required maxlength="500"; }
                            button type="submit" data-action="cancel" { "Cancel task" }
                        }
                    }
                }
            }
        }
    }
}

fn cards_markup(viewer: &Viewer, data: &BoardData, q: &BoardQuery) -> Markup {
    let keep = |t: &&BoardTask| {
        (q.department.is_empty() || t.task.department.as_deref() == Some(q.department.as_str()))
            && (q.floor.is_empty() || t.floor.as_deref() == Some(q.floor.as_str()))
    };
    html! {
        @for (key, title) in COLUMNS {
            @if q.status.is_empty() || q.status == key {
                @let tasks: Vec<&BoardTask> = data.tasks.iter()
                    .filter(|t| column_of(&t.task, data.now) == key)
                    .filter(keep)
                    .collect();
                section.column aria-label=(title) data-column=(key) {
                    h2 { (title) " " span.count { (tasks.len()) } }
                    @if tasks.is_empty() { p.empty { "Nothing here." } }
                    // Newest last in the store's order; the board shows the oldest (most urgent) first.
                    @for t in &tasks { (card(viewer, t, &data.tz, data.now)) }
                }
            }
        }
    }
}

fn filters(data: &BoardData, q: &BoardQuery) -> Markup {
    let mut departments: Vec<&str> = data
        .tasks
        .iter()
        .filter_map(|t| t.task.department.as_deref())
        .collect();
    departments.sort_unstable();
    departments.dedup();
    let mut floors: Vec<&str> = data
        .tasks
        .iter()
        .filter_map(|t| t.floor.as_deref())
        .collect();
    floors.sort_unstable();
    floors.dedup();
    let overdue = data
        .tasks
        .iter()
        .filter(|t| is_overdue(t, data.now))
        .count();
    html! {
        form.filters method="get" action="/board" {
            label { "Status "
                select name="status" {
                    option value="" selected[q.status.is_empty()] { "All" }
                    @for (key, title) in COLUMNS {
                        option value=(key) selected[q.status == key] { (title) }
                    }
                }
            }
            label { "Department "
                select name="department" {
                    option value="" { "All" }
                    @for d in departments { option value=(d) selected[q.department == d] { (d) } }
                }
            }
            label { "Floor "
                select name="floor" {
                    option value="" { "All" }
                    @for f in floors { option value=(f) selected[q.floor == f] { (f) } }
                }
            }
            button type="submit" { "Filter" }
            @if overdue > 0 { span.overdue-count { (overdue) " overdue" } }
        }
    }
}

pub async fn board(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<BoardQuery>,
) -> Result<Html<String>, UiError> {
    let data = load(&app, &viewer).await?;
    let body = html! {
        h1.visually-hidden { "Task board" }
        (filters(&data, &q))
        p #live-status.live-status role="status" { "Connecting to live updates…" }
        div #cards.board { (cards_markup(&viewer, &data, &q)) }
    };
    Ok(layout(&viewer, "Board", Nav::Board, body))
}

pub async fn cards(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<BoardQuery>,
) -> Result<Html<String>, UiError> {
    let data = load(&app, &viewer).await?;
    Ok(Html(cards_markup(&viewer, &data, &q).into_string()))
}

/// Server-sent events: `event: task` with `{"taskId", "status", "kind"}` for each change of the
/// viewer's hotel, `event: resync` when changes were missed (reload everything). Refused with 429
/// beyond the stream caps (`streams`); ends when the session does or the server shuts down.
pub async fn events(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let slot = app
        .ui
        .streams
        .open(viewer.session, &viewer.user)
        .map_err(|refused| UiError::TooManyStreams(refused.detail()))?;
    let period = app.config.streams.session_check;
    let mut check = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        rx: app.store.subscribe(),
        closing: app.ui.closing(),
        slot,
        check,
        store: app.store.clone(),
        session: viewer.session,
        user_id: viewer.user.user_id,
        hotel: viewer.user.hotel,
    };
    let hello = stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let changes = stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|event| (Ok(event), feed))
    });
    Ok(Sse::new(futures_util::StreamExt::chain(hello, changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One open live stream: its hotel's changes, and what ends it.
struct Feed {
    rx: broadcast::Receiver<TaskChange>,
    closing: watch::Receiver<bool>,
    /// Its place in the stream caps, given back when the stream is dropped.
    slot: StreamSlot,
    check: Interval,
    store: Arc<dyn Store>,
    session: TokenHash,
    user_id: String,
    hotel: HotelId,
}

impl Feed {
    /// The next event to send, or `None` when the stream ends: the server shuts down, the session
    /// was ended on this instance, or the store no longer knows it (expired, signed out elsewhere,
    /// its user disabled or removed).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let next = tokio::select! {
                _ = self.closing.changed() => return None,
                () = self.slot.ended() => return None,
                _ = self.check.tick() => {
                    if self.session_gone().await {
                        return None;
                    }
                    continue;
                }
                next = self.rx.recv() => next,
            };
            return match next {
                Ok(change) if change.hotel == self.hotel => {
                    let data = serde_json::to_string(&change).unwrap_or_default();
                    Some(Event::default().event("task").data(data))
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => Some(Event::default().event("resync").data("{}")),
                Err(RecvError::Closed) => None,
            };
        }
    }

    /// Whether the session is gone: one lookup by its primary key (the same one every page makes).
    /// A store that does not answer ends the stream too: the browser reconnects, and is let in
    /// again only with a session the store confirms.
    async fn session_gone(&self) -> bool {
        match self.store.find_session(self.session, time::now()).await {
            Ok(Some(user)) => user.user_id != self.user_id,
            Ok(None) => true,
            Err(e) => {
                tracing::debug!(error = %e, "live stream: session check failed; ending the stream");
                true
            }
        }
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

pub async fn move_task(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<MoveForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    viewer.check_csrf(&form.csrf)?;
    let id = TaskId::parse(&id).ok_or(UiError::NotFound)?;
    let to = TaskStatus::parse(&form.status)
        .filter(|s| *s != TaskStatus::Open)
        .ok_or_else(|| UiError::BadRequest(format!("unknown status {:?}", form.status)))?;
    let note: String = form.note.trim().chars().take(500).collect();
    if to == TaskStatus::Cancelled && note.is_empty() {
        return Err(UiError::BadRequest(
            "say why the task is cancelled".to_owned(),
        ));
    }
    let task = app
        .store
        .move_task(StatusChange {
            hotel: viewer.user.hotel.clone(),
            task: id.into_string(),
            to,
            actor: viewer.actor(),
            note: (!note.is_empty()).then_some(note),
        })
        .await?;
    // The script asks with fetch and re-reads the cards itself; a plain form post goes back.
    if headers.get("x-requested-with").is_some() {
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"id": task.id, "status": task.status}).to_string(),
        )
            .into_response());
    }
    Ok(Redirect::to("/board").into_response())
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
            dt { "Task id" } dd.mono { (t.id) }
        }
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
