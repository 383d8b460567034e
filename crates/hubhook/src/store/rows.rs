//! What both backends share in reading and writing rows: the [`Columns`] trait each implements for
//! its own row type, the decoders from result rows to the store's types written once on top of it,
//! and the text the inbound log's columns hold. SQL text and running it stay in `sqlite/` and
//! `postgres/`.

use std::borrow::Cow;

use duve::ReservationFacts;
use serde::Serialize;

use super::{
    ApiKey, ApiKeyInfo, BoardTask, Escalating, HotelSummary, InboundEntry, InboundPreview,
    IngestRequest, Refused, Room, SessionUser, StoreError, TaskDetail, User, UserInfo,
};
use crate::domain::{
    CatalogEntry, HotelFacts, HotelId, Role, RoomSet, Task, TaskEvent, TaskStatus,
    escalation::{Clock, Escalations, Priority},
    hotel::parse_timezone,
    secret::hash_from_slice,
    time,
};
use crate::intake::{Outcome, Share, SlotHolder};

/// One result row, read by column index; each backend implements it for its own row type.
pub(super) trait Columns {
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column of any width.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A nullable integer column of any width.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    /// A nullable boolean column (from an outer join).
    fn opt_flag(&self, i: usize) -> Result<Option<bool>, StoreError>;
    /// A binary column.
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}

/// The error for a stored value that does not parse as a `what`.
pub(super) fn stored(what: &str, raw: &str) -> StoreError {
    StoreError::Unavailable(format!("unknown {what} {raw:?} stored"))
}

/// A stored count; 0 for one out of range.
pub(super) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A stored task status.
pub(super) fn status_from(raw: &str) -> Result<TaskStatus, StoreError> {
    TaskStatus::parse(raw).ok_or_else(|| stored("task status", raw))
}

/// The columns [`task_from_row`] reads, in its order. The assignee is stored as the user's id and
/// shown as their email (none once the user is removed); unqualified, so that it reads `tasks`
/// alone or joined with `rooms`.
pub(super) const TASK_COLS: &str = "id, external_id, task_name, room, guest_name, quantity, status, \
     due_at, created_at, order_id, requested_at, department, priority, escalations, order_ids, \
     (SELECT u.email FROM users u WHERE u.id = assignee_id), archived";

/// How many columns [`TASK_COLS`] names.
pub(super) const TASK_COL_COUNT: usize = 17;

/// Where [`TASK_COLS`] has `escalations`.
const ESCALATIONS_COL: usize = 13;

/// A task from a row selected with [`TASK_COLS`].
pub(super) fn task_from_row(r: &impl Columns) -> Result<Task, StoreError> {
    task_at(r, 0)
}

/// A task from the columns of [`TASK_COLS`] starting at column `at`.
pub(super) fn task_at(r: &impl Columns, at: usize) -> Result<Task, StoreError> {
    Ok(Task {
        id: r.text(at)?,
        external_id: r.opt_text(at + 1)?,
        task_name: r.text(at + 2)?,
        room: r.text(at + 3)?,
        guest_name: r.opt_text(at + 4)?,
        quantity: count(r.int(at + 5)?),
        status: status_from(&r.text(at + 6)?)?,
        due_at: r.opt_text(at + 7)?,
        created_at: r.text(at + 8)?,
        order_ids: order_ids(r.opt_text(at + 9)?, r.opt_text(at + 14)?),
        scheduled_for: r.opt_text(at + 10)?,
        department: r.opt_text(at + 11)?,
        priority: Priority::parse(&r.text(at + 12)?),
        escalated: Escalations::from_stored(r.int(at + ESCALATIONS_COL)?).shown(),
        assignee: r.opt_text(at + 15)?,
        archived: r.flag(at + 16)?,
    })
}

/// A merge slot's holder from [`TASK_COLS`]`, order_key, coalesce(merged_at, created_at),
/// merged_at IS NOT NULL`.
pub(super) fn holder_from_row(r: &impl Columns) -> Result<SlotHolder, StoreError> {
    let task = task_from_row(r)?;
    const AT: usize = TASK_COL_COUNT;
    let last = r.text(AT + 1)?;
    Ok(SlotHolder {
        order_id: r.opt_text(9)?,
        order_key: r.text(AT)?,
        last_order_at: time::parse_instant(&last).ok_or_else(|| stored("time", &last))?,
        merged: r.flag(AT + 2)?,
        task,
    })
}

/// One order's share of a merged task from `task_id, order_key, quantity, cancelled`.
pub(super) fn share_from_row(r: &impl Columns) -> Result<Share, StoreError> {
    Ok(Share {
        task_id: r.text(0)?,
        order_key: r.text(1)?,
        quantity: count(r.int(2)?),
        cancelled: r.flag(3)?,
    })
}

