//! Property tests: hostile bodies and arbitrary resources never make parsing or extraction panic.

use duve::{FieldMap, Quantity, parse_envelope};
use proptest::prelude::*;
use serde_json::{Map, Value};

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

proptest! {
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
