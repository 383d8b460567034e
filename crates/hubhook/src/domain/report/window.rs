//! A report's window `[from, to)`: read from the API's RFC 3339 parameters (default: the last
//! [`DEFAULT_SPAN`]) or from the page's local date-times, and bounded: `from` before `to`, at most
//! [`MAX_SPAN`] between them.

use jiff::{SignedDuration, Timestamp, tz::TimeZone};

/// The API's default window: the last eight hours (a shift).
pub const DEFAULT_SPAN: SignedDuration = SignedDuration::from_hours(8);

/// The longest window: 31 days, plus the hour a daylight-saving change may add, so that any 31
/// calendar days of the hotel fit.
pub const MAX_SPAN: SignedDuration = SignedDuration::from_hours(31 * 24 + 1);

/// Why a window was refused (answered 400 with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A bound that is not an instant.
    #[error(
        "{field} {raw:?} is not an RFC 3339 instant with an offset (e.g. 2026-07-01T07:00:00Z)"
    )]
    NotAnInstant { field: &'static str, raw: String },
    /// A bound of the page's form that is neither an instant nor a local date-time.
    #[error("{field} {raw:?} is not a date and time (e.g. 2026-07-01T07:00)")]
    NotALocalTime { field: &'static str, raw: String },
    /// `from` is not before `to`.
    #[error("from ({from}) must be before to ({to})")]
    Empty { from: String, to: String },
    /// The window is longer than [`MAX_SPAN`].
    #[error("a report covers at most 31 days; from {from} to {to} is longer")]
    TooLong { from: String, to: String },
    /// A bound out of the range of time itself.
    #[error("the window is out of range")]
    OutOfRange,
}

/// A checked window: `from` before `to`, at most [`MAX_SPAN`] apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from: Timestamp,
    to: Timestamp,
}

impl Window {
    /// `[from, to)`, checked.
    pub fn new(from: Timestamp, to: Timestamp) -> Result<Self, WindowError> {
        let shown = |t: Timestamp| super::super::time::format(t);
        if from >= to {
            return Err(WindowError::Empty {
                from: shown(from),
                to: shown(to),
            });
        }
        if to.duration_since(from) > MAX_SPAN {
            return Err(WindowError::TooLong {
                from: shown(from),
                to: shown(to),
            });
        }
        Ok(Self { from, to })
    }

    /// Its start (included).
    pub fn from(&self) -> Timestamp {
        self.from
    }

    /// Its end (excluded).
    pub fn to(&self) -> Timestamp {
        self.to
    }

    /// The API's window: `to` defaults to `now`, `from` to `to` minus [`DEFAULT_SPAN`]; both are
    /// RFC 3339 instants with an offset.
    pub fn from_query(
        from: Option<&str>,
        to: Option<&str>,
        now: Timestamp,
    ) -> Result<Self, WindowError> {
        let instant = |field: &'static str, raw: &str| {
            super::super::time::parse_instant(raw).ok_or_else(|| WindowError::NotAnInstant {
                field,
                raw: raw.to_owned(),
            })
        };
        let to = match to {
            Some(raw) => instant("to", raw)?,
            None => now,
        };
        let from = match from {
            Some(raw) => instant("from", raw)?,
            None => to
                .checked_sub(DEFAULT_SPAN)
                .map_err(|_| WindowError::OutOfRange)?,
        };
        Self::new(from, to)
    }

    /// The page's window: each bound an instant with an offset or a local date-time
    /// (`2026-07-01T07:00`, as a `datetime-local` field sends it) in the hotel's timezone; a bound
    /// left empty takes `default`'s.
    pub fn from_local(
        from: Option<&str>,
        to: Option<&str>,
        tz: &TimeZone,
        default: Window,
    ) -> Result<Self, WindowError> {
        let read = |field: &'static str, raw: Option<&str>, fallback: Timestamp| {
            let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
                return Ok(fallback);
            };
            parse_local(raw, tz).ok_or_else(|| WindowError::NotALocalTime {
                field,
                raw: raw.to_owned(),
            })
        };
        Self::new(
            read("from", from, default.from)?,
            read("to", to, default.to)?,
        )
    }
}

/// An instant with an offset, or a local date-time in `tz` (a time skipped by a daylight-saving
/// change reads as the same distance after it, a repeated one as its first occurrence).
fn parse_local(raw: &str, tz: &TimeZone) -> Option<Timestamp> {
    if let Some(t) = super::super::time::parse_instant(raw) {
        return Some(t);
    }
    let dt = raw.parse::<jiff::civil::DateTime>().ok()?;
    dt.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// `t` as the page's `datetime-local` field shows it: `2026-07-01T07:00` in `tz`.
pub fn local_field(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}