/// A task's `orderIds`: the list stored once an order merged into it, else its own order's id.
fn order_ids(order_id: Option<String>, merged: Option<String>) -> Vec<String> {
    match merged.and_then(|m| serde_json::from_str::<Vec<String>>(&m).ok()) {
        Some(ids) => ids,
        None => order_id.into_iter().collect(),
    }
}

/// A task due to escalate, from `seq, hotel_id, `[`TASK_COLS`]`, escalate_after_secs`: its row,
/// hotel, the task, what escalation needs of it, and the hotel's escalate-after.
pub(super) fn escalating_from_row(r: &impl Columns) -> Result<Escalating, StoreError> {
    let task = task_at(r, 2)?;
    let parse = |raw: &str| time::parse_instant(raw).ok_or_else(|| stored("time", raw));
    let clock = Clock {
        status: task.status,
        created_at: parse(&task.created_at)?,
        due_at: task.due_at.as_deref().map(parse).transpose()?,
        fired: Escalations::from_stored(r.int(2 + ESCALATIONS_COL)?),
    };
    let after = r.int(2 + TASK_COL_COUNT)?;
    Ok(Escalating {
        seq: r.int(0)?,
        hotel: r.text(1)?,
        task,
        clock,
        escalate_after_secs: u32::try_from(after).ok().filter(|s| *s > 0),
    })
}

/// One page of a task list read with one row more than `limit` (each task with its `seq`): the
/// tasks, and the cursor of the next page when there is one.
pub(super) fn page(mut rows: Vec<(Task, i64)>, limit: u32) -> (Vec<Task>, Option<i64>) {
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|(_, seq)| *seq)
    } else {
        None
    };
    (rows.into_iter().map(|(t, _)| t).collect(), next)
}

/// What is known of `reservation` from `room_number, first_name, last_name, language, check_in,
/// check_out`.
pub(super) fn context_from_row(
    r: &impl Columns,
    reservation: &str,
) -> Result<ReservationFacts, StoreError> {
    Ok(ReservationFacts {
        reservation_id: Some(reservation.to_owned()),
        room_number: r.opt_text(0)?,
        first_name: r.opt_text(1)?,
        last_name: r.opt_text(2)?,
        language: r.opt_text(3)?,
        check_in: r.opt_text(4)?,
        check_out: r.opt_text(5)?,
    })
}

/// A task's detail without its events from [`TASK_COLS`]` , reservation_id, notes, language,
/// updated_at`.
pub(super) fn detail_from_row(r: &impl Columns) -> Result<TaskDetail, StoreError> {
    let task = task_from_row(r)?;
    const AT: usize = TASK_COL_COUNT;
    Ok(TaskDetail {
        order_id: r.opt_text(9)?,
        task,
        reservation_id: r.opt_text(AT)?,
        notes: r.opt_text(AT + 1)?,
        language: r.opt_text(AT + 2)?,
        updated_at: r.text(AT + 3)?,
        events: Vec::new(),
    })
}

/// A task's history entry from `at, actor, from_status, to_status, note`.
pub(super) fn event_from_row(r: &impl Columns) -> Result<TaskEvent, StoreError> {
    Ok(TaskEvent {
        at: r.text(0)?,
        actor: r.text(1)?,
        from: r.opt_text(2)?.as_deref().map(status_from).transpose()?,
        to: status_from(&r.text(3)?)?,
        note: r.opt_text(4)?,
    })
}

/// The columns a board card reads after [`TASK_COLS`] (tasks as `t`, rooms as `r`).
pub(super) const BOARD_EXTRA_COLS: &str = "r.floor, t.notes, t.updated_at, t.board_at, \
     t.later_until, t.seq";

/// A board task from [`TASK_COLS`]`, `[`BOARD_EXTRA_COLS`].
pub(super) fn board_task_from_row(r: &impl Columns) -> Result<BoardTask, StoreError> {
    const AT: usize = TASK_COL_COUNT;
    Ok(BoardTask {
        task: task_from_row(r)?,
        floor: r.opt_text(AT)?,
        notes: r.opt_text(AT + 1)?,
        updated_at: r.text(AT + 2)?,
        board_at: r.opt_text(AT + 3)?,
        later_until: r.opt_text(AT + 4)?,
        seq: r.int(AT + 5)?,
    })
}

/// An inbound log entry from [`INBOUND_COLS`]` , body`.
pub(super) fn inbound_from_row(r: &impl Columns) -> Result<InboundEntry, StoreError> {
    Ok(InboundEntry {
        id: r.int(0)?,
        received_at: r.text(1)?,
        event: r.opt_text(2)?,
        code: r.text(3)?,
        details: serde_json::from_str(&r.text(4)?).unwrap_or_default(),
        task_ids: serde_json::from_str(&r.text(5)?).unwrap_or_default(),
        duration_ms: r.int(6)? as f64 / 1000.0,
        replay_of: r.opt_int(7)?,
        body: r.text(8)?,
    })
}

