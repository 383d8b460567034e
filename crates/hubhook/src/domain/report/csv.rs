//! The report as CSV (`Accept: text/csv`): a header row, then one row per department, RFC 4180
//! (CRLF line ends; a field with a comma, a quote or a line break quoted, its quotes doubled). A
//! text field that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab
//! or a carriage return) is prefixed with `'`: department names are typed by people.

use std::fmt::Write;

use super::Report;

/// The header row's columns, named as the JSON's fields.
pub const HEADER: [&str; 8] = [
    "department",
    "created",
    "done",
    "open",
    "escalated",
    "medianMinutesToAccept",
    "medianMinutesToDone",
    "p90MinutesToDone",
];

/// One text field, quoted as needed.
pub fn field(raw: &str) -> String {
    let defused = match raw.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{raw}"),
        _ => raw.to_owned(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// A number of minutes (one decimal), empty when none was measured.
fn minutes(m: Option<f64>) -> String {
    m.map(|m| format!("{m:.1}")).unwrap_or_default()
}

/// The report's departments as CSV.
pub fn departments(report: &Report) -> String {
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for d in &report.by_department {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{}\r\n",
            field(d.department.as_deref().unwrap_or_default()),
            d.created,
            d.done,
            d.open,
            d.escalated,
            minutes(d.median_minutes_to_accept),
            minutes(d.median_minutes_to_done),
            minutes(d.p90_minutes_to_done),
        );
    }
    out
}
