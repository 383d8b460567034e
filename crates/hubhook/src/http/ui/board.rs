//! The staff board (`/board`): the hotel's tasks as cards in columns, its views (everyone's,
//! "Mine", a department's; a floor, a room), the status, claim and release buttons.
//!
//! However long the hotel's backlog, a board is a page of each column (the most urgent first:
//! escalated, then by due time), each column's count (stopped at a cap) and a link to its next
//! page: `store::BoardStore` reads them through indexes (docs/ui.md, "The board with a long
//! backlog"). The cards are one HTML fragment (`/board/cards`) that the page embeds and that the
//! script fetches again whenever the live feed (`feed.rs`) says a task of this hotel changed: one
//! renderer for the first paint and every update, so views and live changes cannot disagree.

use std::sync::Arc;

use axum::{
    extract::{Form, Path, Query, State, rejection::FormRejection},
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use jiff::{Timestamp, tz::TimeZone};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Nav, Viewer, age, hotel_tz, layout, local_time};

mod view;
use crate::{
    domain::{
        Role, TaskId, TaskStatus,
        account::normalize_email,
        board::Column,
        escalation::{Priority, Reason},
        time,
    },
    http::{AppState, error::UiError},
    store::{AssignChange, Board, BoardQuery, BoardTask, StatusChange},
};
pub use view::BoardParams;
use view::View;

/// Finished tasks stay on the board this long, so a tap on "done" shows where the card went.
const FINISHED_SHOWN_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(2);

/// Cards per column and page.
pub const PAGE: u32 = 50;

/// A column's count stops here ("1,000+"): counting further would read the whole backlog.
pub const COUNT_CAP: u32 = 1000;

struct BoardData {
    board: Board,
    tz: TimeZone,
    now: Timestamp,
}

async fn load(app: &AppState, viewer: &Viewer, view: &View) -> Result<BoardData, UiError> {
    let now = time::now();
    let finished_since = now
        .checked_sub(FINISHED_SHOWN_FOR)
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    let columns = match view.column {
        Some(c) => vec![(c, view.after.clone())],
        None => Column::ALL.into_iter().map(|c| (c, None)).collect(),
    };
    let board = app
        .store
        .board(BoardQuery {
            hotel: viewer.user.hotel.clone(),
            scope: view.scope(viewer),
            columns,
            now,
            finished_since,
            limit: PAGE,
            count_cap: COUNT_CAP,
        })
        .await?;
    Ok(BoardData {
        board,
        tz: hotel_tz(app, &viewer.user.hotel),
        now,
    })
}

fn is_overdue(t: &BoardTask, now: Timestamp) -> bool {
    !t.task.status.is_final()
        && t.task
            .due_at
            .as_deref()
            .and_then(time::parse_instant)
            .is_some_and(|due| due < now)
}

/// A button of a card's one form (`POST /board/tasks/{id}`): its name says what it changes
/// (`status`, or `assignee`: the viewer's email or nothing) and its value to what. Kept lean: a
/// page holds up to 250 cards.
fn button(name: &str, value: &str, action: &str, label: &str) -> Markup {
    html! { button name=(name) value=(value) data-action=(action) { (label) } }
}

/// The longest note a card shows (the task's page shows it whole): a page's size stays bounded
/// whatever the notes.
const CARD_NOTE_CHARS: usize = 140;

/// `n` cut to [`CARD_NOTE_CHARS`] characters, with an ellipsis when it was longer.
fn card_note(n: &str) -> String {
    match n.char_indices().nth(CARD_NOTE_CHARS) {
        Some((at, _)) => format!("{}…", &n[..at]),
        None => n.to_owned(),
    }
}

fn card(viewer: &Viewer, t: &BoardTask, tz: &TimeZone, now: Timestamp) -> Markup {
    let task = &t.task;
    let overdue = is_overdue(t, now);
    let created = time::parse_instant(&task.created_at);
    let status = task.status;
    let me = viewer.user.email.as_str();
    html! {
        article.card.overdue[overdue].high[task.priority == Priority::High]
            data-task-id=(task.id) data-status=(status.as_str())
            data-escalated=[task.escalated.map(Reason::as_str)]
            data-assignee=[task.assignee.as_deref()] {
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
                @if let Some(a) = &task.assignee { span.assignee { "assigned to " (a) } }
            }
            @if let Some(n) = &t.notes { p.notes { (card_note(n)) } }
            @if overdue {
                p.overdue-flag {
                    "Overdue"
                    @if let Some(d) = &task.due_at { " (due " (local_time(d, tz, now)) ")" }
                }
            }
            @if !status.is_final() {
                form.actions method="post" action={ "/board/tasks/" (task.id) } data-task-form {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    @if status == TaskStatus::Open {
                        (button("status", "accepted", "accept", "Accept"))
                    }
                    @if matches!(status, TaskStatus::Open | TaskStatus::Accepted) {
                        (button("status", "in_progress", "start", "Start"))
                    }
                    (button("status", "done", "done", "Done"))
                    @match task.assignee.as_deref() {
                        None => (button("assignee", me, "claim", "Claim")),
                        Some(a) if a == me => (button("assignee", "", "release", "Release")),
                        Some(_) if viewer.user.role == Role::Manager => {
                            (button("assignee", "", "unassign", "Unassign"))
                        }
                        Some(_) => {}
                    }
                    // The reason is checked by the server (and by the script before sending), not
                    // with `required`: the other buttons of the form must not need it.
                    details.cancel {
                        summary { "Cancel…" }
                        label { "Reason " input name="note" maxlength="500"; }
                        (button("status", "cancelled", "cancel", "Cancel task"))
                    }
                }
            }
        }
    }
}

