//! What the Duve fuzz targets check, shared with the stable replay test
//! (`crates/duve/tests/fuzz_corpus.rs` includes this file with `#[path]`).
//!
//! Every function here must hold for *any* input: a panic or a failed
//! assertion is a finding.

use arbitrary::{Result, Unstructured};
use duve::{Envelope, EventKind, Field, FieldMap, Json, Path, Quantity, parse_envelope};
use serde_json::{Map, Number, Value};

/// The longest text a data point may carry (`duve::fields::MAX_TEXT_CHARS`).
const MAX_TEXT_CHARS: usize = 512;
/// The largest valid quantity.
const MAX_QUANTITY: u32 = 10_000;

/// Target `duve_parse`: arbitrary bytes as a webhook body, and as a field path.
pub fn parse_bytes(data: &[u8]) {
    match parse_envelope(data) {
        Ok(env) => check_envelope(&env, &FieldMap::default()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_path_text(text);
    }
}

/// Target `duve_json`: a structured, Duve-shaped JSON value built from the bytes,
/// serialised, then parsed back.
pub fn json_shaped(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(payload) = Payload::generate(&mut u) else {
        return;
    };
    let body = payload.to_bytes();
    let env = parse_envelope(&body)
        .unwrap_or_else(|e| panic!("a well-formed payload was refused: {e}: {payload:?}"));
    assert_eq!(env.event, payload.event);
    let sent = Value::Object(payload.resource.clone());
    assert!(
        same_json(&env.resource, &sent),
        "resource changed: {sent} became {}",
        env.resource
    );
    match &payload.account_id {
        Some(Value::String(s)) if !s.is_empty() => {
            assert_eq!(env.account_id.as_deref(), Some(&**s))
        }
        // A float id may come back one ulp off (see `same_json`), so only its presence is checked.
        Some(Value::Number(n)) if n.is_f64() => assert!(env.account_id.is_some()),
        Some(Value::Number(n)) => assert_eq!(env.account_id, Some(n.to_string())),
        _ => assert_eq!(env.account_id, None),
    }
    // A field map with one extra path, as a hotel's configuration may add.
    let mut map = FieldMap::default();
    if let Ok(extra) = payload.extra_path.parse::<Path>() {
        map = map.with_extra(&[(payload.extra_field, extra)]);
    }
    check_envelope(&env, &map);
}

/// The parsed `a` means the JSON `b` that was sent, except that floats may differ in their last
/// bits: serde_json's default float parser (without the `float_roundtrip` feature) is not always
/// correctly rounded, least of all for subnormals. An object's repeated key counts as its last
/// (as `Json::get` reads it); the generated payloads have none, so the pair counts must match too.
fn same_json(a: &Json<'_>, b: &Value) -> bool {
    match (a, b) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(x), Value::Bool(y)) => x == y,
        (Json::String(x), Value::String(y)) => x == y,
        (Json::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => {
                    x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs()) + f64::MIN_POSITIVE
                }
                _ => false,
            }
        }
        (Json::Number(x), Value::Number(y)) => x == y,
        (Json::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Json::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && y.iter()
                    .all(|(k, w)| a.get(k).is_some_and(|v| same_json(v, w)))
        }
        _ => false,
    }
}

