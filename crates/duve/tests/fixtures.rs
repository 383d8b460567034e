//! Every Duve fixture payload parsed end to end: envelope, event kind, and the extracted data points.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use duve::{
    Envelope, EventKind, FieldMap, Item, OrderData, Quantity, ReservationFacts, parse_envelope,
};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// File name (e.g. `orderCreated.hubos.json`) to parsed envelope, for every `.json` fixture.
fn all_fixtures() -> HashMap<String, Envelope<'static>> {
    let mut out = HashMap::new();
    for entry in fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let body = fs::read(&path).unwrap();
        let envelope = parse_envelope(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_owned();
        out.insert(name, envelope);
    }
    out
}

fn fixture(name: &str) -> Envelope<'static> {
    let body = fs::read(fixture_dir().join(name)).unwrap();
    parse_envelope(&body).unwrap().into_owned()
}

fn order(name: &str) -> OrderData {
    let envelope = fixture(name);
    assert!(
        matches!(
            envelope.kind(),
            Some(EventKind::OrderCreated | EventKind::PendingOrderCreated)
        ),
        "{name} is not an order fixture"
    );
    FieldMap::default().order(&envelope.resource)
}

fn item(key: &str, name: &str, external_id: Option<&str>, quantity: u32) -> Item {
    Item {
        key: key.to_owned(),
        name: Some(name.to_owned()),
        external_id: external_id.map(str::to_owned),
        quantity: Quantity::Valid(quantity),
    }
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[test]
fn every_fixture_parses_and_its_kind_matches_its_file_name() {
    let fixtures = all_fixtures();
    assert!(
        fixtures.len() >= 20,
        "only {} fixtures found",
        fixtures.len()
    );
    for (name, envelope) in &fixtures {
        let key = name.split('.').next().unwrap();
        assert_eq!(envelope.event, key, "{name}");
        let kind = envelope
            .kind()
            .unwrap_or_else(|| panic!("{name}: unknown event"));
        assert_eq!(kind.as_str(), key);
        assert!(envelope.resource.is_object(), "{name}");
        // Extraction must cope with every event's resource, order or not.
        let map = FieldMap::default();
        let _ = map.order(&envelope.resource);
        let _ = map.reservation(&envelope.resource);
    }
}

#[test]
fn account_ids_as_sent() {
    assert_eq!(
        fixture("orderCreated.hubos.json").account_id.as_deref(),
        Some("6368c35588d770ea9b0ae2e1")
    );
    assert_eq!(
        fixture("preCheckInDone.json").account_id.as_deref(),
        Some("dummy23")
    );
    assert_eq!(fixture("guestLinkOpened.json").account_id, None);
    assert_eq!(fixture("reservationCreated.json").account_id, None);
}

#[test]
fn order_fixtures_have_distinct_order_ids() {
    let fixtures = all_fixtures();
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (name, envelope) in &fixtures {
        if !matches!(
            envelope.kind(),
            Some(EventKind::OrderCreated | EventKind::PendingOrderCreated)
        ) {
            continue;
        }
        let id = FieldMap::default()
            .order(&envelope.resource)
            .order_id
            .unwrap_or_else(|| panic!("{name} has no order id"));
        if let Some(other) = seen.insert(id.clone(), name) {
            panic!("{name} and {other} share order id {id}");
        }
    }
    assert!(seen.len() >= 10);
}

#[test]
fn order_created_hubos() {
    assert_eq!(
        order("orderCreated.hubos.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            room_number: s("101"),
            first_name: s("Bobby"),
            last_name: s("Smith"),
            order_id: s("63be7b757c2370fadee27bd2"),
            items: vec![item("0", "Towel service", Some("4"), 2)],
            delivery_time: s("2023-01-14T15:30:00.000Z"),
            notes: s("Two extra bath towels, please"),
            charge_amount: Some(0.0),
            language: s("en"),
        }
    );
}

#[test]
fn order_created_multi_item() {
    assert_eq!(
        order("orderCreated.multi-item.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            room_number: s("101"),
            first_name: s("Bobby"),
            last_name: s("Smith"),
            order_id: s("63be7b757c2370fadee27bd3"),
            items: vec![
                item("0.0", "Baby cot", Some("8"), 1),
                item("0.1", "Extra pillows", Some("6"), 2),
            ],
            delivery_time: None,
            notes: None,
            charge_amount: Some(0.0),
            language: None,
        }
    );
}

#[test]
fn order_created_plain() {
    assert_eq!(
        order("orderCreated.plain.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            room_number: None,
            first_name: None,
            last_name: None,
            order_id: s("63be7b757c2370fadee27bd1"),
            items: vec![],
            delivery_time: None,
            notes: None,
            charge_amount: Some(90.0),
            language: None,
        }
    );
}

#[test]
fn order_created_numeric_ids() {
    assert_eq!(
        order("orderCreated.numeric-ids.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53b"),
            room_number: s("204"),
            first_name: s("Alice"),
            last_name: s("Martin"),
            order_id: s("63be7b757c2370fadee27bd4"),
            items: vec![item("0", "Bottled water", Some("9"), 3)],
            delivery_time: s("2023-01-15T08:00:00.000Z"),
            notes: None,
            charge_amount: Some(0.0),
            language: s("fr"),
        }
    );
}