fn cards_markup(viewer: &Viewer, data: &BoardData, view: &View) -> Markup {
    html! {
        @for page in &data.board.columns {
            @let column = page.column;
            section.column aria-label=(column.title()) data-column=(column.key()) {
                h2 { (column.title()) " " span.count { (page.count.label()) } }
                @if page.tasks.is_empty() { p.empty { "Nothing here." } }
                @for t in &page.tasks { (card(viewer, t, &data.tz, data.now)) }
                @if let Some(next) = &page.next {
                    p.more {
                        @if view.after.is_none() {
                            "The first " (page.tasks.len()) " of " (page.count.label()) ". "
                        }
                        a href=(view.href(Some(column), Some(next))) data-more=(column.key()) {
                            "Next " (PAGE) " →"
                        }
                    }
                }
                @if view.after.is_some() {
                    p.more { a href=(view.href(Some(column), None)) { "← Back to the first" } }
                }
            }
        }
    }
}

/// The views: everyone's, the viewer's own, each department's (the viewer's own first).
fn views_nav(view: &View, departments: &[String]) -> Markup {
    let all = View {
        column: view.column,
        ..View::default()
    };
    let mine = View {
        mine: true,
        ..all.clone()
    };
    let current = |v: &View| v.mine == view.mine && v.department == view.department;
    html! {
        nav.views aria-label="Board views" {
            @for (v, label) in [(&all, "All"), (&mine, "Mine")] {
                a href=(v.href(v.column, None)) aria-current=[current(v).then_some("page")]
                    data-view=(if v.mine { "mine" } else { "all" }) { (label) }
            }
            @for d in departments {
                @let v = View { department: Some(d.clone()), ..all.clone() };
                a href=(v.href(v.column, None)) aria-current=[current(&v).then_some("page")]
                    data-view="department" { (d) }
            }
        }
    }
}

fn filters(view: &View, floors: &[String], overdue: &str) -> Markup {
    html! {
        form.filters method="get" action="/board" {
            @if view.mine { input type="hidden" name="view" value="mine"; }
            @if let Some(d) = &view.department { input type="hidden" name="department" value=(d); }
            label { "Column "
                select name="status" {
                    option value="" selected[view.column.is_none()] { "All" }
                    @for c in Column::ALL {
                        option value=(c.key()) selected[view.column == Some(c)] { (c.title()) }
                    }
                }
            }
            @if !floors.is_empty() {
                label { "Floor "
                    select name="floor" {
                        option value="" { "All" }
                        @for f in floors {
                            option value=(f) selected[view.floor.as_deref() == Some(f.as_str())] { (f) }
                        }
                    }
                }
            }
            label { "Room "
                input type="search" name="room" size="6" maxlength="100" inputmode="numeric"
                    value=[view.room.as_deref()];
            }
            button type="submit" { "Filter" }
            @if overdue != "0" { span.overdue-count { (overdue) " overdue" } }
        }
    }
}

/// The hotel's departments for the views: the viewer's own first, then the others by name.
async fn departments(app: &AppState, viewer: &Viewer) -> Result<Vec<String>, UiError> {
    let hotel = &viewer.user.hotel;
    let users = app.store.list_users(hotel).await?;
    let own = users
        .iter()
        .find(|u| u.id == viewer.user.user_id)
        .and_then(|u| u.department.clone());
    let mut others: Vec<String> = app
        .cache
        .cached(hotel.as_str())
        .map(|h| {
            h.catalog
                .values()
                .filter_map(|e| e.department.clone())
                .collect()
        })
        .unwrap_or_default();
    others.sort_unstable();
    others.dedup();
    others.retain(|d| Some(d) != own.as_ref());
    Ok(own.into_iter().chain(others).collect())
}

