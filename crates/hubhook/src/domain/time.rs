//! Time as hubhook stores and shows it: UTC instants rendered as RFC 3339 with milliseconds.

use jiff::{SignedDuration, Timestamp, tz::TimeZone};

pub fn now() -> Timestamp {
    Timestamp::now()
}

/// `2026-11-23T09:41:02.123Z`: fixed width, so stored text sorts as time does.
pub fn format(ts: Timestamp) -> String {
    format!("{:.3}", ts)
}

pub fn parse_instant(raw: &str) -> Option<Timestamp> {
    raw.trim().parse::<Timestamp>().ok()
}

/// How long past a bare `HH:MM` may be and still mean today: an order for "14:30" that reaches
/// hubhook at 14:41 (Duve's retries, a slow phone, clocks) is late today, not a request for tomorrow.
pub const LATE_TODAY: SignedDuration = SignedDuration::from_mins(30);

/// Reads a requested delivery time: an instant with an offset as is; a local date-time without an
/// offset (`2026-07-01T15:30`, `2026-07-01 15:30`) in the hotel's timezone; a bare `HH:MM` as its
/// next occurrence in the hotel's timezone (today, or tomorrow once it is more than [`LATE_TODAY`]
/// past). Local times are placed on the calendar, not by adding hours, so a daylight-saving change
/// between now and then moves nothing: a time skipped by the change reads as the same wall-clock
/// distance after the gap, a time that happens twice as its first occurrence.
pub fn parse_requested(raw: &str, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let raw = raw.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(dt) = raw.parse::<jiff::civil::DateTime>() {
        return dt.to_zoned(tz.clone()).ok().map(|z| z.timestamp());
    }
    if let Ok(t) = raw.parse::<jiff::civil::Time>() {
        let today = now.to_zoned(tz.clone()).date();
        let at = |d: jiff::civil::Date| d.to_datetime(t).to_zoned(tz.clone()).ok();
        let first = at(today)?.timestamp();
        let late_by = now.duration_since(first);
        if late_by <= LATE_TODAY {
            return Some(first);
        }
        return at(today.tomorrow().ok()?).map(|z| z.timestamp());
    }
    None
}

/// A duration a hotel sets (`--escalate-after`): `90s`, `10m`, `2h`, or `0` (off, `None`);
/// whole seconds, at most a week.
pub fn parse_setting_duration(raw: &str) -> Result<Option<u32>, String> {
    parse_setting_duration_max(raw, WEEK_SECS)
}

/// The longest escalate-after or merge window: a week.
pub const WEEK_SECS: u32 = 7 * 86_400;

/// The longest archive-after: 90 days.
pub const ARCHIVE_AFTER_MAX_SECS: u32 = 90 * 86_400;

/// Like [`parse_setting_duration`], with its own upper bound in seconds (`--archive-after` allows
/// days beyond a week).
pub fn parse_setting_duration_max(raw: &str, max_secs: u32) -> Result<Option<u32>, String> {
    let raw = raw.trim();
    if raw == "0" {
        return Ok(None);
    }
    let d = parse_duration(raw)?;
    if d.subsec_nanos() != 0 {
        return Err(format!("{raw:?}: whole seconds only"));
    }
    match d.as_secs() {
        0 => Ok(None),
        s if s <= u64::from(max_secs) => Ok(Some(s as u32)),
        _ => Err(format!(
            "{raw:?}: at most {}",
            format_setting_duration(Some(max_secs))
        )),
    }
}

/// A hotel's shift ends (`--shift-ends 07:00,15:00,23:00`): local wall-clock times, sorted, without
/// repeats; an empty string, `0` or `none` for none. At most 24 of them.
pub fn parse_shift_ends(raw: &str) -> Result<Vec<jiff::civil::Time>, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "0" || raw.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut ends = Vec::new();
    for part in raw.split(',') {
        let part = part.trim();
        let valid = part.len() == 5 && part.as_bytes()[2] == b':';
        let t = valid
            .then(|| part.parse::<jiff::civil::Time>().ok())
            .flatten()
            .ok_or_else(|| format!("{part:?}: a shift end is a local time HH:MM, e.g. 07:00"))?;
        ends.push(t);
    }
    ends.sort();
    ends.dedup();
    if ends.len() > 24 {
        return Err("at most 24 shift ends".into());
    }
    Ok(ends)
}

