//! `/dashboard`: today's requests by hour, median and p90 time to done per task type of the tasks
//! finished in the last 7 days, and the open and overdue counts, as server-rendered SVG. Readable
//! by every signed-in user of the hotel. Each figure reads its own index from a time on (the
//! store's `DashboardStore`, the board's capped counts): the page costs what the hotel made today
//! and finished this week, whatever its backlog.

use std::{collections::BTreeMap, sync::Arc};

use axum::{extract::State, response::Html};
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};

use super::{Nav, Viewer, hotel_tz, layout};
use crate::{
    domain::{
        report::{self, percentile},
        time,
    },
    http::{AppState, error::UiError},
    store::FinishedTask,
};

const TIMING_DAYS: i64 = 7;

/// The open and overdue counts stop here ("10,000+"): past it, the number says "a backlog" as
/// well, and counting further would read the whole backlog on every view.
const COUNT_CAP: u32 = 10_000;

/// Requests per local hour (0 to 23) of the tasks created at `created`.
fn by_hour(created: &[Timestamp], tz: &jiff::tz::TimeZone) -> [u32; 24] {
    let mut hours = [0u32; 24];
    for c in created {
        let h = c.to_zoned(tz.clone()).hour();
        if let Some(slot) = hours.get_mut(h as usize) {
            *slot += 1;
        }
    }
    hours
}

/// Per task type: (median, p90, count) of minutes from creation to done.
fn time_to_done(finished: &[FinishedTask]) -> BTreeMap<String, (f64, f64, usize)> {
    let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in finished {
        per.entry(t.task_name.clone())
            .or_default()
            .push(report::minutes_between(t.created_at, t.done_at));
    }
    per.into_iter()
        .filter_map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            Some((name, (percentile(&v, 50)?, percentile(&v, 90)?, v.len())))
        })
        .collect()
}

fn hour_chart(hours: &[u32; 24]) -> Markup {
    let max = hours.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, left, bottom) = (480.0, 180.0, 28.0, 20.0);
    let bar_w = (w - left) / 24.0;
    let scale = (h - bottom - 10.0) / f64::from(max);
    html! {
        svg.chart viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="Requests today by hour" {
            // An explicit end tag: in HTML, an SVG element without one would swallow what follows.
            line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#555" {}
            text x="2" y="14" font-size="11" fill="#333" { (max) }
            text x="2" y=(h - bottom) font-size="11" fill="#333" { "0" }
            @for (i, n) in hours.iter().enumerate() {
                @let x = left + bar_w * i as f64;
                @let bh = f64::from(*n) * scale;
                rect x=(x + 2.0) y=(h - bottom - bh) width=(bar_w - 4.0) height=(bh) fill="#1f5fa8" {
                    title { (format!("{i:02}:00: {n} request(s)")) }
                }
                @if i % 3 == 0 {
                    text x=(x + 1.0) y=(h - 5.0) font-size="10" fill="#333" { (format!("{i:02}")) }
                }
            }
        }
    }
}

/// `<1 min` for what took seconds, else whole minutes.
fn minutes(m: f64) -> String {
    if m < 1.0 {
        "<1 min".to_owned()
    } else {
        format!("{m:.0} min")
    }
}

fn timing_chart(rows: &BTreeMap<String, (f64, f64, usize)>) -> Markup {
    let max = rows
        .values()
        .map(|(_, p90, _)| *p90)
        .fold(1.0_f64, f64::max);
    let (w, row_h, label_w) = (480.0, 34.0, 150.0);
    let h = row_h * rows.len() as f64 + 10.0;
    let scale = (w - label_w - 60.0) / max;
    html! {
        svg.chart viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="Median and p90 minutes to done per task type" {
            @for (i, (name, (median, p90, count))) in rows.iter().enumerate() {
                @let y = row_h * i as f64 + 4.0;
                text x="0" y=(y + 18.0) font-size="12" fill="#222" { (name) }
                rect x=(label_w) y=(y) width=(p90 * scale) height="12" fill="#9bb8d8" {
                    title { "p90 " (minutes(*p90)) }
                }
                rect x=(label_w) y=(y + 14.0) width=(median * scale) height="12" fill="#1f5fa8" {
                    title { "median " (minutes(*median)) }
                }
                text x=(label_w + p90 * scale + 4.0) y=(y + 11.0) font-size="11" fill="#333" {
                    "p90 " (minutes(*p90))
                }
                text x=(label_w + median * scale + 4.0) y=(y + 25.0) font-size="11" fill="#333" {
                    "median " (minutes(*median)) " (n=" (count) ")"
                }
            }
        }
    }
}