/// The columns [`inbound_from_row`] reads, but the body (last, and read as each query needs it).
pub(super) const INBOUND_COLS: &str =
    "seq, received_at, event, code, details, task_ids, duration_us, replay_of";

/// An inbound log page's entry from [`INBOUND_COLS`], the body's first characters, and the whole
/// body's size in bytes.
pub(super) fn inbound_preview_from_row(r: &impl Columns) -> Result<InboundPreview, StoreError> {
    Ok(InboundPreview {
        entry: inbound_from_row(r)?,
        body_bytes: u64::try_from(r.int(9)?).unwrap_or(0),
    })
}

/// One inbound log entry as both backends write it: its lists and body already in their columns'
/// text.
pub(super) struct InboundWrite<'a> {
    /// When the webhook arrived, formatted.
    pub received_at: String,
    /// The event's name, when the body had one.
    pub event: Option<&'a str>,
    /// The outcome's or the refusal's code.
    pub code: &'a str,
    /// The refusal's details, a JSON array.
    pub details: String,
    /// The tasks the webhook touched, a JSON array of ids.
    pub task_ids: String,
    /// The body as text.
    pub body: Cow<'a, str>,
    /// How long the webhook took until this write, in microseconds.
    pub duration_us: i64,
    /// The entry a replay decided again.
    pub replay_of: Option<i64>,
}

impl<'a> InboundWrite<'a> {
    /// The entry of a webhook the store settled with `outcome`.
    pub(super) fn settled(req: &'a IngestRequest, outcome: &Outcome) -> Self {
        Self {
            received_at: time::format(req.received_at),
            event: req.event.as_deref(),
            code: outcome.code(),
            details: json_list(outcome.details()),
            task_ids: json_list(&outcome.task_ids()),
            body: body_text(&req.body),
            duration_us: req.started.elapsed().as_micros() as i64,
            replay_of: req.replay_of,
        }
    }

    /// The entry of a webhook refused before the store was asked to settle it (no body kept).
    pub(super) fn refused(r: &'a Refused) -> Self {
        Self {
            received_at: time::format(r.received_at),
            event: r.event.as_deref(),
            code: r.code,
            details: json_list(&r.details),
            task_ids: json_list::<&str>(&[]),
            body: Cow::Borrowed(""),
            duration_us: r.started.elapsed().as_micros() as i64,
            replay_of: None,
        }
    }
}

/// A list as the inbound log's `details` and `task_ids` columns hold it: a JSON array.
pub(super) fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// A webhook's body as the inbound log's `body` column holds it.
pub(super) fn body_text(body: &[u8]) -> Cow<'_, str> {
    // Bodies that parsed are valid UTF-8: the plain check is several times cheaper than the lossy
    // conversion's, on the path that every request waits for.
    std::str::from_utf8(body)
        .map(Cow::Borrowed)
        .unwrap_or_else(|_| String::from_utf8_lossy(body))
}

/// The columns [`facts_from_row`] reads, in its order.
pub(super) const HOTEL_COLS: &str = "id, name, timezone, sync_paid_orders, access_hash, \
     password_hash, config_version, escalate_after_secs, merge_window_secs";

/// A hotel's row without its rooms and catalog; None (and a warning) for a row that does not parse.
pub(super) fn facts_from_row(r: &impl Columns) -> Result<Option<HotelFacts>, StoreError> {
    let id = r.text(0)?;
    let tz = r.text(2)?;
    let access = r.bytes(4)?;
    let password = r.bytes(5)?;
    let version = r.int(6)?;
    let (Ok(hotel_id), Some(access_hash), Some(password_hash)) = (
        HotelId::parse(&id),
        hash_from_slice(&access),
        hash_from_slice(&password),
    ) else {
        tracing::warn!(hotel = %id, "skipping a hotel row that does not parse");
        return Ok(None);
    };
    Ok(Some(HotelFacts {
        id: hotel_id,
        config_version: version as u64,
        name: r.text(1)?,
        timezone: parse_timezone(&tz).unwrap_or(jiff::tz::TimeZone::UTC),
        sync_paid_orders: r.flag(3)?,
        escalate_after_secs: u32::try_from(r.int(7)?).ok().filter(|s| *s > 0),
        merge_window_secs: u32::try_from(r.int(8)?).ok().filter(|s| *s > 0),
        access_hash,
        password_hash,
        rooms: RoomSet::default(),
        catalog: Default::default(),
    }))
}

