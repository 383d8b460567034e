//! Time as hubhook stores and shows it: UTC instants rendered as RFC 3339 with milliseconds.

use jiff::{Timestamp, tz::TimeZone};

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

/// Reads a requested delivery time: an instant with an offset as is; a local date-time without an
/// offset in the hotel's timezone; a bare `HH:MM` as that time today in the hotel's timezone.
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
        return today
            .to_datetime(t)
            .to_zoned(tz.clone())
            .ok()
            .map(|z| z.timestamp());
    }
    None
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
        let at = parse_requested("2023-01-14T15:30:00.000Z", &tz, now).unwrap();
        assert_eq!(format(at), "2023-01-14T15:30:00.000Z");
        assert!(parse_requested("soon", &tz, now).is_none());
    }
}
