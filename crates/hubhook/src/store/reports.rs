//! The shift report's storage: the [`ReportStore`] trait (the rows of a window's tasks, the shift
//! report checker) and what both backends share around their SQL: decoding a report row, the
//! pattern of an escalation's history line, and what a shift setting's change schedules.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{StoreError, rows::Columns};
use crate::domain::{
    HotelId,
    escalation::HISTORY_PREFIX,
    hotel::parse_timezone,
    report::{ReportRow, Window, shift},
    time,
};

/// The `LIKE` pattern of an escalation's history line (bound as the report statement's fourth
/// parameter).
pub(super) fn escalation_note_pattern() -> String {
    format!("{HISTORY_PREFIX}%")
}

/// A report row from `external_id, task_name, department, created_at, accepted_at, done_at,
/// cancelled_at, escalated_at`; None for a task whose creation time does not parse.
pub(super) fn report_row_from(r: &impl Columns) -> Result<Option<ReportRow>, StoreError> {
    let at = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.opt_text(i)?.as_deref().and_then(time::parse_instant))
    };
    let Some(created_at) = at(3)? else {
        return Ok(None);
    };
    Ok(Some(ReportRow {
        external_id: r.opt_text(0)?,
        task_name: r.text(1)?,
        department: r.opt_text(2)?,
        created_at,
        accepted_at: at(4)?,
        done_at: at(5)?,
        cancelled_at: at(6)?,
        escalated_at: at(7)?,
    }))
}

/// The timezone a hotel's stored name names (UTC if it does not parse).
pub(super) fn timezone(raw: &str) -> jiff::tz::TimeZone {
    parse_timezone(raw).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// A hotel's `report_at` after its shift ends or timezone were set at `now` (formatted; None
/// without shift ends).
pub(super) fn report_at(shift_ends: &str, timezone_name: &str, now: Timestamp) -> Option<String> {
    let ends = time::parse_shift_ends(shift_ends).unwrap_or_default();
    shift::schedule(&ends, &timezone(timezone_name), now).map(time::format)
}

/// What the checker does for a hotel read from `id, timezone, shift_ends, report_at` at `now`.
pub(super) struct DueReport {
    /// The hotel's id.
    pub hotel: String,
    /// Its timezone.
    pub tz: jiff::tz::TimeZone,
    /// The shift to report, if any ([`shift::tick`]).
    pub window: Option<Window>,
    /// Its next `report_at`, formatted.
    pub next: Option<String>,
    /// Its `report_at` as read: a claim the SQLite writer checks before it applies the rest.
    pub due_at: String,
}

/// The checker's decision for one due hotel's row.
pub(super) fn due_report_from(r: &impl Columns, now: Timestamp) -> Result<DueReport, StoreError> {
    let tz = timezone(&r.text(1)?);
    let ends = time::parse_shift_ends(&r.text(2)?).unwrap_or_default();
    let due_at = r.opt_text(3)?.unwrap_or_default();
    let due = time::parse_instant(&due_at);
    let tick = shift::tick(&ends, &tz, due, now);
    Ok(DueReport {
        hotel: r.text(0)?,
        tz,
        window: tick.report,
        next: tick.next.map(time::format),
        due_at,
    })
}

/// The shift report's reads and its checker.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// One row per task of `hotel` created in `window`, in creation order, with the first time
    /// it was accepted (or moved beyond), done, cancelled and escalated, read from its history.
    async fn report_rows(
        &self,
        hotel: &HotelId,
        window: Window,
    ) -> Result<Vec<ReportRow>, StoreError>;
    /// Sends the report of each hotel whose shift has ended (at most `limit` hotels): claimed
    /// through `hotels.report_at`, so each shift's report is queued once, to the subscriptions
    /// that hear `report.shift`, and the hotel's next shift end scheduled; returns how many
    /// hotels were due.
    async fn raise_shift_reports(&self, limit: u32) -> Result<u32, StoreError>;
    /// The hotel's shift ends as stored (`07:00,15:00,23:00`; empty: none).
    async fn shift_ends(&self, hotel: &HotelId) -> Result<String, StoreError>;
}
