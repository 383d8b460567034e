//! Each pattern is the rule its words describe: checked against the plain Rust rule it stands for,
//! over generated text, and on the edge cases an API tool tries.

use proptest::prelude::*;

use super::*;

const ALL: [&Format; 16] = [
    &HOTEL_ID,
    &CURSOR,
    &ROOM,
    &EXTERNAL_ID,
    &TASK_NAME,
    &DEPARTMENT,
    &NOTE,
    &DUE_AT,
    &TASK_ID,
    &SUBSCRIPTION_ID,
    &DELIVERY_ID,
    &URL,
    &HEADER,
    &BEARER,
    &BODY_TEMPLATE,
    &FIELD,
];

#[test]
fn every_pattern_compiles_and_is_anchored() {
    for f in ALL {
        assert!(Regex::new(f.pattern).is_ok(), "{}", f.what);
        assert!(
            f.pattern.starts_with('^') && f.pattern.ends_with('$'),
            "{}",
            f.what
        );
        // Only the escapes the three dialects read alike (see the module's comment).
        for banned in [r"\d", r"\s", r"\w", r"\z", r"\A", r"(?"] {
            assert!(!f.pattern.contains(banned), "{}: {banned}", f.what);
        }
    }
}

/// The rule a one-line pattern stands for, in plain Rust: no control character, and something left
/// once trimmed.
fn one_line_rule(s: &str) -> bool {
    !s.chars().any(char::is_control) && !s.trim().is_empty()
}

#[test]
fn one_line_text_has_something_visible_and_no_control_character() {
    for ok in [
        "101",
        " Villa 3 ",
        "Café",
        "a\u{3000}b",
        "🛏",
        "Food & Beverage",
    ] {
        assert!(ROOM.matches(ok), "{ok:?}");
    }
    for bad in [
        "",
        " ",
        "\t",
        "\u{3000}",
        "\u{a0}\u{2003}",
        "a\nb",
        "a\u{85}",
        "a\u{7f}",
        "\u{0}",
    ] {
        assert!(!ROOM.matches(bad), "{bad:?}");
    }
    assert!(ROOM.matches(&"x".repeat(64)));
    assert_eq!(
        ROOM.check(&"x".repeat(65)),
        Err(FormatError::Length {
            what: "room",
            min: 1,
            max: 64
        })
    );
}

#[test]
fn ids_are_their_generators_shape() {
    assert!(TASK_ID.matches(&uuid::Uuid::now_v7().to_string()));
    assert!(TASK_ID.matches("0190A0B1-0000-7000-8000-00000000000F"));
    assert!(!TASK_ID.matches(&uuid::Uuid::now_v7().simple().to_string()));
    assert!(!TASK_ID.matches("{0190a0b1-0000-7000-8000-000000000000}"));
    assert!(SUBSCRIPTION_ID.matches(&crate::domain::outbound::new_subscription_id()));
    assert!(DELIVERY_ID.matches(&crate::domain::outbound::new_delivery_id()));
    assert!(!DELIVERY_ID.matches(&crate::domain::outbound::new_subscription_id()));
}

#[test]
fn urls_are_absolute_http_ones() {
    for ok in [
        "http://a",
        "https://hooks.example.com/services/T0/B0?x=1&y=%20#top",
        "HTTPS://user:pw@example.com:8443/p",
        "http://127.0.0.1:9/hook",
        "http://[2001:db8::1]/x",
    ] {
        assert!(URL.matches(ok), "{ok:?}");
    }
    for bad in [
        "",
        "ftp://example.com/",
        "http://",
        "http:///x",
        "http://a b/",
        "http://example.com/a b",
        " http://example.com/",
        "http://exämple.com/",
        "http://example.com:/",
    ] {
        assert!(!URL.matches(bad), "{bad:?}");
    }
}

#[test]
fn headers_are_a_name_and_a_value() {
    for ok in ["X-Env: prod", "a:", " X : v\tw ", "X-Unicode: café"] {
        assert!(HEADER.matches(ok), "{ok:?}");
    }
    for bad in [
        "X-Env",
        ": v",
        "X Y: v",
        "X: a\nb",
        "X: \u{7f}",
        "X\u{3000}: v",
    ] {
        assert!(!HEADER.matches(bad), "{bad:?}");
    }
}

