//! `/reports` (managers): the shift report of a window picked in the hotel's local time (default:
//! the shift under way, from the last shift end; without shift ends, the last 8 hours), with the
//! same figures as `GET /api/v1/reports/shift` and two server-rendered SVG charts; and
//! `/reports/shift.csv`, the same window as CSV.

use std::sync::Arc;

use axum::{
    extract::{Query, State},
    response::{Html, Response},
};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Nav, hotel_tz, layout, session::Manager};
use crate::{
    domain::{
        report::{
            DepartmentFigures, Report, Window,
            shift::{current_shift, last_end_at_or_before, shift_ending},
            window::{DEFAULT_SPAN, local_field},
        },
        time,
    },
    http::{AppState, error::UiError, reports as api},
};

/// The page's query: each bound a local date-time (`2026-07-01T07:00`) or an instant.
#[derive(Deserialize, Default)]
pub struct WindowQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// The windows the page offers as links: (label, window).
fn presets(
    ends: &[jiff::civil::Time],
    tz: &TimeZone,
    now: Timestamp,
) -> Vec<(&'static str, Window)> {
    let mut out = Vec::new();
    if let Some(w) = current_shift(ends, tz, now) {
        out.push(("Current shift", w));
    }
    if let Some(w) = last_end_at_or_before(ends, tz, now).and_then(|e| shift_ending(ends, tz, e)) {
        out.push(("Previous shift", w));
    }
    for (label, hours) in [
        ("Last 8 hours", 8),
        ("Last 24 hours", 24),
        ("Last 7 days", 24 * 7),
    ] {
        if let Ok(w) = now
            .checked_sub(SignedDuration::from_hours(hours))
            .map_err(|_| ())
            .and_then(|from| Window::new(from, now).map_err(|_| ()))
        {
            out.push((label, w));
        }
    }
    out
}

/// The window of a query: the default is the first preset (the shift under way, else the last 8
/// hours).
async fn window_of(
    app: &AppState,
    hotel: &crate::domain::HotelId,
    q: &WindowQuery,
) -> Result<(Window, TimeZone, Vec<(&'static str, Window)>), UiError> {
    // Read through the cache's freshness check: a timezone changed a moment ago counts.
    let tz = match app.cache.get(hotel.as_str()).await? {
        Some(facts) => facts.timezone.clone(),
        None => hotel_tz(app, hotel),
    };
    let now = time::now();
    let ends = time::parse_shift_ends(&app.store.shift_ends(hotel).await?).unwrap_or_default();
    let presets = presets(&ends, &tz, now);
    let default = match presets.first() {
        Some((_, w)) => *w,
        None => {
            let from = now
                .checked_sub(DEFAULT_SPAN)
                .map_err(|e| UiError::BadRequest(e.to_string()))?;
            Window::new(from, now).map_err(|e| UiError::BadRequest(e.to_string()))?
        }
    };
    let window = Window::from_local(q.from.as_deref(), q.to.as_deref(), &tz, default)
        .map_err(|e| UiError::BadRequest(e.to_string()))?;
    Ok((window, tz, presets))
}

/// A link to the page (or the CSV) for `w`.
fn href(path: &str, w: &Window) -> String {
    format!(
        "{path}?from={}&to={}",
        time::format(w.from()),
        time::format(w.to())
    )
}

/// `1 Jul 07:00`, in the hotel's time.
fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%-d %b %Y %H:%M")
        .to_string()
}

/// Minutes as the page shows them: `12.5 min`, or a dash when nothing was measured.
fn minutes(m: Option<f64>) -> String {
    m.map_or_else(|| "–".to_owned(), |m| format!("{m:.1} min"))
}

fn department_name(d: &DepartmentFigures) -> &str {
    d.department.as_deref().unwrap_or("No department")
}