#[test]
fn order_created_apartment() {
    assert_eq!(
        order("orderCreated.apartment.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53c"),
            room_number: s("12B"),
            first_name: s("Carla"),
            last_name: s("Diaz"),
            order_id: s("63be7b757c2370fadee27bd5"),
            items: vec![
                item("0", "Kitchen restock", Some("11"), 1),
                item("1", "Fresh linen", Some("5"), 2),
            ],
            delivery_time: None,
            notes: s("Leave at the door"),
            charge_amount: Some(0.0),
            language: s("es"),
        }
    );
}

#[test]
fn order_created_mixed() {
    assert_eq!(
        order("orderCreated.mixed.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53d"),
            room_number: s("318"),
            first_name: s("Erik"),
            last_name: s("Larsen"),
            order_id: s("63be7b757c2370fadee27bd6"),
            items: vec![
                item("0", "Iron and board", Some("2"), 1),
                item("1", "Welcome flowers", None, 1),
                item("2", "Spa voucher", Some("999"), 1),
            ],
            delivery_time: s("2023-01-16T07:30:00.000Z"),
            notes: None,
            charge_amount: Some(0.0),
            language: s("en"),
        }
    );
}

#[test]
fn order_created_no_room() {
    let data = order("orderCreated.no-room.json");
    assert_eq!(
        data,
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            room_number: None,
            first_name: s("Bobby"),
            last_name: s("Smith"),
            order_id: s("63be7b757c2370fadee27bd7"),
            items: vec![item("0", "Towel service", Some("4"), 1)],
            delivery_time: None,
            notes: None,
            charge_amount: Some(0.0),
            language: s("en"),
        }
    );
    // The room must be recoverable from earlier events about the same reservation.
    let map = FieldMap::default();
    for name in ["preCheckInDone.json", "reservationRoomAssign.json"] {
        let facts = map.reservation(&fixture(name).resource);
        assert_eq!(facts.reservation_id, data.reservation_id, "{name}");
    }
}

#[test]
fn order_created_paid() {
    assert_eq!(
        order("orderCreated.paid.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53e"),
            room_number: s("110"),
            first_name: s("Dana"),
            last_name: s("Lee"),
            order_id: s("63be7b757c2370fadee27bd8"),
            items: vec![item("0", "Bottle of wine", Some("21"), 1)],
            delivery_time: s("2023-01-14T19:00:00.000Z"),
            notes: None,
            charge_amount: Some(25.0),
            language: s("en"),
        }
    );
}

#[test]
fn order_created_unit() {
    assert_eq!(
        order("orderCreated.unit.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53f"),
            room_number: s("Suite 7"),
            first_name: s("Farah"),
            last_name: s("Khan"),
            order_id: s("63be7b757c2370fadee27bd9"),
            items: vec![item("0", "Crib", Some("14"), 1)],
            delivery_time: s("2023-01-17T10:00:00.000Z"),
            notes: None,
            charge_amount: Some(0.0),
            language: s("en"),
        }
    );
}

#[test]
fn pending_order_created() {
    assert_eq!(
        fixture("pendingOrderCreated.json").kind(),
        Some(EventKind::PendingOrderCreated)
    );
    assert_eq!(
        order("pendingOrderCreated.json"),
        OrderData {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            room_number: s("101"),
            first_name: s("Bobby"),
            last_name: s("Smith"),
            order_id: s("63be7b757c2370fadee27bda"),
            items: vec![item("0", "In-room breakfast", Some("17"), 2)],
            delivery_time: s("2023-01-15T09:00:00.000Z"),
            notes: s("Breakfast for two"),
            charge_amount: Some(40.0),
            language: s("en"),
        }
    );
}

#[test]
fn reservation_room_assign() {
    let envelope = fixture("reservationRoomAssign.json");
    assert_eq!(envelope.kind(), Some(EventKind::ReservationRoomAssign));
    assert_eq!(
        FieldMap::default().reservation(&envelope.resource),
        ReservationFacts {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            room_number: s("305"),
            first_name: s("Bobby"),
            last_name: s("Smith"),
            language: None,
            check_in: s("2023-01-14"),
            check_out: s("2023-01-16"),
        }
    );
}

#[test]
fn reservation_facts_of_documented_examples() {
    let map = FieldMap::default();
    assert_eq!(
        map.reservation(&fixture("preCheckInDone.json").resource),
        ReservationFacts {
            reservation_id: s("6368c383e44d30f1705bd53a"),
            first_name: s("Bobby"),
            last_name: s("Smith"),
            ..ReservationFacts::default()
        }
    );
    assert_eq!(
        map.reservation(&fixture("reservationCreated.json").resource),
        ReservationFacts {
            reservation_id: s("63bd5f817c1f40e0b093c706"),
            ..ReservationFacts::default()
        }
    );
}

#[test]
fn cancelled_and_refunded_orders_carry_their_order_id() {
    let map = FieldMap::default();
    let cancelled = map.order(&fixture("orderCancelled.json").resource);
    assert_eq!(
        cancelled.order_id.as_deref(),
        Some("63be7b757c2370fadee27bd1")
    );
    assert_eq!(cancelled.charge_amount, Some(90.0));
    assert!(cancelled.items.is_empty());
    let refunded = map.order(&fixture("orderRefunded.json").resource);
    assert_eq!(
        refunded.order_id.as_deref(),
        Some("63be7cfb7c2370fadee28251")
    );
}
