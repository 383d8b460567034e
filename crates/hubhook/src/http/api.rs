//! `/api/v1`: tasks (list, detail, manual creation, status moves), for any key of the hotel, and the
//! inbound log, for managers only (CONTRACT.md §3).

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::StatusCode,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    auth::{Caller, Manager},
    error::{ApiError, ErrorBody},
};
use crate::{
    domain::{
        Task, TaskId, TaskStatus,
        account::{MAX_EMAIL, normalize_email, parse_email},
        time,
    },
    intake::{self, ManualTask},
    store::{AssignChange, AssigneeFilter, InboundEntry, StatusChange, TaskDetail, TaskFilter},
};

pub const MAX_LIMIT: u32 = 500;
const DEFAULT_LIMIT: u32 = 50;

pub fn limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::InvalidRequest(format!(
                "limit must be a number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// open, accepted, in_progress, done or cancelled
    status: Option<String>,
    room: Option<String>,
    /// RFC 3339: only tasks created at or after this instant
    since: Option<String>,
    /// Only this department's tasks (exact name, e.g. `Housekeeping`)
    department: Option<String>,
    /// `true`: only tasks not finished whose due time has passed
    overdue: Option<String>,
    /// Only the tasks of the hotel's user with this email, or `none`: only those nobody has
    assignee: Option<String>,
    /// 1 to 500, default 50
    limit: Option<String>,
    /// The `next` of the previous page
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    /// Newest first
    tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; null on the last page
    next: Option<String>,
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::InvalidRequest(e.body_text()))
}