/// Per department, a bar of its tasks: done, cancelled, still open at the window's end.
fn status_chart(rows: &[DepartmentFigures]) -> Markup {
    let max = rows.iter().map(|d| d.created).max().unwrap_or(0).max(1);
    let (w, row_h, label_w) = (600.0, 30.0, 150.0);
    let h = row_h * rows.len() as f64 + 10.0;
    let scale = (w - label_w - 200.0) / f64::from(max);
    html! {
        svg.chart #chart-status viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="Tasks per department: done, cancelled, open" {
            @for (i, d) in rows.iter().enumerate() {
                @let y = row_h * i as f64 + 6.0;
                @let cancelled = d.created - d.done - d.open;
                @let (done_w, cancel_w, open_w) = (
                    f64::from(d.done) * scale,
                    f64::from(cancelled) * scale,
                    f64::from(d.open) * scale,
                );
                text x="0" y=(y + 13.0) font-size="12" fill="#222" { (department_name(d)) }
                rect x=(label_w) y=(y) width=(done_w) height="16" fill="#1f5fa8" {
                    title { (d.done) " done" }
                }
                rect x=(label_w + done_w) y=(y) width=(cancel_w) height="16" fill="#999" {
                    title { (cancelled) " cancelled" }
                }
                rect x=(label_w + done_w + cancel_w) y=(y) width=(open_w) height="16" fill="#e0a030" {
                    title { (d.open) " open" }
                }
                text x=(label_w + done_w + cancel_w + open_w + 6.0) y=(y + 13.0) font-size="11" fill="#333" {
                    (d.done) " done · " (d.open) " open · " (cancelled) " cancelled"
                }
            }
        }
    }
}

/// Per department with times measured: median minutes to accept and to done, p90 to done.
fn times_chart(rows: &[&DepartmentFigures]) -> Markup {
    let max = rows
        .iter()
        .flat_map(|d| {
            [
                d.median_minutes_to_accept,
                d.median_minutes_to_done,
                d.p90_minutes_to_done,
            ]
        })
        .flatten()
        .fold(1.0_f64, f64::max);
    let (w, row_h, label_w) = (600.0, 46.0, 150.0);
    let h = row_h * rows.len() as f64 + 10.0;
    let scale = (w - label_w - 170.0) / max;
    let bars = |d: &DepartmentFigures| {
        [
            ("to accept (median)", d.median_minutes_to_accept, "#9bb8d8"),
            ("to done (median)", d.median_minutes_to_done, "#1f5fa8"),
            ("to done (p90)", d.p90_minutes_to_done, "#0b3d75"),
        ]
    };
    html! {
        svg.chart #chart-times viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="Minutes to accept and to done per department" {
            @for (i, d) in rows.iter().enumerate() {
                @let y = row_h * i as f64 + 4.0;
                text x="0" y=(y + 22.0) font-size="12" fill="#222" { (department_name(d)) }
                @for (j, (label, m, color)) in bars(d).into_iter().enumerate() {
                    @let by = y + 13.0 * j as f64;
                    @let bw = m.unwrap_or(0.0) * scale;
                    rect x=(label_w) y=(by) width=(bw) height="11" fill=(color) {
                        title { (label) " " (minutes(m)) }
                    }
                    text x=(label_w + bw + 4.0) y=(by + 9.0) font-size="10" fill="#333" {
                        (minutes(m)) " " (label)
                    }
                }
            }
        }
    }
}