/// A hotel as the hotel list shows it from `id, name, timezone, sync_paid_orders, created_at`, its
/// count of rooms, and `escalate_after_secs, merge_window_secs, shift_ends, archive_after_secs`.
pub(super) fn summary_from_row(r: &impl Columns) -> Result<HotelSummary, StoreError> {
    Ok(HotelSummary {
        hotel_id: r.text(0)?,
        name: r.text(1)?,
        timezone: r.text(2)?,
        sync_paid_orders: r.flag(3)?,
        created_at: r.text(4)?,
        rooms: r.int(5)? as u64,
        escalate_after: time::format_setting_duration(u32::try_from(r.int(6)?).ok()),
        merge_window: time::format_setting_duration(u32::try_from(r.int(7)?).ok()),
        shift_ends: r
            .text(8)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        archive_after: time::format_setting_duration(u32::try_from(r.int(9)?).ok()),
    })
}

/// A room from `number, floor`.
pub(super) fn room_from_row(r: &impl Columns) -> Result<Room, StoreError> {
    Ok(Room {
        room: r.text(0)?,
        floor: r.opt_text(1)?,
    })
}

/// A catalog entry from `external_id, name, department, sla_minutes` starting at column `at`.
pub(super) fn catalog_entry(r: &impl Columns, at: usize) -> Result<CatalogEntry, StoreError> {
    Ok(CatalogEntry {
        external_id: r.text(at)?,
        name: r.text(at + 1)?,
        department: r.opt_text(at + 2)?,
        sla_minutes: r.opt_int(at + 3)?.and_then(|m| u32::try_from(m).ok()),
    })
}

/// The hotel and role of an account's row; None for a row whose either does not parse.
fn hotel_and_role(hotel: &str, role: &str) -> Option<(HotelId, Role)> {
    Some((HotelId::parse(hotel).ok()?, Role::parse(role)?))
}

/// An API key from `id, hotel_id, role`; None for a row that does not parse.
pub(super) fn api_key_from_row(r: &impl Columns) -> Result<Option<ApiKey>, StoreError> {
    let Some((hotel_id, role)) = hotel_and_role(&r.text(1)?, &r.text(2)?) else {
        return Ok(None);
    };
    Ok(Some(ApiKey {
        id: r.text(0)?,
        hotel_id,
        role,
        created_by: r.opt_text(3)?,
    }))
}

/// The columns [`user_from_row`] reads, in its order.
pub(super) const USER_COLS: &str = "id, hotel_id, email, role, password_hash, disabled";

/// An account from [`USER_COLS`]; None for a row that does not parse.
pub(super) fn user_from_row(r: &impl Columns) -> Result<Option<User>, StoreError> {
    let Some((hotel, role)) = hotel_and_role(&r.text(1)?, &r.text(3)?) else {
        return Ok(None);
    };
    Ok(Some(User {
        id: r.text(0)?,
        hotel,
        email: r.text(2)?,
        role,
        password_hash: r.text(4)?,
        disabled: r.flag(5)?,
    }))
}

/// The columns [`user_info_from_row`] reads, in its order.
pub(super) const USER_INFO_COLS: &str = "id, email, role, department, disabled, created_at";

/// An account as listed, from [`USER_INFO_COLS`]; an unknown role is an error (the list would
/// otherwise hide an account).
pub(super) fn user_info_from_row(r: &impl Columns) -> Result<UserInfo, StoreError> {
    let role = r.text(2)?;
    Ok(UserInfo {
        id: r.text(0)?,
        email: r.text(1)?,
        role: Role::parse(&role).ok_or_else(|| stored("role", &role))?,
        department: r.opt_text(3)?,
        disabled: r.flag(4)?,
        created_at: r.text(5)?,
    })
}

/// A session's account from `id, email, hotel_id, role`; None for a row that does not parse.
pub(super) fn session_from_row(r: &impl Columns) -> Result<Option<SessionUser>, StoreError> {
    let Some((hotel, role)) = hotel_and_role(&r.text(2)?, &r.text(3)?) else {
        return Ok(None);
    };
    Ok(Some(SessionUser {
        user_id: r.text(0)?,
        email: r.text(1)?,
        hotel,
        role,
    }))
}

/// An API key as its hotel's list shows it from `id, role, created_at`; None for an unknown role.
pub(super) fn key_info_from_row(r: &impl Columns) -> Result<Option<ApiKeyInfo>, StoreError> {
    let Some(role) = Role::parse(&r.text(1)?) else {
        return Ok(None);
    };
    Ok(Some(ApiKeyInfo {
        id: r.text(0)?,
        role,
        created_at: r.text(2)?,
        created_by: r.opt_text(3)?,
    }))
}
