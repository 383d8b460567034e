//! The shapes of text the API accepts, each written once: the OpenAPI document declares these very
//! patterns and lengths (http/formats.rs reads them from here), and the server checks a value with
//! the same compiled pattern, so a value the document admits is never refused for its shape, and a
//! value it does not admit is never taken.
//!
//! Patterns keep to the syntax that ECMA 262 (the document's dialect), Rust's `regex` and Python's
//! `re` (with which API tools generate values) read alike: `^…$`, explicit classes with `\xNN` and
//! `\uNNNN` escapes, `[0-9]` rather than `\d` (which is Unicode-wide in Rust and Python), no `\s`
//! (three different sets), no `.`. Lengths count characters (code points), as JSON Schema does.

use std::sync::LazyLock;

use jiff::{Timestamp, civil, tz::Offset};
use regex::Regex;

/// A shape of text: a pattern and bounds on its length in characters.
pub struct Format {
    /// What the value is, for messages (`room`, `url`).
    pub what: &'static str,
    /// The pattern, anchored (`^…$`).
    pub pattern: &'static str,
    /// Fewest characters.
    pub min_chars: usize,
    /// Most characters.
    pub max_chars: usize,
    /// What the pattern asks for, in words.
    pub hint: &'static str,
    regex: LazyLock<Regex>,
}

/// Why a value does not have its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("{what} must be {min} to {max} characters long")]
    Length {
        what: &'static str,
        min: usize,
        max: usize,
    },
    #[error("{what} must be {hint}")]
    Pattern {
        what: &'static str,
        hint: &'static str,
    },
}

impl Format {
    /// Whether `raw` has this format: its length in characters, then its pattern.
    pub fn check(&self, raw: &str) -> Result<(), FormatError> {
        let n = raw.chars().count();
        if n < self.min_chars || n > self.max_chars {
            return Err(FormatError::Length {
                what: self.what,
                min: self.min_chars,
                max: self.max_chars,
            });
        }
        if !self.regex.is_match(raw) {
            return Err(FormatError::Pattern {
                what: self.what,
                hint: self.hint,
            });
        }
        Ok(())
    }

    /// Whether `raw` has this format.
    pub fn matches(&self, raw: &str) -> bool {
        self.check(raw).is_ok()
    }
}

/// The patterns are constants checked by this module's tests; none is built from input.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a pattern of domain::formats compiles (see its tests)")
}