fn page_body(r: &Report, w: &Window, tz: &TimeZone, presets: &[(&str, Window)]) -> Markup {
    let timed: Vec<&DepartmentFigures> = r
        .by_department
        .iter()
        .filter(|d| d.median_minutes_to_accept.is_some() || d.median_minutes_to_done.is_some())
        .collect();
    let zone = tz.iana_name().unwrap_or("UTC");
    html! {
        h1 { "Shift report" }
        form.panel.report-window method="get" action="/reports" {
            label { "From (" (zone) ")"
                input type="datetime-local" name="from" required value=(local_field(w.from(), tz)); }
            label { "To, not included"
                input type="datetime-local" name="to" required value=(local_field(w.to(), tz)); }
            button type="submit" { "Show" }
        }
        p.presets {
            @for (label, p) in presets {
                a href=(href("/reports", p)) { (label) } " "
            }
            "· " a #report-csv href=(href("/reports/shift.csv", w)) download { "Download CSV" }
        }
        p #report-window { "Tasks created from " strong { (local(w.from(), tz)) } " to "
            strong { (local(w.to(), tz)) } " (" (zone) "), each as it stood at the end." }
        div.stats {
            div.stat { span.big #report-created { (r.created) } span { "created" } }
            div.stat { span.big #report-done { (r.done) } span { "done" } }
            div.stat { span.big #report-cancelled { (r.cancelled) } span { "cancelled" } }
            div.stat { span.big #report-open { (r.open) } span { "still open" } }
            div.stat.overdue[r.escalated > 0] { span.big #report-escalated { (r.escalated) } span { "escalated" } }
        }
        @if r.by_department.is_empty() {
            p.empty { "No task was created in this window." }
        } @else {
            section {
                h2 { "Tasks per department" }
                (status_chart(&r.by_department))
            }
            section {
                h2 { "Minutes per department" }
                @if timed.is_empty() { p.empty { "No task was accepted or done in this window." } }
                @else { (times_chart(&timed)) }
            }
            section {
                h2 { "Departments" }
                table.report-departments {
                    thead { tr {
                        th { "Department" } th { "Created" } th { "Done" } th { "Open" }
                        th { "Escalated" } th { "Median to accept" } th { "Median to done" }
                        th { "p90 to done" }
                    } }
                    tbody {
                        @for d in &r.by_department {
                            tr data-department=(department_name(d)) {
                                td { (department_name(d)) } td { (d.created) } td { (d.done) }
                                td { (d.open) } td { (d.escalated) }
                                td { (minutes(d.median_minutes_to_accept)) }
                                td { (minutes(d.median_minutes_to_done)) }
                                td { (minutes(d.p90_minutes_to_done)) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Services" }
                table.report-services {
                    thead { tr {
                        th { "Service" } th { "External ID" } th { "Created" } th { "Done" }
                        th { "Median to done" }
                    } }
                    tbody {
                        @for s in &r.by_service {
                            tr data-service=(s.name) {
                                td { (s.name) } td { (s.external_id.as_deref().unwrap_or("–")) }
                                td { (s.created) } td { (s.done) }
                                td { (minutes(s.median_minutes_to_done)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The `/reports` page.
pub async fn reports(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<WindowQuery>,
) -> Result<Html<String>, UiError> {
    let (window, tz, presets) = window_of(&app, &v.user.hotel, &q).await?;
    let report = api::report_of(&app, &v.user.hotel, window).await?;
    let body = page_body(&report, &window, &tz, &presets);
    Ok(layout(&v, "Shift report", Nav::Reports, body))
}

/// `/reports/shift.csv`: the page's window as CSV.
pub async fn reports_csv(
    State(app): State<Arc<AppState>>,
    Manager(v): Manager,
    Query(q): Query<WindowQuery>,
) -> Result<Response, UiError> {
    let (window, _, _) = window_of(&app, &v.user.hotel, &q).await?;
    let report = api::report_of(&app, &v.user.hotel, window).await?;
    Ok(api::csv_response(&report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::parse_shift_ends;

    #[test]
    fn the_default_window_is_the_shift_under_way() {
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        let ends = parse_shift_ends("07:00,15:00,23:00").unwrap();
        let now: Timestamp = "2026-07-01T13:10:00Z".parse().unwrap();
        let p = presets(&ends, &tz, now);
        let labels: Vec<&str> = p.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            labels,
            [
                "Current shift",
                "Previous shift",
                "Last 8 hours",
                "Last 24 hours",
                "Last 7 days"
            ]
        );
        assert_eq!(local_field(p[0].1.from(), &tz), "2026-07-01T07:00");
        assert_eq!(local_field(p[1].1.from(), &tz), "2026-06-30T23:00");
        assert_eq!(local_field(p[1].1.to(), &tz), "2026-07-01T07:00");
        let none = presets(&[], &tz, now);
        assert_eq!(none[0].0, "Last 8 hours");
    }
}
