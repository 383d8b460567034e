//! A task a staff member or an integrator makes through the API (`POST /api/v1/tasks`): checked
//! against the document's formats first, then against the hotel's rooms and catalog, the same
//! rules as a webhook's.

use jiff::Timestamp;

use super::{TaskDraft, due_at, escalate_at};
use crate::domain::{
    HotelFacts, RoomNumber,
    formats::{self, FormatError},
    time,
};

/// The most of one service a task may ask for.
pub const MAX_QUANTITY: u32 = 10_000;

/// A task as asked for, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualTask {
    pub room: String,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub quantity: u32,
    pub notes: Option<String>,
    pub due_at: Option<String>,
}

/// Why a task was not made. The first three are the request's shape (the OpenAPI document says
/// as much: HTTP 400); the others name what this hotel does not have (HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualTaskError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("a task needs an externalId from the catalog or a name")]
    NoName,
    #[error("quantity must be from 1 to {MAX_QUANTITY}")]
    Quantity,
    #[error("room {0:?} is not registered")]
    UnknownRoom(String),
    #[error("external ID {0:?} is not in the catalog")]
    UnknownService(String),
    #[error("dueAt {0:?} is not a time (no such date, or no such time in the hotel's timezone)")]
    NotATime(String),
}

/// Checks a manual task's fields, then the hotel's rooms and catalog, and drafts the task.
pub fn manual_task(
    hotel: &HotelFacts,
    req: &ManualTask,
    now: Timestamp,
) -> Result<TaskDraft, ManualTaskError> {
    // The shape first, whole: a malformed request is that whatever the hotel holds.
    formats::ROOM.check(&req.room)?;
    if let Some(ext) = &req.external_id {
        formats::EXTERNAL_ID.check(ext)?;
    }
    if let Some(name) = &req.name {
        formats::TASK_NAME.check(name)?;
    }
    if let Some(notes) = &req.notes {
        formats::NOTE.check(notes)?;
    }
    if let Some(due) = &req.due_at {
        formats::DUE_AT.check(due)?;
    }
    if req.external_id.is_none() && req.name.is_none() {
        return Err(ManualTaskError::NoName);
    }
    if req.quantity == 0 || req.quantity > MAX_QUANTITY {
        return Err(ManualTaskError::Quantity);
    }

    let room = RoomNumber::parse(&req.room)
        .ok()
        .filter(|r| hotel.rooms.contains(r.as_str()))
        .ok_or_else(|| ManualTaskError::UnknownRoom(req.room.clone()))?;
    let entry = match req.external_id.as_deref() {
        Some(ext) => Some(
            hotel
                .catalog
                .get(ext.trim())
                .ok_or_else(|| ManualTaskError::UnknownService(ext.to_owned()))?,
        ),
        None => None,
    };
    let name = match (req.name.as_deref().map(str::trim), entry) {
        (Some(n), _) => n.to_owned(),
        (None, Some(e)) => e.name.clone(),
        (None, None) => return Err(ManualTaskError::NoName),
    };
    let requested = match req.due_at.as_deref() {
        Some(raw) => Some(
            time::parse_requested(raw, &hotel.timezone, now)
                .ok_or_else(|| ManualTaskError::NotATime(raw.to_owned()))?,
        ),
        None => None,
    };
    let due = due_at(requested, entry.and_then(|e| e.sla_minutes), now);
    Ok(TaskDraft {
        item_key: None,
        external_id: entry.map(|e| e.external_id.clone()),
        task_name: name,
        room: room.into_string(),
        guest_name: None,
        quantity: req.quantity,
        department: entry.and_then(|e| e.department.clone()),
        notes: req.notes.clone(),
        language: None,
        order_id: None,
        reservation_id: None,
        requested_at: requested,
        due_at: due,
        escalate_at: escalate_at(hotel, due, now),
        merge_slot: false,
    })
}
