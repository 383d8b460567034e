//! A hotel's shifts: its shift ends (`hotels.shift_ends`, local wall-clock times such as
//! `07:00,15:00,23:00`) placed on the calendar in its timezone, and the shift report's schedule.
//!
//! A shift runs from one shift end to the next. The store keeps, per hotel, the next shift end
//! whose report is due (`hotels.report_at`, indexed); the checker claims the hotels whose moment
//! has come and asks [`tick`] what to report and when to come back. Shift ends are placed on the
//! calendar each day (not by adding hours), so a daylight-saving change moves nothing: a shift end
//! in the skipped hour falls at the same distance after the gap, one in a repeated hour on its
//! first occurrence, and the shift across the change is an hour shorter or longer.

use jiff::{Timestamp, civil::Time, tz::TimeZone};

use super::Window;

/// The shift ends placed on the calendar on the local days around `at` (the day before to the
/// day after next), as sorted instants without repeats.
fn ends_around(ends: &[Time], tz: &TimeZone, at: Timestamp) -> Vec<Timestamp> {
    let today = at.to_zoned(tz.clone()).date();
    let mut out: Vec<Timestamp> = (-2..=2)
        .filter_map(|d| today.checked_add(jiff::Span::new().days(d)).ok())
        .flat_map(|day| {
            ends.iter().filter_map(move |t| {
                day.to_datetime(*t)
                    .to_zoned(tz.clone())
                    .ok()
                    .map(|z| z.timestamp())
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The first shift end strictly after `t`; None without shift ends.
pub fn next_end_after(ends: &[Time], tz: &TimeZone, t: Timestamp) -> Option<Timestamp> {
    ends_around(ends, tz, t).into_iter().find(|e| *e > t)
}

/// The last shift end at or before `t`; None without shift ends.
pub fn last_end_at_or_before(ends: &[Time], tz: &TimeZone, t: Timestamp) -> Option<Timestamp> {
    ends_around(ends, tz, t).into_iter().rev().find(|e| *e <= t)
}

/// The shift that ends at `end`: from the shift end before it to `end`.
pub fn shift_ending(ends: &[Time], tz: &TimeZone, end: Timestamp) -> Option<Window> {
    let start = ends_around(ends, tz, end)
        .into_iter()
        .rev()
        .find(|e| *e < end)?;
    Window::new(start, end).ok()
}

/// The shift under way at `now`, up to `now` (the page's default): from the last shift end to
/// `now`; None without shift ends.
pub fn current_shift(ends: &[Time], tz: &TimeZone, now: Timestamp) -> Option<Window> {
    let start = last_end_at_or_before(ends, tz, now)?;
    Window::new(start, now).ok()
}

/// What the checker does for a hotel whose `report_at` has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The shift to report now, if any.
    pub report: Option<Window>,
    /// The hotel's next `report_at` (None: no shift ends, nothing scheduled).
    pub next: Option<Timestamp>,
}

/// For a hotel whose stored deadline `due` has come at `now`: the shift to report, and the next
/// deadline. The shift reported is the one that ends at the last shift end at or before `now`
/// (when no instance ran for a while, the shifts missed meanwhile are not sent one by one: the
/// API has them). A deadline that does not parse (`None`: the migration's placeholder), or that
/// is later than every shift end passed (the settings changed), reports nothing and only
/// schedules.
pub fn tick(ends: &[Time], tz: &TimeZone, due: Option<Timestamp>, now: Timestamp) -> Tick {
    let report = due.and_then(|due| {
        let end = last_end_at_or_before(ends, tz, now).filter(|end| *end >= due)?;
        shift_ending(ends, tz, end)
    });
    Tick {
        report,
        next: next_end_after(ends, tz, now),
    }
}

/// The `report_at` of a hotel whose shift ends or timezone were just set at `now`.
pub fn schedule(ends: &[Time], tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    next_end_after(ends, tz, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::{format, parse_shift_ends};

    fn at(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn lisbon() -> TimeZone {
        TimeZone::get("Europe/Lisbon").unwrap()
    }

    #[test]
    fn shift_ends_are_local_times_of_the_hotel() {
        let ends = parse_shift_ends("07:00,15:00,23:00").unwrap();
        // 14:10 in Lisbon (UTC+1 in summer).
        let now = at("2026-07-01T13:10:00Z");
        let next = next_end_after(&ends, &lisbon(), now).unwrap();
        assert_eq!(format(next), "2026-07-01T14:00:00.000Z");
        let last = last_end_at_or_before(&ends, &lisbon(), now).unwrap();
        assert_eq!(format(last), "2026-07-01T06:00:00.000Z");
        let shift = current_shift(&ends, &lisbon(), now).unwrap();
        assert_eq!((shift.from(), shift.to()), (last, now));
        // The night shift crosses midnight.
        let night = shift_ending(&ends, &lisbon(), at("2026-07-02T06:00:00Z")).unwrap();
        assert_eq!(format(night.from()), "2026-07-01T22:00:00.000Z");
        // One shift end a day: a day-long shift.
        let one = parse_shift_ends("07:00").unwrap();
        let day = shift_ending(&one, &lisbon(), at("2026-07-02T06:00:00Z")).unwrap();
        assert_eq!(format(day.from()), "2026-07-01T06:00:00.000Z");
        assert_eq!(next_end_after(&[], &lisbon(), now), None);
    }

    #[test]
    fn at_a_shift_end_its_shift_is_reported_and_the_next_one_scheduled() {
        let ends = parse_shift_ends("07:00,15:00,23:00").unwrap();
        let tz = TimeZone::UTC;
        let due = at("2026-07-01T15:00:00Z");
        let t = tick(&ends, &tz, Some(due), at("2026-07-01T15:00:00.300Z"));
        let w = t.report.unwrap();
        assert_eq!(
            (format(w.from()), format(w.to())),
            (
                "2026-07-01T07:00:00.000Z".to_owned(),
                "2026-07-01T15:00:00.000Z".to_owned()
            )
        );
        assert_eq!(t.next, Some(at("2026-07-01T23:00:00Z")));
        // Down from 14:00 to 23:30: only the latest shift is sent.
        let t = tick(&ends, &tz, Some(due), at("2026-07-01T23:30:00Z"));
        assert_eq!(t.report.unwrap().to(), at("2026-07-01T23:00:00Z"));
        assert_eq!(t.next, Some(at("2026-07-02T07:00:00Z")));
        // The placeholder only schedules.
        let t = tick(&ends, &tz, None, at("2026-07-01T16:00:00Z"));
        assert_eq!(t.report, None);
        assert_eq!(t.next, Some(at("2026-07-01T23:00:00Z")));
        // A deadline after every end passed (read early, or the settings moved): nothing yet.
        let t = tick(&ends, &tz, Some(due), at("2026-07-01T14:59:59Z"));
        assert_eq!(t.report, None);
        assert_eq!(t.next, Some(due));
        // Shift ends removed: nothing, and nothing scheduled.
        assert_eq!(
            tick(&[], &tz, Some(due), at("2026-07-01T15:00:01Z")),
            Tick {
                report: None,
                next: None
            }
        );
    }

    #[test]
    fn daylight_saving_changes_move_no_shift_end() {
        let ends = parse_shift_ends("07:00,01:30").unwrap();
        // Lisbon, 29 March 2026: clocks go from 01:00 to 02:00 (UTC+0 to UTC+1). 01:30 does not
        // exist that night: it falls at 02:30 summer time (01:30 UTC), the same distance after.
        let next = next_end_after(&ends, &lisbon(), at("2026-03-28T23:00:00Z")).unwrap();
        assert_eq!(format(next), "2026-03-29T01:30:00.000Z");
        // 07:00 summer time is 06:00 UTC: the night shift from 01:30 is 4.5 h long.
        let day = shift_ending(&ends, &lisbon(), at("2026-03-29T06:00:00Z")).unwrap();
        assert_eq!(format(day.from()), "2026-03-29T01:30:00.000Z");
        // 25 October 2026: clocks go back from 02:00 to 01:00; 01:30 happens twice, the first
        // one (summer time, 00:30 UTC) counts, and the shift to 07:00 (winter, 07:00 UTC) is
        // 6.5 h long.
        let next = next_end_after(&ends, &lisbon(), at("2026-10-24T23:00:00Z")).unwrap();
        assert_eq!(format(next), "2026-10-25T00:30:00.000Z");
        let day = shift_ending(&ends, &lisbon(), at("2026-10-25T07:00:00Z")).unwrap();
        assert_eq!(format(day.from()), "2026-10-25T00:30:00.000Z");
        // A day-long shift across the change: 23 hours in spring, 25 in autumn.
        let one = parse_shift_ends("07:00").unwrap();
        let spring = shift_ending(&one, &lisbon(), at("2026-03-29T06:00:00Z")).unwrap();
        assert_eq!(spring.to().duration_since(spring.from()).as_hours(), 23);
        let autumn = shift_ending(&one, &lisbon(), at("2026-10-25T07:00:00Z")).unwrap();
        assert_eq!(autumn.to().duration_since(autumn.from()).as_hours(), 25);
    }

    #[test]
    fn a_new_setting_schedules_the_next_shift_end() {
        let ends = parse_shift_ends("23:00").unwrap();
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        // 23:30 in Tokyo: tomorrow's 23:00.
        let got = schedule(&ends, &tokyo, at("2026-07-01T14:30:00Z")).unwrap();
        assert_eq!(format(got), "2026-07-02T14:00:00.000Z");
        assert_eq!(schedule(&[], &tokyo, at("2026-07-01T14:30:00Z")), None);
    }
}