fn json<T>(j: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    j.map(|Json(t)| t)
        .map_err(|e| ApiError::InvalidRequest(e.body_text()))
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery),
    security(("api_key" = [])),
    responses((status = 200, body = TaskPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one")))]
pub async fn list_tasks(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    q: Result<Query<TaskQuery>, QueryRejection>,
) -> Result<Json<TaskPage>, ApiError> {
    let q = query(q)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            TaskStatus::parse(s).ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "status {s:?} is not one of open, accepted, in_progress, done, cancelled"
                ))
            })
        })
        .transpose()?;
    let since = q
        .since
        .as_deref()
        .map(|s| {
            time::parse_instant(s)
                .map(time::format)
                .ok_or_else(|| ApiError::InvalidRequest(format!("since {s:?} is not RFC 3339")))
        })
        .transpose()?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::InvalidRequest(format!("cursor {c:?} is not valid")))
        })
        .transpose()?;
    let overdue_at = match q.overdue.as_deref() {
        None | Some("false") => None,
        Some("true") => Some(time::format(time::now())),
        Some(o) => {
            return Err(ApiError::InvalidRequest(format!(
                "overdue {o:?} is not true or false"
            )));
        }
    };
    let department = q
        .department
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    let assignee = q.assignee.as_deref().map(|a| match a.trim() {
        "none" => AssigneeFilter::Nobody,
        email => AssigneeFilter::Email(normalize_email(email)),
    });
    let filter = TaskFilter {
        status,
        room: q.room.map(|r| r.trim().to_owned()),
        since,
        department,
        overdue_at,
        assignee,
        limit: limit(q.limit.as_deref())?,
        cursor,
    };
    let (tasks, next) = app.store.list_tasks(&caller.hotel, filter).await?;
    Ok(Json(TaskPage {
        tasks,
        next: next.map(|n| n.to_string()),
    }))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    security(("api_key" = [])),
    responses((status = 200, body = TaskDetail), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one")))]
pub async fn task_detail(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    let id = TaskId::parse(&id).ok_or(ApiError::NotFound)?;
    app.store
        .task_detail(&caller.hotel, id.as_str())
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Room numbers and external IDs may be sent as JSON numbers or strings, as Duve does.
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|r| match r {
        Raw::Text(s) => s,
        Raw::Int(n) => n.to_string(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTask {
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(value_type = String)]
    room: Option<String>,
    /// A catalog external ID; the task takes its name, department and SLA
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(value_type = Option<String>)]
    external_id: Option<String>,
    /// The task's name (required without externalId)
    name: Option<String>,
    quantity: Option<u32>,
    notes: Option<String>,
    /// RFC 3339, or a local time in the hotel's timezone
    due_at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = NewTask,
    security(("api_key" = [])),
    responses((status = 201, body = Task),
        (status = 400, body = ErrorBody, description = "Invalid, or an unknown room or service"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one")))]
pub async fn create_task(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<NewTask>, JsonRejection>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let body = json(body)?;
    let room = body
        .room
        .ok_or_else(|| ApiError::InvalidRequest("room is required".into()))?;
    let req = ManualTask {
        room,
        external_id: body.external_id,
        name: body.name,
        quantity: body.quantity.unwrap_or(1),
        notes: body.notes.map(|n| n.chars().take(2000).collect()),
        due_at: body.due_at,
    };
    let id = caller.hotel.as_str();
    let mut hotel = app.cache.get(id).await?.ok_or(ApiError::NotFound)?;
    for _ in 0..3 {
        let draft = intake::manual_task(&hotel, &req, time::now()).map_err(ApiError::Refused)?;
        match app
            .store
            .create_task(
                caller.hotel.clone(),
                hotel.config_version,
                draft,
                caller.actor(),
            )
            .await?
        {
            Some(task) => return Ok((StatusCode::CREATED, Json(task))),
            // The hotel's configuration changed meanwhile: read it again and decide again.
            None => {
                hotel = app
                    .cache
                    .refresh(id, Some(hotel.config_version))
                    .await?
                    .ok_or(ApiError::NotFound)?
            }
        }
    }
    Err(ApiError::Unavailable(
        "the hotel's configuration kept changing".into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusMove {
    /// accepted, in_progress, done or cancelled
    status: String,
    note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/status", tag = "tasks", request_body = StatusMove,
    params(("id" = String, Path, description = "Task id")),
    security(("api_key" = [])),
    responses((status = 200, body = Task), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "INVALID_TRANSITION", body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one")))]
pub async fn move_task(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<StatusMove>, JsonRejection>,
) -> Result<Json<Task>, ApiError> {
    let body = json(body)?;
    let id = TaskId::parse(&id).ok_or(ApiError::NotFound)?;
    let to = TaskStatus::parse(&body.status).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "status {:?} is not one of accepted, in_progress, done, cancelled",
            body.status
        ))
    })?;
    let task = app
        .store
        .move_task(StatusChange {
            hotel: caller.hotel.clone(),
            task: id.into_string(),
            to,
            actor: caller.actor(),
            note: body.note.map(|n| n.chars().take(2000).collect()),
        })
        .await?;
    Ok(Json(task))
}

/// A field that must be present, null or not: absent is `None`, null `Some(None)`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `POST /api/v1/tasks/{id}/assign`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The email of a user of the task's hotel, or null to clear the assignee. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "email", max_length = 254, required = true)]
    assignee: Option<Option<String>>,
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/assign", tag = "tasks", request_body = AssignRequest,
    params(("id" = String, Path, description = "Task id")),
    security(("api_key" = [])),
    description = "Sets or clears the task's assignee (CONTRACT.md section 6). A manager key \
        assigns any user of the hotel, reassigns or clears; a staff key has no identity to claim \
        with (staff claim on the board, signed in). Each change is kept in the task's history and \
        raises `task.assigned`; asking for the assignee the task already has changes nothing.",
    responses(
        (status = 200, body = Task, description = "The task as it now reads"),
        (status = 400, body = ErrorBody,
            description = "INVALID_REQUEST: no `assignee` field, or not an email or null"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: assigning is a manager's"),
        (status = 404, body = ErrorBody,
            description = "NOT_FOUND: no such task in the key's hotel; UNKNOWN_ASSIGNEE: no user \
                of the hotel has that email (another hotel's user included)"),
        (status = 409, body = ErrorBody,
            description = "ASSIGNEE_DISABLED: the user is disabled"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: storage unavailable")))]
pub async fn assign_task(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    Path(id): Path<String>,
    body: Result<Json<AssignRequest>, JsonRejection>,
) -> Result<Json<Task>, ApiError> {
    let body = json(body)?;
    let id = TaskId::parse(&id).ok_or(ApiError::NotFound)?;
    let assignee = match body.assignee {
        None => {
            return Err(ApiError::InvalidRequest(
                "assignee is required: a user's email, or null to clear".into(),
            ));
        }
        Some(None) => None,
        Some(Some(raw)) => Some(
            parse_email(&raw)
                .filter(|e| e.len() <= MAX_EMAIL)
                .ok_or_else(|| {
                    ApiError::InvalidRequest(format!("assignee {raw:?} is not an email"))
                })?,
        ),
    };
    let task = app
        .store
        .assign_task(AssignChange {
            hotel: caller.hotel.clone(),
            task: id.into_string(),
            assignee,
            staff_user: None,
            actor: caller.actor(),
        })
        .await?;
    Ok(Json(task))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboundQuery {
    /// 1 to 500, default 50
    limit: Option<String>,
}

/// The bodies one inbound log answer holds at most: the list stops at the entry that reaches it
/// (the newest entry always comes), so `limit=500` of 1 MiB bodies is not a 500 MiB answer.
pub const INBOUND_BODY_BUDGET: u64 = 8 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundPage {
    /// Newest first
    entries: Vec<InboundEntry>,
}

#[utoipa::path(get, path = "/api/v1/inbound", tag = "inbound", params(InboundQuery),
    security(("api_key" = [])),
    responses((status = 200, body = InboundPage, description = "With each webhook's raw body"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn inbound(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    q: Result<Query<InboundQuery>, QueryRejection>,
) -> Result<Json<InboundPage>, ApiError> {
    let q = query(q)?;
    let entries = app
        .store
        .list_inbound(
            &caller.hotel,
            limit(q.limit.as_deref())?,
            INBOUND_BODY_BUDGET,
        )
        .await?;
    Ok(Json(InboundPage { entries }))
}
