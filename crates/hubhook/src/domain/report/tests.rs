//! The report's figures, windows and CSV.

use jiff::{Timestamp, tz::TimeZone};

use super::*;

fn at(raw: &str) -> Timestamp {
    raw.parse().unwrap()
}

/// A task created `created` minutes after 10:00, accepted, done, cancelled and escalated that
/// many minutes after 10:00 (None: never).
fn row(
    dept: Option<&str>,
    service: (Option<&str>, &str),
    created: i64,
    moves: [Option<i64>; 4],
) -> ReportRow {
    let base = at("2026-07-01T10:00:00Z");
    let m = |mins: i64| {
        base.checked_add(jiff::SignedDuration::from_mins(mins))
            .unwrap()
    };
    ReportRow {
        external_id: service.0.map(str::to_owned),
        task_name: service.1.to_owned(),
        department: dept.map(str::to_owned),
        created_at: m(created),
        accepted_at: moves[0].map(m),
        done_at: moves[1].map(m),
        cancelled_at: moves[2].map(m),
        escalated_at: moves[3].map(m),
    }
}

fn window(from: &str, to: &str) -> Window {
    Window::new(at(from), at(to)).unwrap()
}

const TOWELS: (Option<&str>, &str) = (Some("4"), "Serve towels");
const PILLOWS: (Option<&str>, &str) = (Some("6"), "Serve pillows");
const LUGGAGE: (Option<&str>, &str) = (Some("22"), "Luggage");

#[test]
fn figures_are_the_state_at_the_end_of_the_window() {
    let rows = [
        // Housekeeping: accepted after 2, 4 and 6 minutes; done after 10, 20, 30, 40.
        row(
            Some("Housekeeping"),
            TOWELS,
            0,
            [Some(2), Some(10), None, None],
        ),
        row(
            Some("Housekeeping"),
            TOWELS,
            0,
            [Some(4), Some(20), None, Some(10)],
        ),
        row(
            Some("Housekeeping"),
            PILLOWS,
            0,
            [Some(6), Some(30), None, None],
        ),
        row(
            Some("Housekeeping"),
            PILLOWS,
            0,
            [None, Some(40), None, None],
        ),
        // Done after the window ends (at 11:00): open in this report, its accept counted.
        row(
            Some("Housekeeping"),
            TOWELS,
            5,
            [Some(7), Some(90), None, None],
        ),
        // Cancelled; escalated after the window: not escalated here.
        row(
            Some("Front Office"),
            LUGGAGE,
            1,
            [None, None, Some(3), Some(70)],
        ),
        // No department, made by name: still open, escalated.
        row(
            None,
            (None, "Fix the lamp"),
            2,
            [None, None, None, Some(12)],
        ),
        // Created before the window: not in it.
        row(
            Some("Front Office"),
            LUGGAGE,
            -5,
            [None, Some(1), None, None],
        ),
    ];
    let r = compute(
        window("2026-07-01T10:00:00Z", "2026-07-01T11:00:00Z"),
        &rows,
    );
    assert_eq!(r.from, "2026-07-01T10:00:00.000Z");
    assert_eq!(r.to, "2026-07-01T11:00:00.000Z");
    assert_eq!(
        (r.created, r.done, r.cancelled, r.open, r.escalated),
        (7, 4, 1, 2, 2)
    );
    let names: Vec<Option<&str>> = r
        .by_department
        .iter()
        .map(|d| d.department.as_deref())
        .collect();
    assert_eq!(names, [Some("Front Office"), Some("Housekeeping"), None]);
    let hk = &r.by_department[1];
    assert_eq!((hk.created, hk.done, hk.open, hk.escalated), (5, 4, 1, 1));
    // Accepted after 2, 4, 6, 2 (the task done late): nearest-rank median of [2, 2, 4, 6] is 2.
    assert_eq!(hk.median_minutes_to_accept, Some(2.0));
    assert_eq!(hk.median_minutes_to_done, Some(20.0));
    assert_eq!(hk.p90_minutes_to_done, Some(40.0));
    let fo = &r.by_department[0];
    assert_eq!((fo.created, fo.done, fo.open, fo.escalated), (1, 0, 0, 0));
    assert_eq!(
        (
            fo.median_minutes_to_accept,
            fo.median_minutes_to_done,
            fo.p90_minutes_to_done
        ),
        (None, None, None),
        "nothing measured: null"
    );
    let none = &r.by_department[2];
    assert_eq!((none.created, none.open, none.escalated), (1, 1, 1));

    type Service<'a> = (Option<&'a str>, &'a str, u32, u32, Option<f64>);
    let services: Vec<Service> = r
        .by_service
        .iter()
        .map(|s| {
            (
                s.external_id.as_deref(),
                s.name.as_str(),
                s.created,
                s.done,
                s.median_minutes_to_done,
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            (Some("4"), "Serve towels", 3, 2, Some(10.0)),
            (Some("6"), "Serve pillows", 2, 2, Some(30.0)),
            (None, "Fix the lamp", 1, 0, None),
            (Some("22"), "Luggage", 1, 0, None),
        ]
    );
}

#[test]
fn minutes_have_one_decimal_and_an_empty_window_is_all_zero() {
    let base = at("2026-07-01T10:00:00Z");
    let r = ReportRow {
        external_id: None,
        task_name: "Towels".into(),
        department: None,
        created_at: base,
        accepted_at: Some(at("2026-07-01T10:01:20Z")),
        done_at: Some(at("2026-07-01T10:02:29.999Z")),
        cancelled_at: None,
        escalated_at: None,
    };
    let report = compute(window("2026-07-01T10:00:00Z", "2026-07-01T12:00:00Z"), &[r]);
    let d = &report.by_department[0];
    assert_eq!(d.median_minutes_to_accept, Some(1.3));
    assert_eq!(d.median_minutes_to_done, Some(2.5));
    let empty = compute(window("2026-07-01T10:00:00Z", "2026-07-01T12:00:00Z"), &[]);
    assert_eq!((empty.created, empty.open), (0, 0));
    assert!(empty.by_department.is_empty() && empty.by_service.is_empty());
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "byDepartment",
            "byService",
            "cancelled",
            "created",
            "done",
            "escalated",
            "from",
            "open",
            "to"
        ]
    );
    assert_eq!(json["byDepartment"][0]["p90MinutesToDone"], 2.5);
}