#[test]
fn due_times_are_instants_local_times_or_hours() {
    for ok in [
        "2026-07-01T15:30:00+02:00",
        "2026-07-01T15:30:00.123Z",
        "2026-07-01 15:30",
        "2026-07-01T15:30",
        "15:30",
    ] {
        assert!(DUE_AT.matches(ok), "{ok:?}");
    }
    for bad in ["tomorrow", "15h30", "2026-07-01", "15:30 ", "1:30"] {
        assert!(!DUE_AT.matches(bad), "{bad:?}");
    }
}

#[test]
fn decimals_are_written_one_way() {
    assert_eq!(decimal("50", 1, 500), Some(50));
    assert_eq!(decimal("500", 1, 500), Some(500));
    for bad in [
        "",
        "0",
        "501",
        "050",
        "+5",
        "-1",
        " 5",
        "5 ",
        "1e2",
        "99999999999999999999999",
    ] {
        assert_eq!(decimal(bad, 1, 500), None, "{bad:?}");
    }
    assert_eq!(decimal("0", 0, 1), Some(0));
    let pattern = Regex::new(DECIMAL_PATTERN).unwrap();
    for s in ["0", "7", "120", "00", "01", "-1", ""] {
        assert_eq!(
            pattern.is_match(s),
            decimal(s, 0, u64::MAX).is_some(),
            "{s:?}"
        );
    }
}

#[test]
fn date_times_are_rfc_3339_as_json_schema_reads_it() {
    // The verdicts of jsonschema-rs (the validator Schemathesis uses) on the same strings.
    let cases = [
        ("2024-01-01T00:00:00Z", true),
        ("2024-01-01t00:00:00z", true),
        ("2024-01-01 00:00:00Z", false),
        ("2024-01-01T00:00Z", false),
        ("2024-01-01T00:00:00", false),
        ("2024-01-01T00:00:00.123456789012Z", true),
        ("2024-01-01T23:59:60Z", true),
        ("2024-01-01T00:59:60+01:00", true),
        ("2024-01-01T22:59:60Z", false),
        ("2024-02-30T00:00:00Z", false),
        ("2024-02-29T00:00:00Z", true),
        ("2023-02-29T00:00:00Z", false),
        ("0000-01-01T00:00:00Z", true),
        ("9999-12-31T23:59:59-23:59", true),
        ("2024-01-01T00:00:00+24:00", false),
        ("2024-01-01T00:00:00+23:60", false),
        ("2024-01-01T24:00:00Z", false),
        ("2024-01-01T00:00:00.Z", false),
        ("2024-01-01T00:00:00-00:00", true),
        ("2024-01-01T00:00:00+0000", false),
        ("\u{ff12}024-01-01T00:00:00Z", false),
        ("1900-02-29T00:00:00Z", false),
        ("2000-02-29T00:00:00Z", true),
    ];
    for (s, valid) in cases {
        assert_eq!(date_time(s).is_some(), valid, "{s:?}");
    }
    let at = |s: &str| date_time(s).map(|t| t.to_string());
    assert_eq!(
        at("2024-01-01T01:00:00.5+01:00").as_deref(),
        Some("2024-01-01T00:00:00.5Z")
    );
    assert_eq!(
        at("2016-12-31T23:59:60Z").as_deref(),
        Some("2016-12-31T23:59:59Z")
    );
    assert_eq!(date_time("9999-12-31T23:59:59-23:59"), Some(Timestamp::MAX));
    assert_eq!(
        date_time("0000-01-01T00:00:00+23:59").map(|t| t < Timestamp::UNIX_EPOCH),
        Some(true)
    );
}

proptest! {
    #[test]
    fn one_line_pattern_is_its_rule(s in "\\PC{0,6}|[ \t\u{85}\u{a0}\u{3000}a\u{1}\u{9f}]{0,6}") {
        prop_assert_eq!(ROOM.matches(&s), one_line_rule(&s) && s.chars().count() <= 64);
    }

    #[test]
    fn a_header_line_is_one_the_dispatcher_can_send(s in "[ \tA-Za-z0-9:!~\u{e9}\u{1}\u{7f}-]{0,12}") {
        if HEADER.matches(&s) {
            let (name, value) = s.split_once(':').unwrap();
            prop_assert!(reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).is_ok());
            prop_assert!(reqwest::header::HeaderValue::from_str(value.trim()).is_ok());
        }
    }

    #[test]
    fn a_date_time_never_panics(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})") {
        let _ = date_time(&s);
    }
}
