//! `/api/v1`: tasks (list, detail, manual creation, status moves), for any key of the hotel, and the
//! inbound log, for managers only (CONTRACT.md §3).

use std::sync::Arc;

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{RefOr, Schema},
};

use super::{
    AppState,
    auth::{Caller, Manager},
    error::{ApiError, ErrorBody},
    formats as schema,
};
use crate::{
    domain::{
        Task, TaskId, TaskStatus,
        account::{MAX_EMAIL, normalize_email, parse_email},
        formats::{self, FormatError},
        time,
    },
    intake::{self, ManualTask},
    store::{AssignChange, AssigneeFilter, InboundEntry, StatusChange, TaskDetail, TaskFilter},
};

/// The most entries one page of a list holds.
pub const MAX_LIMIT: u32 = 500;
/// Entries on a page when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 50;

/// A page size: 1 to [`MAX_LIMIT`], written as a plain decimal (`domain::formats::decimal`).
pub fn limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => formats::decimal(s, 1, u64::from(MAX_LIMIT))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!("limit must be a number from 1 to {MAX_LIMIT}"))
            }),
    }
}

/// A query string the extractor refused, as the API's answer (400; `ApiError::from`).
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(ApiError::from)
}

/// A body the extractor refused, as the API's answer (400, 413, 415, 408; `ApiError::from`).
pub fn json<T>(j: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    j.map(|Json(t)| t).map_err(ApiError::from)
}

/// A format's refusal as the API's 400.
pub fn invalid(e: FormatError) -> ApiError {
    ApiError::InvalidRequest(e.to_string())
}

/// `GET /api/v1/tasks`'s filters. Each is read as text and checked here, so a refusal says which
/// parameter is wrong; the document gives each its real type and constraints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks in this status
    #[param(schema_with = schema::task_status)]
    status: Option<String>,
    /// Only this room's tasks
    #[param(schema_with = schema::room)]
    room: Option<String>,
    /// RFC 3339: only tasks created at or after this instant
    #[param(schema_with = schema::date_time)]
    since: Option<String>,
    /// Only this department's tasks (exact name, e.g. `Housekeeping`)
    #[param(schema_with = schema::department)]
    department: Option<String>,
    /// `true`: only tasks not finished whose due time has passed; `false` is the same as leaving
    /// it out
    #[param(schema_with = schema::boolean)]
    overdue: Option<String>,
    /// Only the tasks of the hotel's user with this email, or `none`: only those nobody has
    #[param(max_length = 254)]
    assignee: Option<String>,
    /// Tasks on the page (1 to 500, default 50)
    #[param(schema_with = schema::limit)]
    limit: Option<String>,
    /// The `next` of the previous page (same filters)
    #[param(schema_with = schema::cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    /// Newest first
    tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; null on the last page
    next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery),
    security(("api_key" = [])),
    responses((status = 200, body = TaskPage),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: a parameter out of its type or range"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
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
            formats::date_time(s)
                .map(time::format)
                .ok_or_else(|| ApiError::InvalidRequest(format!("since {s:?} is not RFC 3339")))
        })
        .transpose()?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            formats::CURSOR.check(c).map_err(invalid).and_then(|()| {
                c.parse::<i64>()
                    .map_err(|_| ApiError::InvalidRequest(format!("cursor {c:?} is not valid")))
            })
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
    if let Some(room) = &q.room {
        formats::ROOM.check(room).map_err(invalid)?;
    }
    if let Some(d) = &q.department {
        formats::DEPARTMENT.check(d).map_err(invalid)?;
    }
    if q.assignee
        .as_deref()
        .is_some_and(|a| a.chars().count() > MAX_EMAIL)
    {
        return Err(ApiError::InvalidRequest(format!(
            "assignee is at most {MAX_EMAIL} characters"
        )));
    }
    let assignee = q.assignee.as_deref().map(|a| match a.trim() {
        "none" => AssigneeFilter::Nobody,
        email => AssigneeFilter::Email(normalize_email(email)),
    });
    let filter = TaskFilter {
        status,
        room: q.room.map(|r| r.trim().to_owned()),
        since,
        department: q.department.map(|d| d.trim().to_owned()),
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

/// A task id in the path; anything else names no task (404).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskPath {
    /// Task id
    #[param(schema_with = schema::task_id)]
    id: String,
}