/// The invariants of a parsed envelope and of what the field map extracts from it.
pub fn check_envelope(env: &Envelope<'_>, map: &FieldMap) {
    assert!(env.resource.is_object(), "resource must be an object");
    if let Some(id) = &env.account_id {
        assert!(!id.is_empty(), "an empty account id must be None");
    }
    if let Some(kind) = env.kind() {
        assert_eq!(kind.as_str(), env.event);
    }

    let order = map.order(&env.resource);
    for text in [
        &order.reservation_id,
        &order.room_number,
        &order.first_name,
        &order.last_name,
        &order.order_id,
        &order.delivery_time,
        &order.notes,
        &order.language,
    ]
    .into_iter()
    .flatten()
    {
        check_text(text);
    }
    if let Some(charge) = order.charge_amount {
        assert!(charge.is_finite(), "charge {charge} is not finite");
    }
    let mut keys = std::collections::HashSet::new();
    for item in &order.items {
        assert!(
            keys.insert(item.key.as_str()),
            "item key {} repeated",
            item.key
        );
        for text in [&item.name, &item.external_id].into_iter().flatten() {
            check_text(text);
        }
        match &item.quantity {
            Quantity::Valid(q) => assert!((1..=MAX_QUANTITY).contains(q), "quantity {q}"),
            Quantity::Invalid(raw) => assert!(raw.chars().count() <= MAX_TEXT_CHARS),
        }
    }

    let facts = map.reservation(&env.resource);
    for text in [
        &facts.reservation_id,
        &facts.room_number,
        &facts.first_name,
        &facts.last_name,
        &facts.language,
        &facts.check_in,
        &facts.check_out,
    ]
    .into_iter()
    .flatten()
    {
        check_text(text);
    }
    // The two extractions agree on what they share.
    assert_eq!(order.room_number, facts.room_number);
    assert_eq!(order.first_name, facts.first_name);
    assert_eq!(order.reservation_id, facts.reservation_id);
}

/// A data point is trimmed, non-empty and capped.
fn check_text(text: &str) {
    assert!(!text.is_empty(), "empty data point");
    assert_eq!(text.trim(), text, "untrimmed data point {text:?}");
    assert!(
        text.chars().count() <= MAX_TEXT_CHARS,
        "data point over the cap"
    );
}

/// A path that parses prints back as the same text, and looking it up never fails.
pub fn check_path_text(text: &str) {
    match text.parse::<Path>() {
        Ok(path) => {
            assert_eq!(path.to_string(), text, "a path must print as it was parsed");
            assert_eq!(path.to_string().parse::<Path>().as_ref(), Ok(&path));
            let doc: Json<'_> = serde_json::from_str(r#"{"a": [{"b": 1}], "0": {"": null}}"#)
                .expect("a constant document");
            let _ = path.lookup(&doc);
            let map = FieldMap::default().with_extra(&[(Field::RoomNumber, path.clone())]);
            assert_eq!(map.paths(Field::RoomNumber).first(), Some(&path));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A Duve-shaped delivery built from fuzz bytes.
#[derive(Debug, Clone)]
pub struct Payload {
    pub account_id: Option<Value>,
    pub event: String,
    pub resource: Map<String, Value>,
    pub extra_field: Field,
    pub extra_path: String,
}

/// Keys Duve uses (or that the default field map reads), so generated resources hit real paths.
const RESOURCE_KEYS: &[&str] = &[
    "id",
    "reservationId",
    "roomNumber",
    "apartmentNumber",
    "room",
    "unitName",
    "verifiedFirstName",
    "firstName",
    "verifiedLastName",
    "lastName",
    "preferredLanguage",
    "checkInDate",
    "checkIn",
    "arrivalDate",
    "checkOutDate",
    "departureDate",
    "guest",
    "reservation",
    "unitReservations",
];
const ORDER_KEYS: &[&str] = &[
    "id",
    "_id",
    "deliveryTime",
    "requestedTime",
    "scheduledFor",
    "notes",
    "comment",
    "guestNotes",
    "chargeAmount",
    "refundTotal",
];
const PRODUCT_KEYS: &[&str] = &[
    "name",
    "title",
    "externalId",
    "external_id",
    "productExternalId",
    "quantity",
    "qty",
];
const STRINGS: &[&str] = &[
    "",
    " ",
    "101",
    " 101 ",
    "4",
    "10000",
    "10001",
    "0",
    "-1",
    "1.5",
    "1e3",
    "NaN",
    "inf",
    "2023-01-14T15:30:00Z",
    "2023-01-14T15:30:00",
    "15:30",
    "24:00",
    "9999-12-31T23:59:59",
    "-009999-01-01T00:00:00Z",
    "Zoë",
    "\u{0}",
    "\u{202e}",
    "日本語",
    "😀",
];

impl Payload {
    pub fn generate(u: &mut Unstructured<'_>) -> Result<Payload> {
        let account_id = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(Value::String(text(u)?)),
            2 => Some(number(u)?),
            _ => Some(scalar(u)?),
        };
        let event = if u.ratio(7, 8)? {
            u.choose(&EventKind::ALL)?.as_str().to_owned()
        } else {
            text(u)?
        };
        let mut resource = Map::new();
        for _ in 0..u.int_in_range(0..=8)? {
            let key = key_from(u, RESOURCE_KEYS)?;
            let value = match key.as_str() {
                "guest" | "reservation" | "room" if u.ratio(1, 2)? => object(u, RESOURCE_KEYS, 2)?,
                "unitReservations" => array_of_objects(u, RESOURCE_KEYS, 2)?,
                _ => value(u, 2)?,
            };
            resource.insert(key, value);
        }
        if u.ratio(3, 4)? {
            let mut order = Map::new();
            for _ in 0..u.int_in_range(0..=5)? {
                order.insert(key_from(u, ORDER_KEYS)?, scalar(u)?);
            }
            let list_key = *u.choose(&["products", "items"])?;
            let mut products = Vec::new();
            for _ in 0..u.int_in_range(0..=6)? {
                let mut p = product(u)?;
                if u.ratio(1, 4)? {
                    let subs = (0..u.int_in_range(0..=4)?)
                        .map(|_| product(u).map(Value::Object))
                        .collect::<Result<Vec<_>>>()?;
                    p.insert("items".into(), Value::Array(subs));
                }
                products.push(if u.ratio(1, 16)? {
                    scalar(u)?
                } else {
                    Value::Object(p)
                });
            }
            order.insert(list_key.into(), Value::Array(products));
            resource.insert("order".into(), Value::Object(order));
        }
        Ok(Payload {
            account_id,
            event,
            resource,
            extra_field: *u.choose(&Field::ALL)?,
            extra_path: text(u)?,
        })
    }

    /// The delivery as Duve would send it.
    pub fn to_value(&self) -> Value {
        let mut body = Map::new();
        if let Some(id) = &self.account_id {
            body.insert("accountId".into(), id.clone());
        }
        body.insert("event".into(), Value::String(self.event.clone()));
        body.insert("resource".into(), Value::Object(self.resource.clone()));
        Value::Object(body)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }
}

fn product(u: &mut Unstructured<'_>) -> Result<Map<String, Value>> {
    let mut p = Map::new();
    for _ in 0..u.int_in_range(0..=4)? {
        p.insert(key_from(u, PRODUCT_KEYS)?, scalar(u)?);
    }
    Ok(p)
}

fn key_from(u: &mut Unstructured<'_>, keys: &[&str]) -> Result<String> {
    Ok(if u.ratio(15, 16)? {
        (*u.choose(keys)?).to_owned()
    } else {
        text(u)?
    })
}

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => (*u.choose(STRINGS)?).to_owned(),
        1 => u.arbitrary::<u16>()?.to_string(),
        2 => "x".repeat(u.int_in_range(500..=520)?),
        _ => u.arbitrary::<String>()?,
    })
}