pub async fn board(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(p): Query<BoardParams>,
) -> Result<Html<String>, UiError> {
    let view = View::parse(&p)?;
    let data = load(&app, &viewer, &view).await?;
    let departments = departments(&app, &viewer).await?;
    let mut floors: Vec<String> = app
        .store
        .list_rooms(&viewer.user.hotel)
        .await?
        .into_iter()
        .filter_map(|r| r.floor)
        .collect();
    floors.sort_unstable();
    floors.dedup();
    let body = html! {
        h1.view-title { (view.title()) }
        (views_nav(&view, &departments))
        (filters(&view, &floors, &data.board.overdue.label()))
        p #live-status.live-status role="status" { "Connecting to live updates…" }
        div #cards.board { (cards_markup(&viewer, &data, &view)) }
    };
    Ok(layout(&viewer, "Board", Nav::Board, body))
}

pub async fn cards(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Query(p): Query<BoardParams>,
) -> Result<Html<String>, UiError> {
    let view = View::parse(&p)?;
    let data = load(&app, &viewer, &view).await?;
    Ok(Html(cards_markup(&viewer, &data, &view).into_string()))
}

/// A card's form, and the task page's: what the pressed button changes.
#[derive(Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    csrf: String,
    /// A status move to this.
    status: Option<String>,
    /// An assignment to this email (empty: nobody).
    assignee: Option<String>,
    /// A move's reason (required to cancel).
    #[serde(default)]
    note: String,
    /// `task`: answer with the task's page rather than the board.
    #[serde(default)]
    back: String,
}

/// The script asks with fetch and re-reads the cards itself; a plain form post goes back.
fn answered(headers: &HeaderMap, id: &str, status: TaskStatus, back: &str) -> Response {
    if headers.get("x-requested-with").is_some() {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"id": id, "status": status}).to_string(),
        )
            .into_response();
    }
    match back {
        "task" => Redirect::to(&format!("/tasks/{id}")).into_response(),
        _ => Redirect::to("/board").into_response(),
    }
}

/// What a [`TaskForm`] asks for.
enum Intent {
    Move(String),
    Assign(String),
}

/// `POST /board/tasks/{id}`: a card's buttons, by the one they pressed (`assignee` or `status`).
pub async fn act(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<TaskForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    let intent = match (form.assignee.clone(), form.status.clone()) {
        (Some(a), _) => Intent::Assign(a),
        (None, Some(s)) => Intent::Move(s),
        (None, None) => return Err(UiError::BadRequest("nothing to change".into())),
    };
    change(&app, &viewer, &id, &headers, form, intent).await
}

/// `POST /board/tasks/{id}/status` (`status`, `note`): a status move.
pub async fn move_task(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<TaskForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    let intent = Intent::Move(form.status.clone().unwrap_or_default());
    change(&app, &viewer, &id, &headers, form, intent).await
}

/// `POST /board/tasks/{id}/assign` (`assignee`: an email, or empty for nobody): a staff account
/// may claim for itself and release its own; a manager assigns anyone of the hotel or clears
/// (`domain::assignment`).
pub async fn assign(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<TaskForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(form) = form.map_err(|e| UiError::BadRequest(e.body_text()))?;
    let intent = Intent::Assign(form.assignee.clone().unwrap_or_default());
    change(&app, &viewer, &id, &headers, form, intent).await
}

/// A move or an assignment, once the form's CSRF token is the session's.
async fn change(
    app: &AppState,
    viewer: &Viewer,
    id: &str,
    headers: &HeaderMap,
    form: TaskForm,
    intent: Intent,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let id = TaskId::parse(id).ok_or(UiError::NotFound)?;
    let hotel = viewer.user.hotel.clone();
    let task = match intent {
        Intent::Move(raw) => {
            let to = TaskStatus::parse(&raw)
                .filter(|s| *s != TaskStatus::Open)
                .ok_or_else(|| UiError::BadRequest(format!("unknown status {raw:?}")))?;
            let note: String = form.note.trim().chars().take(500).collect();
            if to == TaskStatus::Cancelled && note.is_empty() {
                return Err(UiError::BadRequest(
                    "say why the task is cancelled".to_owned(),
                ));
            }
            app.store
                .move_task(StatusChange {
                    hotel,
                    task: id.into_string(),
                    to,
                    actor: viewer.actor(),
                    note: (!note.is_empty()).then_some(note),
                })
                .await?
        }
        Intent::Assign(raw) => {
            let staff_user = match viewer.user.role {
                Role::Manager => None,
                Role::Staff => Some(viewer.user.user_id.clone()),
            };
            app.store
                .assign_task(AssignChange {
                    hotel,
                    task: id.into_string(),
                    assignee: Some(normalize_email(&raw)).filter(|e| !e.is_empty()),
                    staff_user,
                    actor: viewer.actor(),
                })
                .await?
        }
    };
    Ok(answered(headers, &task.id, task.status, &form.back))
}
