//! Property tests: hostile bodies and arbitrary resources never make parsing or extraction panic,
//! and the borrowed `Json` tree reads every text as `serde_json::Value` does.

use std::fmt::Write as _;

use duve::{FieldMap, Json, Path, Quantity, parse_envelope};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// `value` as a [`Json`]: printed, then parsed back, as a body would be.
fn j(value: &Value) -> Json<'static> {
    let text = value.to_string();
    serde_json::from_str::<Json>(&text).unwrap().into_owned()
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        // Numeric-looking strings hit the quantity and charge parsers.
        "[ ]?-?[0-9]{1,6}(\\.[0-9]{1,2})?[ ]?".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        // Keys the default paths actually look at, so generated values reach the extractors.
        let key = prop_oneof![
            Just("order".to_owned()),
            Just("products".to_owned()),
            Just("items".to_owned()),
            Just("name".to_owned()),
            Just("title".to_owned()),
            Just("externalId".to_owned()),
            Just("quantity".to_owned()),
            Just("qty".to_owned()),
            Just("roomNumber".to_owned()),
            Just("room".to_owned()),
            Just("number".to_owned()),
            Just("unitReservations".to_owned()),
            Just("unitName".to_owned()),
            Just("chargeAmount".to_owned()),
            Just("id".to_owned()),
            "[a-zA-Z_]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `value` as a [`Json`] without a second parse (which may move a float by an ulp).
fn of_value(value: &Value) -> Json<'_> {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.clone()),
        Value::String(s) => Json::String(s.as_str().into()),
        Value::Array(items) => Json::Array(items.iter().map(of_value).collect()),
        Value::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), of_value(v)))
                .collect(),
        ),
    }
}

/// A JSON text in the making: objects may repeat keys, strings may be spelled with escapes.
#[derive(Debug, Clone)]
enum Text {
    /// A scalar, already as JSON text.
    Leaf(String),
    Array(Vec<Text>),
    Object(Vec<(Str, Text)>),
}

/// A string and whether to spell every non-alphanumeric char as `\uXXXX`.
#[derive(Debug, Clone)]
struct Str(String, bool);

/// Keys from a small pool, so that objects repeat them and paths find them.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("order".to_owned()),
        Just("products".to_owned()),
        Just("quantity".to_owned()),
        Just("roomNumber".to_owned()),
        Just("é".to_owned()),
        "[a-c]{1,2}",
    ]
}

fn arb_str(text: impl Strategy<Value = String>) -> impl Strategy<Value = Str> {
    (text, any::<bool>()).prop_map(|(s, escaped)| Str(s, escaped))
}

fn arb_text() -> impl Strategy<Value = Text> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| Value::from(f).to_string()),
        prop::sample::select(vec![
            "1.0",
            "-0",
            "-0.0",
            "0.5",
            "1e300",
            "1E-7",
            "2.5e+3",
            "-1e-320",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "123456789012345678901234567890",
        ])
        .prop_map(str::to_owned),
        arb_str(".{0,8}").prop_map(|s| {
            let mut out = String::new();
            write_str(&s, &mut out);
            out
        }),
    ]
    .prop_map(Text::Leaf);
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Text::Array),
            prop::collection::vec((arb_str(arb_key()), inner), 0..6).prop_map(Text::Object),
        ]
    })
}

fn write_str(s: &Str, out: &mut String) {
    let Str(text, escaped) = s;
    if !escaped {
        out.push_str(&serde_json::to_string(text).unwrap());
        return;
    }
    out.push('"');
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else {
            for unit in ch.encode_utf16(&mut [0; 2]) {
                write!(out, "\\u{unit:04x}").unwrap();
            }
        }
    }
    out.push('"');
}

fn write_text(t: &Text, out: &mut String) {
    match t {
        Text::Leaf(leaf) => out.push_str(leaf),
        Text::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_text(item, out);
            }
            out.push(']');
        }
        Text::Object(pairs) => {
            out.push('{');
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(key, out);
                out.push(':');
                write_text(value, out);
            }
            out.push('}');
        }
    }
}

/// One step of a path, kept apart so the test can follow it in a `Value` too.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            3 => arb_key().prop_map(Step::Key),
            1 => (0usize..4).prop_map(Step::Index),
        ],
        1..5,
    )
}

fn path_text(steps: &[Step]) -> String {
    let mut out = String::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Key(k) if i == 0 => out.push_str(k),
            Step::Key(k) => write!(out, ".{k}").unwrap(),
            Step::Index(n) => write!(out, "[{n}]").unwrap(),
        }
    }
    out
}

/// What `Path::lookup` did on a `Value`: missing, wrong type, out of range or null is `None`.
fn value_lookup<'v>(root: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let mut current = root;
    for step in steps {
        current = match step {
            Step::Key(k) => current.as_object()?.get(k)?,
            Step::Index(n) => current.as_array()?.get(*n)?,
        };
    }
    (!current.is_null()).then_some(current)
}

proptest! {
    #[test]
    fn json_reads_every_text_as_value_does(text in arb_text(), paths in prop::collection::vec(arb_steps(), 1..6)) {
        let mut body = String::new();
        write_text(&text, &mut body);
        let value: Value = serde_json::from_str(&body).unwrap();
        let json: Json = serde_json::from_str(&body).unwrap();
        prop_assert_eq!(json.to_string(), value.to_string());
        prop_assert_eq!(format!("{json:#}"), format!("{value:#}"));
        prop_assert!(json == value);
        for steps in &paths {
            let path: Path = path_text(steps).parse().unwrap();
            prop_assert_eq!(
                path.lookup(&json).map(Json::to_string),
                value_lookup(&value, steps).map(Value::to_string),
                "{}", path
            );
        }
        // Extraction from the text with its repeated keys equals extraction from what `Value` kept.
        let map = FieldMap::default();
        let kept = of_value(&value);
        prop_assert_eq!(map.order(&json), map.order(&kept));
        prop_assert_eq!(map.reservation(&json), map.reservation(&kept));
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_envelope(&body);
    }

    #[test]
    fn arbitrary_text_never_panics(body in ".{0,256}") {
        let _ = parse_envelope(body.as_bytes());
    }

    #[test]
    fn arbitrary_resources_never_panic(resource in arb_json()) {
        let resource = j(&resource);
        let map = FieldMap::default();
        let order = map.order(&resource);
        let facts = map.reservation(&resource);
        for item in &order.items {
            prop_assert!(!item.key.is_empty());
            if let Quantity::Valid(n) = item.quantity {
                prop_assert!((1..=10_000).contains(&n));
            }
        }
        for text in [&facts.room_number, &order.room_number, &order.order_id].into_iter().flatten() {
            prop_assert!(!text.is_empty());
            prop_assert!(text.chars().count() <= 512);
        }
        if let Some(charge) = order.charge_amount {
            prop_assert!(charge.is_finite());
        }
    }

    #[test]
    fn resources_round_trip_through_the_envelope(resource in arb_json()) {
        let body = serde_json::json!({"event": "orderCreated", "resource": resource}).to_string();
        match parse_envelope(body.as_bytes()) {
            Ok(envelope) => {
                prop_assert!(envelope.resource.is_object());
                let _ = FieldMap::default().order(&envelope.resource);
            }
            Err(e) => prop_assert_eq!(e, duve::EnvelopeError::ResourceNotAnObject),
        }
    }
}