fn number(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=3)? {
        0 => Value::from(u.int_in_range(0..=10_001u32)?),
        1 => Value::from(u.arbitrary::<i64>()?),
        2 => Value::from(u.arbitrary::<u64>()?),
        _ => Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
    })
}

fn scalar(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=4)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => number(u)?,
        _ => Value::String(text(u)?),
    })
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    if depth == 0 || u.ratio(3, 4)? {
        return scalar(u);
    }
    Ok(if u.arbitrary()? {
        Value::Array(
            (0..u.int_in_range(0..=3)?)
                .map(|_| value(u, depth - 1))
                .collect::<Result<_>>()?,
        )
    } else {
        object(u, RESOURCE_KEYS, depth - 1)?
    })
}

fn object(u: &mut Unstructured<'_>, keys: &[&str], depth: u32) -> Result<Value> {
    let mut m = Map::new();
    for _ in 0..u.int_in_range(0..=4)? {
        m.insert(key_from(u, keys)?, value(u, depth)?);
    }
    Ok(Value::Object(m))
}

fn array_of_objects(u: &mut Unstructured<'_>, keys: &[&str], depth: u32) -> Result<Value> {
    Ok(Value::Array(
        (0..u.int_in_range(0..=3)?)
            .map(|_| object(u, keys, depth))
            .collect::<Result<_>>()?,
    ))
}
