//! The shift report (CONTRACT.md section 7): what happened to the tasks created in a window
//! `[from, to)`, in total, per department and per service. Pure: the store reads one row per task
//! of the window ([`ReportRow`]: its creation and the first time it was accepted, done, cancelled
//! and escalated, from its history) and [`compute`] makes the figures.
//!
//! Every figure is the state at `to`: a task done after `to` counts as open, a task escalated after
//! `to` as not escalated, so a report asked for again later says the same (a window that ends in
//! the future reads as now). `created = done + cancelled + open` always holds.
//!
//! Times are minutes with one decimal; a median or p90 is the nearest rank (the smallest measured
//! value with at least half, or nine tenths, of the values at or below it), and null when nothing
//! was measured. The windows ([`window`]), the hotel's shift ends ([`shift`]) and the CSV
//! ([`csv`]) are in their own files.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

pub mod csv;
pub mod shift;
#[cfg(test)]
mod tests;
pub mod window;

pub use window::{MAX_SPAN, Window, WindowError};

/// One task of the window as the report needs it (the store reads it from the task and its
/// history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The catalog entry it was made from, if any.
    pub external_id: Option<String>,
    /// Its name.
    pub task_name: String,
    /// Its department, if any.
    pub department: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// Its first move to accepted or beyond (accepted, in progress, done).
    pub accepted_at: Option<Timestamp>,
    /// Its move to done.
    pub done_at: Option<Timestamp>,
    /// Its move to cancelled.
    pub cancelled_at: Option<Timestamp>,
    /// Its first escalation (for either reason).
    pub escalated_at: Option<Timestamp>,
}

/// The shift report (CONTRACT.md's REPORT).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The window's start (included), RFC 3339.
    pub from: String,
    /// The window's end (excluded), RFC 3339.
    pub to: String,
    /// Tasks created in the window.
    pub created: u32,
    /// Of those, done by `to`.
    pub done: u32,
    /// Of those, cancelled by `to`.
    pub cancelled: u32,
    /// Of those, neither done nor cancelled at `to`.
    pub open: u32,
    /// Of those, escalated (for either reason) by `to`.
    pub escalated: u32,
    /// Per department, by name (tasks without one last).
    pub by_department: Vec<DepartmentFigures>,
    /// Per service, the most requested first.
    pub by_service: Vec<ServiceFigures>,
}

/// One department's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentFigures {
    /// Its name; null for tasks of no department.
    pub department: Option<String>,
    /// Tasks created in the window.
    pub created: u32,
    /// Of those, done by `to`.
    pub done: u32,
    /// Of those, neither done nor cancelled at `to`.
    pub open: u32,
    /// Of those, escalated by `to`.
    pub escalated: u32,
    /// Median minutes from creation to the first move to accepted or beyond.
    pub median_minutes_to_accept: Option<f64>,
    /// Median minutes from creation to done.
    pub median_minutes_to_done: Option<f64>,
    /// 90th percentile of the minutes from creation to done.
    pub p90_minutes_to_done: Option<f64>,
}

/// One service's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceFigures {
    /// The catalog's external ID; null for tasks made by name.
    pub external_id: Option<String>,
    /// The task name (the newest task's, should the entry have been renamed).
    pub name: String,
    /// Tasks created in the window.
    pub created: u32,
    /// Of those, done by `to`.
    pub done: u32,
    /// Median minutes from creation to done.
    pub median_minutes_to_done: Option<f64>,
}

/// The nearest-rank percentile (`p` in 1..=100) of sorted values; None when there are none.
pub fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Minutes from `a` to `b` (0 if `b` is earlier).
pub fn minutes_between(a: Timestamp, b: Timestamp) -> f64 {
    (b.as_millisecond() - a.as_millisecond()).max(0) as f64 / 60_000.0
}

/// Minutes as the report shows them: one decimal.
fn shown(m: Option<f64>) -> Option<f64> {
    m.map(|m| (m * 10.0).round() / 10.0)
}

/// What one group (the whole window, a department, a service) adds up.
#[derive(Default)]
struct Tally {
    created: u32,
    done: u32,
    cancelled: u32,
    escalated: u32,
    to_accept: Vec<f64>,
    to_done: Vec<f64>,
}

impl Tally {
    fn add(&mut self, r: &ReportRow, to: Timestamp) {
        let by_to = |t: Option<Timestamp>| t.filter(|t| *t < to);
        self.created += 1;
        if let Some(d) = by_to(r.done_at) {
            self.done += 1;
            self.to_done.push(minutes_between(r.created_at, d));
        } else if by_to(r.cancelled_at).is_some() {
            self.cancelled += 1;
        }
        if by_to(r.escalated_at).is_some() {
            self.escalated += 1;
        }
        if let Some(a) = by_to(r.accepted_at) {
            self.to_accept.push(minutes_between(r.created_at, a));
        }
    }

    fn open(&self) -> u32 {
        self.created - self.done - self.cancelled
    }

    /// (median to accept, median to done, p90 to done).
    fn times(mut self) -> (Option<f64>, Option<f64>, Option<f64>) {
        self.to_accept.sort_by(f64::total_cmp);
        self.to_done.sort_by(f64::total_cmp);
        (
            shown(percentile(&self.to_accept, 50)),
            shown(percentile(&self.to_done, 50)),
            shown(percentile(&self.to_done, 90)),
        )
    }
}

/// The report of `window` over its tasks (`rows`: the tasks created in it, in creation order; any
/// other is ignored).
pub fn compute(window: Window, rows: &[ReportRow]) -> Report {
    let (from, to) = (window.from(), window.to());
    let mut total = Tally::default();
    // Departments by name, none last; services by external ID, then by name for those without.
    let mut departments: BTreeMap<(bool, String), Tally> = BTreeMap::new();
    let mut services: BTreeMap<(Option<String>, String), (String, Tally)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.created_at >= from && r.created_at < to)
    {
        total.add(r, to);
        let dept = (
            r.department.is_none(),
            r.department.clone().unwrap_or_default(),
        );
        departments.entry(dept).or_default().add(r, to);
        let key = match &r.external_id {
            Some(e) => (Some(e.clone()), String::new()),
            None => (None, r.task_name.clone()),
        };
        let (name, tally) = services.entry(key).or_default();
        // Rows come in creation order: the newest name wins.
        name.clone_from(&r.task_name);
        tally.add(r, to);
    }
    let by_department = departments
        .into_iter()
        .map(|((none, name), t)| {
            let (open, created, done, escalated) = (t.open(), t.created, t.done, t.escalated);
            let (accept, median, p90) = t.times();
            DepartmentFigures {
                department: (!none).then_some(name),
                created,
                done,
                open,
                escalated,
                median_minutes_to_accept: accept,
                median_minutes_to_done: median,
                p90_minutes_to_done: p90,
            }
        })
        .collect();
    let mut by_service: Vec<ServiceFigures> = services
        .into_iter()
        .map(|((external_id, _), (name, t))| {
            let (created, done) = (t.created, t.done);
            ServiceFigures {
                external_id,
                name,
                created,
                done,
                median_minutes_to_done: t.times().1,
            }
        })
        .collect();
    by_service.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
    Report {
        from: super::time::format(from),
        to: super::time::format(to),
        created: total.created,
        done: total.done,
        cancelled: total.cancelled,
        open: total.open(),
        escalated: total.escalated,
        by_department,
        by_service,
    }
}