#[test]
fn percentiles_use_the_nearest_rank() {
    let v: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(percentile(&v, 50), Some(5.0));
    assert_eq!(percentile(&v, 90), Some(9.0));
    assert_eq!(percentile(&[7.0], 90), Some(7.0));
    assert_eq!(percentile(&[1.0, 2.0], 50), Some(1.0));
    assert_eq!(percentile(&[], 50), None);
}

#[test]
fn windows_default_to_the_last_eight_hours_and_are_bounded() {
    let now = at("2026-07-01T15:00:00Z");
    let w = Window::from_query(None, None, now).unwrap();
    assert_eq!((w.from(), w.to()), (at("2026-07-01T07:00:00Z"), now));
    let w = Window::from_query(None, Some("2026-07-01T12:00:00+02:00"), now).unwrap();
    assert_eq!(w.from(), at("2026-07-01T02:00:00Z"));
    let w = Window::from_query(Some("2026-06-30T00:00:00Z"), None, now).unwrap();
    assert_eq!(w.to(), now);
    // 31 days, and the hour a daylight-saving change adds, are fine; more is not.
    assert!(
        Window::from_query(
            Some("2026-06-01T00:00:00Z"),
            Some("2026-07-02T01:00:00Z"),
            now
        )
        .is_ok()
    );
    let long = Window::from_query(
        Some("2026-06-01T00:00:00Z"),
        Some("2026-07-02T01:00:01Z"),
        now,
    );
    assert!(matches!(long, Err(WindowError::TooLong { .. })), "{long:?}");
    for (from, to) in [
        ("2026-07-01T10:00:00Z", "2026-07-01T10:00:00Z"),
        ("2026-07-01T11:00:00Z", "2026-07-01T10:00:00Z"),
    ] {
        let got = Window::from_query(Some(from), Some(to), now);
        assert!(matches!(got, Err(WindowError::Empty { .. })), "{got:?}");
    }
    for bad in ["yesterday", "2026-07-01T10:00:00", "2026-07-01"] {
        let got = Window::from_query(Some(bad), None, now).unwrap_err();
        assert_eq!(
            got,
            WindowError::NotAnInstant {
                field: "from",
                raw: bad.into()
            }
        );
        assert!(got.to_string().contains("RFC 3339"), "{got}");
    }
}

#[test]
fn the_pages_window_reads_local_times() {
    let tz = TimeZone::get("Europe/Lisbon").unwrap();
    let default = window("2026-07-01T06:00:00Z", "2026-07-01T14:00:00Z");
    let w = Window::from_local(Some("2026-07-01T07:00"), Some(""), &tz, default).unwrap();
    assert_eq!(
        (w.from(), w.to()),
        (at("2026-07-01T06:00:00Z"), default.to())
    );
    let w = Window::from_local(None, Some("2026-07-01T13:00:00Z"), &tz, default).unwrap();
    assert_eq!(w.to(), at("2026-07-01T13:00:00Z"));
    let got = Window::from_local(Some("noon"), None, &tz, default);
    assert!(
        matches!(got, Err(WindowError::NotALocalTime { field: "from", .. })),
        "{got:?}"
    );
    assert_eq!(
        window::local_field(at("2026-07-01T06:00:00Z"), &tz),
        "2026-07-01T07:00"
    );
}

#[test]
fn csv_has_a_header_and_a_row_per_department_quoted_as_needed() {
    let rows = [
        row(
            Some("Housekeeping"),
            TOWELS,
            0,
            [Some(2), Some(10), None, None],
        ),
        row(
            Some("Food, \"Beverage\""),
            LUGGAGE,
            0,
            [None, None, None, None],
        ),
        row(Some("=cmd()"), LUGGAGE, 0, [None, None, None, None]),
        row(None, LUGGAGE, 0, [None, None, None, None]),
    ];
    let r = compute(
        window("2026-07-01T10:00:00Z", "2026-07-01T11:00:00Z"),
        &rows,
    );
    let text = csv::departments(&r);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines,
        [
            "department,created,done,open,escalated,medianMinutesToAccept,medianMinutesToDone,p90MinutesToDone",
            "'=cmd(),1,0,1,0,,,",
            "\"Food, \"\"Beverage\"\"\",1,0,1,0,,,",
            "Housekeeping,1,1,0,0,2.0,10.0,10.0",
            ",1,0,1,0,,,",
            "",
        ]
    );
    assert_eq!(csv::field("a\nb"), "\"a\nb\"");
    assert_eq!(csv::field("-1"), "'-1");
}