/// Shift ends as the setting stores and shows them: `07:00,15:00,23:00` (empty: none).
pub fn format_shift_ends(ends: &[jiff::civil::Time]) -> String {
    ends.iter()
        .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A duration in seconds as a hotel's setting reads: `90s`, `10m`, `2h`, `0` for none.
pub fn format_setting_duration(secs: Option<u32>) -> String {
    match secs {
        None | Some(0) => "0".into(),
        Some(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) if s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

/// A duration with its unit: `500ms`, `5s`, `5m`, `2h`, `1d` (decimals allowed: `1.5h`).
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{raw:?}: a duration needs a unit (ms, s, m, h, d)"))?;
    let (num, unit) = raw.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{raw:?}: not a duration"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("{raw:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| format!("{raw:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_ends_parse_sorted_and_canonical() {
        let ends = parse_shift_ends(" 23:00, 07:00,15:00,07:00").unwrap();
        assert_eq!(format_shift_ends(&ends), "07:00,15:00,23:00");
        assert!(parse_shift_ends("").unwrap().is_empty());
        assert!(parse_shift_ends("none").unwrap().is_empty());
        assert!(parse_shift_ends("0").unwrap().is_empty());
        for bad in ["7:00", "25:00", "07:60", "07:00,", "07h00", "07:00:00"] {
            assert!(parse_shift_ends(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn setting_durations_with_their_own_bound() {
        assert_eq!(
            parse_setting_duration_max("3d", 90 * 86_400),
            Ok(Some(259_200))
        );
        assert_eq!(parse_setting_duration_max("0", 60), Ok(None));
        assert!(parse_setting_duration_max("91d", 90 * 86_400).is_err());
        assert!(parse_setting_duration_max("1.5s", 600).is_err());
    }

    #[test]
    fn formats_with_milliseconds() {
        let ts: Timestamp = "2023-01-14T15:30:00Z".parse().unwrap();
        assert_eq!(format(ts), "2023-01-14T15:30:00.000Z");
    }

    #[test]
    fn local_times_are_read_in_the_hotels_zone() {
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        let now: Timestamp = "2023-07-01T08:00:00Z".parse().unwrap();
        let at = parse_requested("2023-07-01T15:30:00", &tz, now).unwrap();
        assert_eq!(format(at), "2023-07-01T14:30:00.000Z");
        let at = parse_requested("15:30", &tz, now).unwrap();
        assert_eq!(format(at), "2023-07-01T14:30:00.000Z");
        let at = parse_requested("2023-07-01 15:30", &tz, now).unwrap();
        assert_eq!(format(at), "2023-07-01T14:30:00.000Z");
        let at = parse_requested("2023-07-01T15:30:00+02:00", &tz, now).unwrap();
        assert_eq!(format(at), "2023-07-01T13:30:00.000Z");
        let at = parse_requested("2023-01-14T15:30:00.000Z", &tz, now).unwrap();
        assert_eq!(format(at), "2023-01-14T15:30:00.000Z");
        assert!(parse_requested("soon", &tz, now).is_none());
    }

    fn at(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    #[test]
    fn a_bare_time_already_past_is_its_next_occurrence() {
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        // 23:00 in Lisbon (UTC+1): 07:00 is tomorrow morning.
        let now = at("2023-07-01T22:00:00Z");
        let got = parse_requested("07:00", &tz, now).unwrap();
        assert_eq!(format(got), "2023-07-02T06:00:00.000Z");
        // Still ahead today: today.
        let got = parse_requested("23:30", &tz, now).unwrap();
        assert_eq!(format(got), "2023-07-01T22:30:00.000Z");
        // A few minutes late (the order took a while to arrive): today, already due.
        let got = parse_requested("22:45", &tz, now).unwrap();
        assert_eq!(format(got), "2023-07-01T21:45:00.000Z");
        // More than LATE_TODAY past: tomorrow.
        let got = parse_requested("22:29", &tz, now).unwrap();
        assert_eq!(format(got), "2023-07-02T21:29:00.000Z");
        // Past midnight in the hotel while UTC is still on the previous day.
        let now = at("2023-07-01T23:30:00Z"); // 00:30 on 2 July in Lisbon
        let got = parse_requested("08:00", &tz, now).unwrap();
        assert_eq!(format(got), "2023-07-02T07:00:00.000Z");
    }

    #[test]
    fn a_bare_time_across_a_daylight_saving_change_keeps_its_wall_clock_time() {
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        // 25 March 2023, 20:00 (UTC+0); clocks go forward at 01:00 on the 26th (to UTC+1).
        let now = at("2023-03-25T20:00:00Z");
        let got = parse_requested("09:00", &tz, now).unwrap();
        assert_eq!(format(got), "2023-03-26T08:00:00.000Z", "09:00 summer time");
        // 01:30 does not exist that night: read as 02:30 summer time, the same instant as 01:30
        // winter time would have been.
        let got = parse_requested("01:30", &tz, now).unwrap();
        assert_eq!(format(got), "2023-03-26T01:30:00.000Z");
        // 28 October 2023, 20:00 summer time; clocks go back at 02:00 on the 29th: 01:30 happens
        // twice, the first one counts.
        let now = at("2023-10-28T19:00:00Z");
        let got = parse_requested("01:30", &tz, now).unwrap();
        assert_eq!(format(got), "2023-10-29T00:30:00.000Z");
        let got = parse_requested("09:00", &tz, now).unwrap();
        assert_eq!(format(got), "2023-10-29T09:00:00.000Z", "09:00 winter time");
    }

    #[test]
    fn setting_durations() {
        assert_eq!(parse_setting_duration("0"), Ok(None));
        assert_eq!(parse_setting_duration("0s"), Ok(None));
        assert_eq!(parse_setting_duration("90s"), Ok(Some(90)));
        assert_eq!(parse_setting_duration("10m"), Ok(Some(600)));
        assert_eq!(parse_setting_duration("2h"), Ok(Some(7200)));
        assert!(parse_setting_duration("1.5s").is_err());
        assert!(parse_setting_duration("8d").is_err());
        assert!(parse_setting_duration("ten").is_err());
        assert!(parse_setting_duration("-5m").is_err());
        for s in [None, Some(90), Some(600), Some(7200), Some(61)] {
            assert_eq!(parse_setting_duration(&format_setting_duration(s)), Ok(s));
        }
    }
}