pub async fn dashboard(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Html<String>, UiError> {
    let hotel = &viewer.user.hotel;
    let tz = hotel_tz(&app, hotel);
    let now = time::now();
    let day_start = now
        .to_zoned(tz.clone())
        .start_of_day()
        .map(|z| z.timestamp())
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    let week_ago = now
        .checked_sub(SignedDuration::from_hours(24 * TIMING_DAYS))
        .map_err(|e| UiError::Unavailable(e.to_string()))?;
    // Today's tasks through their creation times' index; the week's finished ones (whenever they
    // were made) through their finishing times'.
    let created = app.store.created_since(hotel, day_start).await?;
    let hours = by_hour(&created, &tz);
    let today: u32 = hours.iter().sum();
    let durations = time_to_done(&app.store.finished_since(hotel, week_ago).await?);
    // Counted through the board's indexes, up to a cap: a backlog of any size costs the same.
    let counts = app.store.open_counts(hotel, now, COUNT_CAP).await?;
    let body = html! {
        h1 { "Dashboard" }
        div.stats {
            div.stat { span.big #stat-today { (today) } span { "requests today" } }
            div.stat { span.big #stat-open { (counts.open.label()) } span { "open tasks" } }
            div.stat.overdue[!counts.overdue.is_zero()] {
                span.big #stat-overdue { (counts.overdue.label()) } span { "overdue now" }
            }
        }
        section {
            h2 { "Today's requests by hour (" (tz.iana_name().unwrap_or("UTC")) ")" }
            (hour_chart(&hours))
        }
        section {
            h2 { "Time to done per task type: tasks finished in the last " (TIMING_DAYS) " days" }
            @if durations.is_empty() { p.empty { "No task was finished in this period." } }
            @else { (timing_chart(&durations)) }
        }
    };
    Ok(layout(&viewer, "Dashboard", Nav::Dashboard, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> Timestamp {
        raw.parse().unwrap()
    }

    fn finished(name: &str, created: &str, done: &str) -> FinishedTask {
        FinishedTask {
            task_name: name.into(),
            created_at: at(created),
            done_at: at(done),
        }
    }

    #[test]
    fn durations_and_hours() {
        let ts = [
            finished(
                "Towels",
                "2026-01-01T10:00:00.000Z",
                "2026-01-01T10:10:00.000Z",
            ),
            finished(
                "Towels",
                "2026-01-01T11:00:00.000Z",
                "2026-01-01T11:30:00.000Z",
            ),
            // Made the week before, finished now: it counts, as it was finished in the period.
            finished(
                "Pillows",
                "2025-12-20T11:00:00.000Z",
                "2026-01-01T11:00:00.000Z",
            ),
        ];
        let d = time_to_done(&ts);
        assert_eq!(d["Towels"], (10.0, 30.0, 2));
        assert_eq!(d["Pillows"], (12.0 * 24.0 * 60.0, 12.0 * 24.0 * 60.0, 1));
        let made = [
            at("2026-01-01T10:00:00Z"),
            at("2026-01-01T11:00:00Z"),
            at("2026-01-01T11:05:00Z"),
        ];
        let h = by_hour(&made, &jiff::tz::TimeZone::UTC);
        assert_eq!((h[10], h[11], h.iter().sum::<u32>()), (1, 2, 3));
        // In Tokyo (UTC+9) the same requests were made at 19:00 and 20:00 local time.
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        let h = by_hour(&made, &tokyo);
        assert_eq!((h[19], h[20], h.iter().sum::<u32>()), (1, 2, 3));
    }
}
