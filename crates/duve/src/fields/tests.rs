//! The field map's lookup rules.

use super::*;
use crate::json::tests::j;
use serde_json::{Value, json};

fn path(text: &str) -> Path {
    text.parse().unwrap()
}

#[test]
fn field_names_round_trip() {
    for field in Field::ALL {
        assert_eq!(Field::from_name(field.name()), Some(field));
        assert_eq!(field.to_string(), field.name());
        assert_eq!(Field::ALL[field as usize], field);
    }
    assert_eq!(Field::from_name("RoomNumber"), None);
    assert_eq!(Field::from_name("room_number"), Some(Field::RoomNumber));
}

#[test]
fn every_default_path_parses() {
    let map = FieldMap::default();
    for field in Field::ALL {
        let texts: Vec<String> = map.paths(field).iter().map(Path::to_string).collect();
        assert_eq!(texts, field.default_paths(), "{field}");
    }
    assert_eq!(map.paths(Field::RoomNumber).len(), 7);
}

#[test]
fn scalar_rules() {
    assert_eq!(scalar_text(&j(json!("101"))).as_deref(), Some("101"));
    assert_eq!(scalar_text(&j(json!("  101 \n"))).as_deref(), Some("101"));
    assert_eq!(scalar_text(&j(json!(""))), None);
    assert_eq!(scalar_text(&j(json!("   "))), None);
    assert_eq!(scalar_text(&j(json!(101))).as_deref(), Some("101"));
    assert_eq!(scalar_text(&j(json!(101.0))).as_deref(), Some("101"));
    assert_eq!(scalar_text(&j(json!(-3))).as_deref(), Some("-3"));
    assert_eq!(scalar_text(&j(json!(-0.0))).as_deref(), Some("0"));
    assert_eq!(scalar_text(&j(json!(1.5))).as_deref(), Some("1.5"));
    assert_eq!(
        scalar_text(&j(json!(1e20))).as_deref(),
        Some("100000000000000000000")
    );
    assert_eq!(
        scalar_text(&j(json!(u64::MAX))).as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(scalar_text(&j(json!(true))), None);
    assert_eq!(scalar_text(&j(json!(null))), None);
    assert_eq!(scalar_text(&j(json!(["101"]))), None);
    assert_eq!(scalar_text(&j(json!({"number": "101"}))), None);
}

#[test]
fn huge_integral_floats_stay_integers() {
    let v: Json = serde_json::from_str("1e300").unwrap();
    let text = scalar_text(&v).unwrap();
    assert_eq!(text.len(), 301);
    assert!(text.starts_with('1') && text.bytes().all(|b| b.is_ascii_digit()));
    let max = scalar_text(&j(json!(f64::MAX))).unwrap();
    assert!(max.len() <= MAX_TEXT_CHARS);
    assert!(max.bytes().all(|b| b.is_ascii_digit()));
}

#[test]
fn text_is_capped_on_a_char_boundary() {
    let long = "é".repeat(600);
    let text = scalar_text(&j(json!(long))).unwrap();
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    assert!(text.chars().all(|c| c == 'é'));

    let exact = "a".repeat(MAX_TEXT_CHARS);
    assert_eq!(scalar_text(&j(json!(exact))).unwrap(), exact);
}

#[test]
fn non_scalar_values_fall_through_to_the_next_path() {
    let map = FieldMap::default();
    let facts = map.reservation(&j(json!({
        "roomNumber": "  ",
        "apartmentNumber": true,
        "room": {"number": null, "floor": 2},
        "unitName": 12.0,
    })));
    assert_eq!(facts.room_number.as_deref(), Some("12"));
}

#[test]
fn quantity_rules() {
    let valid = |v: Value| parse_quantity(&j(v));
    assert_eq!(valid(json!(2)), Quantity::Valid(2));
    assert_eq!(valid(json!(2.0)), Quantity::Valid(2));
    assert_eq!(valid(json!("2")), Quantity::Valid(2));
    assert_eq!(valid(json!(" 3 ")), Quantity::Valid(3));
    assert_eq!(valid(json!(1)), Quantity::Valid(1));
    assert_eq!(valid(json!(10_000)), Quantity::Valid(10_000));
    assert_eq!(valid(json!(0)), Quantity::Invalid("0".into()));
    assert_eq!(valid(json!(-1)), Quantity::Invalid("-1".into()));
    assert_eq!(valid(json!(1.5)), Quantity::Invalid("1.5".into()));
    assert_eq!(valid(json!(10_001)), Quantity::Invalid("10001".into()));
    assert_eq!(valid(json!("abc")), Quantity::Invalid("abc".into()));
    assert_eq!(valid(json!("")), Quantity::Invalid(String::new()));
    assert_eq!(valid(json!("NaN")), Quantity::Invalid("NaN".into()));
    assert_eq!(valid(json!("inf")), Quantity::Invalid("inf".into()));
    assert_eq!(valid(json!(true)), Quantity::Invalid("true".into()));
    assert_eq!(valid(json!([2])), Quantity::Invalid("[2]".into()));
    assert_eq!(
        valid(json!({"n": 2})),
        Quantity::Invalid(r#"{"n":2}"#.into())
    );
    assert_eq!(
        valid(json!(u64::MAX)),
        Quantity::Invalid(u64::MAX.to_string())
    );
}

#[test]
fn absent_quantity_is_one_and_first_present_decides() {
    let map = FieldMap::default();
    assert_eq!(map.quantity(&j(json!({}))), Quantity::Valid(1));
    assert_eq!(
        map.quantity(&j(json!({"quantity": null}))),
        Quantity::Valid(1)
    );
    assert_eq!(map.quantity(&j(json!({"qty": 4}))), Quantity::Valid(4));
    assert_eq!(
        map.quantity(&j(json!({"quantity": null, "qty": "5"}))),
        Quantity::Valid(5)
    );
    assert_eq!(
        map.quantity(&j(json!({"quantity": "x", "qty": 2}))),
        Quantity::Invalid("x".into())
    );
}

#[test]
fn invalid_quantity_raw_text_is_capped() {
    let big = json!({"list": vec!["abcdefghij"; 1000]});
    let Quantity::Invalid(raw) = parse_quantity(&j(big)) else {
        panic!("object quantity must be invalid");
    };
    assert_eq!(raw.chars().count(), MAX_TEXT_CHARS);
    assert!(raw.starts_with(r#"{"list":["abcdefghij""#));

    let Quantity::Invalid(raw) = parse_quantity(&j(json!("x".repeat(2000)))) else {
        panic!("text quantity must be invalid");
    };
    assert_eq!(raw.len(), MAX_TEXT_CHARS);
}

#[test]
fn repeated_keys_count_as_their_last() {
    let resource: Json = serde_json::from_str(
        r#"{"roomNumber":"1","order":{"products":[{"externalId":"4","quantity":"x","quantity":3,"name":"A","name":"B"}]},"roomNumber":"2"}"#,
    )
    .unwrap();
    let order = FieldMap::default().order(&resource);
    assert_eq!(order.room_number.as_deref(), Some("2"));
    assert_eq!(order.items[0].quantity, Quantity::Valid(3));
    assert_eq!(order.items[0].name.as_deref(), Some("B"));

    let quantity: Json = serde_json::from_str(r#"{"n":1,"b":[],"n":2}"#).unwrap();
    assert_eq!(
        parse_quantity(&quantity),
        Quantity::Invalid(r#"{"b":[],"n":2}"#.into())
    );
}

#[test]
fn prepend_puts_hotel_paths_first() {
    let mut map = FieldMap::default();
    map.prepend(Field::RoomNumber, path("custom.roomNo"));
    let paths = map.paths(Field::RoomNumber);
    assert_eq!(paths[0], path("custom.roomNo"));
    assert_eq!(paths[1], path("roomNumber"));
    assert_eq!(paths.len(), 8);

    let resource = j(json!({"roomNumber": "101", "custom": {"roomNo": 7}}));
    assert_eq!(map.reservation(&resource).room_number.as_deref(), Some("7"));
    assert_eq!(
        FieldMap::default()
            .reservation(&resource)
            .room_number
            .as_deref(),
        Some("101")
    );

    // Re-prepending an existing path moves it instead of duplicating it.
    map.prepend(Field::RoomNumber, path("room.number"));
    let texts: Vec<String> = map
        .paths(Field::RoomNumber)
        .iter()
        .map(Path::to_string)
        .collect();
    assert_eq!(&texts[..3], ["room.number", "custom.roomNo", "roomNumber"]);
    assert_eq!(texts.len(), 8);

    // Other fields are untouched.
    assert_eq!(
        map.paths(Field::FirstName),
        FieldMap::default().paths(Field::FirstName)
    );
}

#[test]
fn with_extra_keeps_the_given_order() {
    let map = FieldMap::default().with_extra(&[
        (Field::RoomNumber, path("a")),
        (Field::ExternalId, path("sku")),
        (Field::RoomNumber, path("b")),
    ]);
    let rooms: Vec<String> = map
        .paths(Field::RoomNumber)
        .iter()
        .map(Path::to_string)
        .collect();
    assert_eq!(&rooms[..3], ["a", "b", "roomNumber"]);
    assert_eq!(map.paths(Field::ExternalId)[0], path("sku"));

    let order = map.order(&j(
        json!({"order": {"products": [{"sku": 12, "externalId": "1"}]}}),
    ));
    assert_eq!(order.items[0].external_id.as_deref(), Some("12"));
}

#[test]
fn products_flatten_with_position_keys() {
    let order = FieldMap::default().order(&j(json!({"order": {"products": [
        {"name": "Towels", "externalId": "4", "quantity": 2},
        {"name": "Room setup", "items": [
            {"title": "Baby cot", "externalId": "8"},
            {"externalId": 6, "qty": "2"},
            "stray",
        ]},
        42,
        {"title": " Breakfast ", "items": []},
    ]}})));
    let summary: Vec<(&str, Option<&str>, Option<&str>, Quantity)> = order
        .items
        .iter()
        .map(|i| {
            (
                i.key.as_str(),
                i.name.as_deref(),
                i.external_id.as_deref(),
                i.quantity.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("0", Some("Towels"), Some("4"), Quantity::Valid(2)),
            ("1.0", Some("Baby cot"), Some("8"), Quantity::Valid(1)),
            ("1.1", Some("Room setup"), Some("6"), Quantity::Valid(2)),
            ("1.2", None, None, Quantity::Valid(1)),
            ("2", None, None, Quantity::Valid(1)),
            ("3", Some("Breakfast"), None, Quantity::Valid(1)),
        ]
    );
}

#[test]
fn first_non_empty_product_list_wins() {
    let map = FieldMap::default();
    let order = map.order(&j(json!({
        "order": {"products": [], "items": "nope"},
        "products": [{"externalId": "3"}],
    })));
    assert_eq!(order.items.len(), 1);
    assert_eq!(order.items[0].external_id.as_deref(), Some("3"));

    assert!(
        map.order(&j(json!({"order": {"products": {}}})))
            .items
            .is_empty()
    );
    assert!(map.order(&j(json!({}))).items.is_empty());
}

#[test]
fn charge_amount_rules() {
    let charge = |order: Value| {
        FieldMap::default()
            .order(&j(json!({"order": order})))
            .charge_amount
    };
    assert_eq!(charge(json!({"chargeAmount": 0})), Some(0.0));
    assert_eq!(charge(json!({"chargeAmount": 25.5})), Some(25.5));
    assert_eq!(charge(json!({"chargeAmount": " 12.50 "})), Some(12.5));
    assert_eq!(charge(json!({"chargeAmount": "free"})), None);
    assert_eq!(charge(json!({"chargeAmount": "NaN"})), None);
    assert_eq!(charge(json!({"chargeAmount": true})), None);
    assert_eq!(charge(json!({"chargeAmount": null})), None);
    assert_eq!(charge(json!({})), None);
}

#[test]
fn order_on_an_empty_resource_is_empty() {
    let order = FieldMap::default().order(&j(json!({})));
    assert_eq!(
        order,
        OrderData {
            reservation_id: None,
            room_number: None,
            first_name: None,
            last_name: None,
            order_id: None,
            items: Vec::new(),
            delivery_time: None,
            notes: None,
            charge_amount: None,
            language: None,
        }
    );
    assert_eq!(
        FieldMap::default().reservation(&j(json!("not an object"))),
        ReservationFacts::default()
    );
}