impl TaskPath {
    fn task(self) -> Result<TaskId, ApiError> {
        TaskId::parse(&self.id).ok_or(ApiError::NotFound)
    }
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(TaskPath),
    security(("api_key" = [])),
    responses((status = 200, body = TaskDetail),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such task in this key's hotel"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn task_detail(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
) -> Result<Json<TaskDetail>, ApiError> {
    let Path(path) = path?;
    let id = path.task()?;
    app.store
        .task_detail(&caller.hotel, id.as_str())
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// A JSON number as JSON Schema's `integer` reads it: `5`, `5.0` and `5e0` alike.
#[derive(Deserialize)]
#[serde(untagged)]
enum Whole {
    Int(u64),
    Float(f64),
}

impl Whole {
    /// Its value, when it is a whole number from 0 to `u64::MAX`.
    fn value(self) -> Option<u64> {
        match self {
            Whole::Int(n) => Some(n),
            // Every float from 2^53 up is whole; below 2^64 each converts exactly.
            Whole::Float(f)
                if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) =>
            {
                Some(f as u64)
            }
            Whole::Float(_) => None,
        }
    }
}

/// Room numbers and external IDs may be sent as JSON numbers or strings, as Duve does.
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(Whole),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Text(s)) => Ok(Some(s)),
        Some(Raw::Number(n)) => n
            .value()
            .map(|n| Some(n.to_string()))
            .ok_or_else(|| serde::de::Error::custom("a number here must be a whole number from 0")),
    }
}

/// A quantity: a whole number (`2` or `2.0`) that fits 32 bits; its range is `manual_task`'s.
fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<Whole>::deserialize(d)?
        .map(|n| {
            n.value()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| serde::de::Error::custom("quantity must be from 1 to 10000"))
        })
        .transpose()
}

/// The body of `POST /api/v1/tasks` (its schema: `http::formats::new_task`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTask {
    #[serde(default, deserialize_with = "text_or_number")]
    room: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    external_id: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "quantity")]
    quantity: Option<u32>,
    notes: Option<String>,
    due_at: Option<String>,
}

impl PartialSchema for NewTask {
    fn schema() -> RefOr<Schema> {
        schema::new_task()
    }
}

impl ToSchema for NewTask {}

#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = NewTask,
    security(("api_key" = [])),
    responses((status = 201, body = Task),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: not the document's shape (a field missing, of the wrong type, out of its pattern, length or range)"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE: a body over 256 KiB"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE: a body not sent as application/json"),
        (status = 422, body = ErrorBody, description = "UNKNOWN_ROOM, UNKNOWN_SERVICE: a room or external ID the hotel does not have; UNPROCESSABLE: a dueAt of the right shape that names no time"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
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
        notes: body.notes,
        due_at: body.due_at,
    };
    let id = caller.hotel.as_str();
    let mut hotel = app.cache.get(id).await?.ok_or(ApiError::NotFound)?;
    for _ in 0..3 {
        let draft = intake::manual_task(&hotel, &req, time::now())?;
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

/// The body of `POST /api/v1/tasks/{id}/status` (its schema: `http::formats::status_move`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMove {
    status: String,
    note: Option<String>,
}

impl PartialSchema for StatusMove {
    fn schema() -> RefOr<Schema> {
        schema::status_move()
    }
}

impl ToSchema for StatusMove {}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/status", tag = "tasks", request_body = StatusMove,
    params(TaskPath),
    security(("api_key" = [])),
    responses((status = 200, body = Task),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: not the document's shape"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such task in this key's hotel"),
        (status = 409, description = "INVALID_TRANSITION: a move the status machine forbids", body = ErrorBody),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE: a body over 256 KiB"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE: a body not sent as application/json"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn move_task(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<TaskPath>, PathRejection>,
    body: Result<Json<StatusMove>, JsonRejection>,
) -> Result<Json<Task>, ApiError> {
    let Path(path) = path?;
    let body = json(body)?;
    // `open` is a status, so it is well formed; the status machine refuses a move to it (409).
    let to = TaskStatus::parse(&body.status).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "status {:?} is not one of accepted, in_progress, done, cancelled",
            body.status
        ))
    })?;
    if let Some(note) = &body.note {
        formats::NOTE.check(note).map_err(invalid)?;
    }
    let id = path.task()?;
    let task = app
        .store
        .move_task(StatusChange {
            hotel: caller.hotel.clone(),
            task: id.into_string(),
            to,
            actor: caller.actor(),
            note: body.note,
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
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE: a body over 256 KiB"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE: a body not sent as application/json"),
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
    /// Entries on the page (1 to 500, default 50)
    #[param(schema_with = schema::limit)]
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
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: a parameter out of its type or range"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
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