macro_rules! formats {
    ($($(#[$m:meta])* $name:ident = $what:literal, $pattern:expr, $min:literal..=$max:literal, $hint:literal;)*) => {$(
        $(#[$m])*
        pub static $name: Format = Format {
            what: $what,
            pattern: $pattern,
            min_chars: $min,
            max_chars: $max,
            hint: $hint,
            regex: LazyLock::new(|| compile($pattern)),
        };
    )*};
}

/// One line of text with something visible in it: no control character (C0, DEL, C1) anywhere, and
/// at least one character that is neither a control nor white space (Unicode's White_Space, the
/// set Rust's `trim` removes), so what is left once trimmed is never empty.
macro_rules! one_line {
    () => {
        r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    };
}

/// Free text (notes, templates): anything but NUL, which no database text column holds.
macro_rules! free_text {
    () => {
        r"^[^\x00]*$"
    };
}

formats! {
    /// A hotel's id (`domain::HotelId`): what the hotel types into Duve's `custom_hotel_id`.
    HOTEL_ID = "hotel id", r"^[A-Za-z0-9._-]+$", 1..=64, "letters, digits, '.', '_' and '-'";
    /// A room number as the API takes it (trimmed once checked).
    ROOM = "room", one_line!(), 1..=64, "one line of text, not blank";
    /// A catalog external ID as the API takes it (trimmed once checked).
    EXTERNAL_ID = "externalId", one_line!(), 1..=64, "one line of text, not blank";
    /// A task's name, for a task made by staff.
    TASK_NAME = "name", one_line!(), 1..=200, "one line of text, not blank";
    /// A department, as the task list filters by it.
    DEPARTMENT = "department", one_line!(), 1..=100, "one line of text, not blank";
    /// A task's notes, or a status move's note.
    NOTE = "note", free_text!(), 0..=2000, "text without NUL characters";
    /// A requested time: an instant with an offset, a local date and time, or a bare `HH:MM`
    /// (read in the hotel's timezone; see `time::parse_requested`).
    DUE_AT = "dueAt",
        r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ])?[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$",
        5..=40, "YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM], YYYY-MM-DD HH:MM or HH:MM";
    /// A page cursor (`next` of the page before): a positive number that fits a 64-bit integer.
    CURSOR = "cursor", r"^[1-9][0-9]*$", 1..=18, "the next of the previous page";
    /// A task's id: a UUID in its hyphenated form.
    TASK_ID = "task id",
        r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        36..=36, "a UUID (8-4-4-4-12 hexadecimal digits)";
    /// A subscription's id (`outbound::new_subscription_id`).
    SUBSCRIPTION_ID = "subscription id", r"^sub_[0-9a-f]{32}$", 36..=36,
        "sub_ and 32 hexadecimal digits";
    /// A delivery's id (`outbound::new_delivery_id`).
    DELIVERY_ID = "delivery id", r"^msg_[0-9a-f]{32}$", 36..=36,
        "msg_ and 32 hexadecimal digits";
    /// A subscription's URL: absolute http(s), ASCII as RFC 3986 writes it: an optional user, a
    /// host (a name, an IPv4 address or a bracketed IPv6 address), an optional port, then a path,
    /// query and fragment of URI characters.
    URL = "url",
        r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9._~%!$&'()*+,;=:-]*@)?([A-Za-z0-9._~%!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][A-Za-z0-9._~%!$&'()*+,;=:@/?#-]*)?$",
        8..=2048, "an absolute http(s) URL (http:// or https://)";
    /// An extra header of a subscription, `Name: value`: a token for the name, a value without
    /// control characters other than tab.
    HEADER = "header",
        r"^[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*:[^\x00-\x08\x0a-\x1f\x7f]*$",
        2..=2048, "Name: value, with a token for the name and no control characters";
    /// A Duve Connect bearer token: visible ASCII.
    BEARER = "bearer", r"^[\x21-\x7e]+$", 1..=4096, "visible ASCII characters";
    /// A Duve Connect body template.
    BODY_TEMPLATE = "bodyTemplate", free_text!(), 1..=16384, "text without NUL characters";
    /// The additional field the default Duve Connect template writes.
    FIELD = "field", one_line!(), 1..=200, "one line of text, not blank";
}

/// A whole number in `min..=max`, written the one way: decimal digits, no sign, no leading zero.
pub fn decimal(raw: &str, min: u64, max: u64) -> Option<u64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    if !canonical || raw.len() > 19 {
        return None;
    }
    raw.parse::<u64>().ok().filter(|n| (min..=max).contains(n))
}

/// The pattern of [`decimal`] (for a query parameter declared as an integer).
pub const DECIMAL_PATTERN: &str = r"^(0|[1-9][0-9]*)$";

/// An RFC 3339 `date-time` (JSON Schema's format): `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `T` and
/// `Z` in either case, a real calendar date, offsets up to ±23:59, second 60 only where UTC says
/// 23:59:60. The instant it names; a leap second counts as the second before it, digits past
/// nanoseconds are dropped, and an instant beyond what a timestamp holds (years near 0 and 9999
/// with an offset) is the nearest one it does hold.
pub fn date_time(raw: &str) -> Option<Timestamp> {
    let b = raw.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i32> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0i32, |n, d| {
            n.checked_mul(10)?.checked_add(i32::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && matches!(b[10], b'T' | b't') && at(13, b':') && at(16, b':'))
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0i32;
    if at(i, b'.') {
        let start = i + 1;
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == start {
            return None;
        }
        for (k, d) in b[start..end].iter().take(9).enumerate() {
            nanos += i32::from(d - b'0') * 10i32.pow(8 - k as u32);
        }
        i = end;
    }
    let offset_minutes = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let date = civil::Date::new(i16::try_from(year).ok()?, month as i8, day as i8).ok()?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if second == 60 {
        // Only the last second of a UTC day can be a leap second.
        let utc_minutes = (hour * 60 + minute - offset_minutes).rem_euclid(24 * 60);
        if utc_minutes != 23 * 60 + 59 {
            return None;
        }
    }
    let time = civil::Time::new(hour as i8, minute as i8, second.min(59) as i8, nanos).ok()?;
    let local = date.to_datetime(time);
    // Far ends of the calendar: the offset may carry the instant past what a timestamp holds.
    let offset = Offset::from_seconds(offset_minutes * 60).ok()?;
    let nearest = if year < 5000 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    };
    Some(offset.to_timestamp(local).unwrap_or(nearest))
}

#[cfg(test)]
mod tests;
