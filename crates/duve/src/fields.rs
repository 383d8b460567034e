//! The data points Hub OS needs from a Duve `resource`, the ordered path lists that locate them, and their extraction rules.

use std::fmt::{self, Write as _};

use serde_json::Number;

use crate::json::Json;

use crate::path::Path;

/// Longest text, in chars, kept from any one extracted value, so a hostile
/// payload cannot turn into giant task names or log lines.
const MAX_TEXT_CHARS: usize = 512;

/// Largest quantity accepted for one item; larger ones are treated as typos or abuse.
const MAX_QUANTITY: u32 = 10_000;

/// A data point looked up in a webhook's `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Duve's reservation id.
    ReservationId,
    /// The guest's room (or apartment / unit) number.
    RoomNumber,
    /// Guest first name.
    FirstName,
    /// Guest last name.
    LastName,
    /// The order's id.
    OrderId,
    /// The array of ordered products.
    Products,
    /// A product's external id (relative to a product or item object).
    ExternalId,
    /// A product's quantity (relative to a product or item object).
    Quantity,
    /// When the guest wants the order delivered.
    DeliveryTime,
    /// The guest's notes on the order.
    Notes,
    /// The amount charged for the order.
    ChargeAmount,
    /// The guest's preferred language.
    Language,
    /// Arrival date.
    CheckIn,
    /// Departure date.
    CheckOut,
}

impl Field {
    /// Every field, in declaration order.
    pub const ALL: [Field; 14] = [
        Field::ReservationId,
        Field::RoomNumber,
        Field::FirstName,
        Field::LastName,
        Field::OrderId,
        Field::Products,
        Field::ExternalId,
        Field::Quantity,
        Field::DeliveryTime,
        Field::Notes,
        Field::ChargeAmount,
        Field::Language,
        Field::CheckIn,
        Field::CheckOut,
    ];

    /// The snake_case name used in configuration, e.g. `"room_number"`.
    pub fn name(self) -> &'static str {
        match self {
            Field::ReservationId => "reservation_id",
            Field::RoomNumber => "room_number",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::OrderId => "order_id",
            Field::Products => "products",
            Field::ExternalId => "external_id",
            Field::Quantity => "quantity",
            Field::DeliveryTime => "delivery_time",
            Field::Notes => "notes",
            Field::ChargeAmount => "charge_amount",
            Field::Language => "language",
            Field::CheckIn => "check_in",
            Field::CheckOut => "check_out",
        }
    }

    /// The field whose [`name`](Field::name) is exactly `name`.
    pub fn from_name(name: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The built-in paths, most specific first.
    fn default_paths(self) -> &'static [&'static str] {
        match self {
            Field::ReservationId => &["id", "reservationId"],
            Field::RoomNumber => &[
                "roomNumber",
                "apartmentNumber",
                "room.number",
                "room",
                "unitName",
                "unitReservations[0].unitName",
                "reservation.roomNumber",
            ],
            Field::FirstName => &["verifiedFirstName", "firstName", "guest.firstName"],
            Field::LastName => &["verifiedLastName", "lastName", "guest.lastName"],
            Field::OrderId => &["order.id", "order._id"],
            Field::Products => &["order.products", "order.items", "products"],
            Field::ExternalId => &["externalId", "external_id", "productExternalId"],
            Field::Quantity => &["quantity", "qty"],
            Field::DeliveryTime => &[
                "order.deliveryTime",
                "order.requestedTime",
                "order.scheduledFor",
            ],
            Field::Notes => &["order.notes", "order.comment", "order.guestNotes"],
            Field::ChargeAmount => &["order.chargeAmount"],
            Field::Language => &["preferredLanguage"],
            Field::CheckIn => &["checkInDate", "checkIn", "arrivalDate"],
            Field::CheckOut => &["checkOutDate", "checkOut", "departureDate"],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where to look for each [`Field`]: an ordered list of paths per field, first found wins.
///
/// Paths are relative to the webhook's `resource` object, except those of
/// [`Field::ExternalId`] and [`Field::Quantity`], which are relative to one
/// product or item object.
#[derive(Debug, Clone)]
pub struct FieldMap {
    /// Indexed by `Field as usize`, which matches the order of [`Field::ALL`].
    paths: [Vec<Path>; Field::ALL.len()],
}

impl Default for FieldMap {
    fn default() -> FieldMap {
        FieldMap {
            paths: Field::ALL.map(|field| {
                // No unwrap on the hot path: the defaults are constants, and the
                // `every_default_path_parses` test fails if one is ever mistyped.
                field
                    .default_paths()
                    .iter()
                    .filter_map(|text| text.parse().ok())
                    .collect()
            }),
        }
    }
}

/// What an order event says, as extracted by [`FieldMap::order`].
#[derive(Debug, Clone, PartialEq)]
pub struct OrderData {
    /// Duve's reservation id.
    pub reservation_id: Option<String>,
    /// Room (or apartment / unit) number.
    pub room_number: Option<String>,
    /// Guest first name.
    pub first_name: Option<String>,
    /// Guest last name.
    pub last_name: Option<String>,
    /// The order's id.
    pub order_id: Option<String>,
    /// The ordered items, products flattened with their sub-items.
    pub items: Vec<Item>,
    /// Requested delivery time, as Duve sent it.
    pub delivery_time: Option<String>,
    /// Guest notes.
    pub notes: Option<String>,
    /// Amount charged.
    pub charge_amount: Option<f64>,
    /// Preferred language.
    pub language: Option<String>,
}

/// One ordered item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Position key, stable across redeliveries of the same order: `"0"`, `"1"`, … for
    /// products, `"0.1"` for item 1 of product 0.
    pub key: String,
    /// Display name.
    pub name: Option<String>,
    /// The hotel's external id for the product.
    pub external_id: Option<String>,
    /// How many were ordered.
    pub quantity: Quantity,
}

/// An item's quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantity {
    /// An integer in 1..=10 000 (or absent, which means 1).
    Valid(u32),
    /// Present but unusable; carries the raw text of the value for reporting.
    Invalid(String),
}

/// What a non-order event says about its reservation, as extracted by [`FieldMap::reservation`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReservationFacts {
    /// Duve's reservation id.
    pub reservation_id: Option<String>,
    /// Room (or apartment / unit) number.
    pub room_number: Option<String>,
    /// Guest first name.
    pub first_name: Option<String>,
    /// Guest last name.
    pub last_name: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Arrival date, as Duve sent it.
    pub check_in: Option<String>,
    /// Departure date, as Duve sent it.
    pub check_out: Option<String>,
}

impl FieldMap {
    /// The paths tried for `field`, in order.
    pub fn paths(&self, field: Field) -> &[Path] {
        &self.paths[field as usize]
    }

    /// Makes `path` the first one tried for `field`.
    ///
    /// A path already in the list is moved to the front rather than repeated.
    pub fn prepend(&mut self, field: Field, path: Path) {
        let list = &mut self.paths[field as usize];
        list.retain(|p| *p != path);
        list.insert(0, path);
    }

    /// Puts `extras` in front of the current paths, keeping their given order:
    /// `[(RoomNumber, a), (RoomNumber, b)]` makes `a` first, then `b`, then the rest.
    pub fn with_extra(mut self, extras: &[(Field, Path)]) -> FieldMap {
        for (field, path) in extras.iter().rev() {
            self.prepend(*field, path.clone());
        }
        self
    }

    /// Extracts the order data points from an order event's `resource`.
    pub fn order(&self, resource: &Json<'_>) -> OrderData {
        OrderData {
            reservation_id: self.text(Field::ReservationId, resource),
            room_number: self.text(Field::RoomNumber, resource),
            first_name: self.text(Field::FirstName, resource),
            last_name: self.text(Field::LastName, resource),
            order_id: self.text(Field::OrderId, resource),
            items: self.items(resource),
            delivery_time: self.text(Field::DeliveryTime, resource),
            notes: self.text(Field::Notes, resource),
            charge_amount: self.charge(resource),
            language: self.text(Field::Language, resource),
        }
    }

    /// Extracts what any event says about its reservation.
    pub fn reservation(&self, resource: &Json<'_>) -> ReservationFacts {
        ReservationFacts {
            reservation_id: self.text(Field::ReservationId, resource),
            room_number: self.text(Field::RoomNumber, resource),
            first_name: self.text(Field::FirstName, resource),
            last_name: self.text(Field::LastName, resource),
            language: self.text(Field::Language, resource),
            check_in: self.text(Field::CheckIn, resource),
            check_out: self.text(Field::CheckOut, resource),
        }
    }

    /// The first path of `field` that yields a usable scalar.
    fn text(&self, field: Field, root: &Json<'_>) -> Option<String> {
        self.paths(field)
            .iter()
            .find_map(|p| p.lookup(root).and_then(scalar_text))
    }

    fn charge(&self, resource: &Json<'_>) -> Option<f64> {
        self.paths(Field::ChargeAmount)
            .iter()
            .find_map(|p| match p.lookup(resource)? {
                Json::Number(n) => n.as_f64(),
                Json::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            })
    }

    /// Unlike text fields, the first *present* quantity decides: a garbled
    /// `quantity` must be reported, not silently replaced by a `qty` elsewhere.
    fn quantity(&self, item: &Json<'_>) -> Quantity {
        self.paths(Field::Quantity)
            .iter()
            .find_map(|p| p.lookup(item))
            .map_or(Quantity::Valid(1), parse_quantity)
    }

    fn items(&self, resource: &Json<'_>) -> Vec<Item> {
        let Some(products) = self.paths(Field::Products).iter().find_map(|p| {
            p.lookup(resource)?
                .as_array()
                .filter(|list| !list.is_empty())
        }) else {
            return Vec::new();
        };

        let mut items = Vec::with_capacity(products.len());
        for (i, product) in products.iter().enumerate() {
            let sub_items = product
                .get("items")
                .and_then(Json::as_array)
                .filter(|list| !list.is_empty());
            match sub_items {
                Some(sub_items) => {
                    let product_name = display_name(product);
                    for (j, sub) in sub_items.iter().enumerate() {
                        let mut item = self.item(format!("{i}.{j}"), sub);
                        if item.name.is_none() && sub.is_object() {
                            item.name.clone_from(&product_name);
                        }
                        items.push(item);
                    }
                }
                None => items.push(self.item(i.to_string(), product)),
            }
        }
        items
    }

    fn item(&self, key: String, value: &Json<'_>) -> Item {
        if !value.is_object() {
            // Kept (not dropped) so the service can list it as skipped.
            return Item {
                key,
                name: None,
                external_id: None,
                quantity: Quantity::Valid(1),
            };
        }
        Item {
            key,
            name: display_name(value),
            external_id: self.text(Field::ExternalId, value),
            quantity: self.quantity(value),
        }
    }
}

fn display_name(value: &Json<'_>) -> Option<String> {
    ["name", "title"]
        .into_iter()
        .find_map(|key| value.get(key).and_then(scalar_text))
}

/// The scalar rule shared by every text field: trimmed non-empty strings and
/// numbers count; anything else does not, so the next path is tried.
fn scalar_text(value: &Json<'_>) -> Option<String> {
    match value {
        Json::String(s) => {
            let trimmed = s.trim();
            (!trimmed.is_empty()).then(|| cap(trimmed).trim_end().to_owned())
        }
        Json::Number(n) => Some(number_text(n)),
        _ => None,
    }
}

/// Integral numbers lose their fraction (`101.0` is room "101", not "101.0").
fn number_text(n: &Number) -> String {
    if n.is_f64()
        && let Some(f) = n.as_f64()
        && f.is_finite()
        && f.fract() == 0.0
    {
        if f == 0.0 {
            // Avoids "-0".
            return "0".to_owned();
        }
        // At most 309 digits (f64::MAX), so well under the text cap.
        return format!("{f:.0}");
    }
    n.to_string()
}

fn cap(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

fn parse_quantity(value: &Json<'_>) -> Quantity {
    let number = match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(f) if f.fract() == 0.0 && (1.0..=f64::from(MAX_QUANTITY)).contains(&f) => {
            // In range and integral, so the conversion is exact.
            Quantity::Valid(f as u32)
        }
        _ => Quantity::Invalid(raw_text(value)),
    }
}

/// The value as the guest's payload had it, capped: strings unquoted, anything else as JSON.
fn raw_text(value: &Json<'_>) -> String {
    if let Json::String(s) = value {
        return cap(s).to_owned();
    }
    let mut out = CappedText::default();
    // Writing stops with an error once the cap is hit; what was written is the answer.
    let _ = write!(out, "{value}");
    out.text
}

/// A `fmt::Write` sink that keeps at most [`MAX_TEXT_CHARS`] chars, so a huge
/// object is never serialised in full just to be cut.
#[derive(Default)]
struct CappedText {
    text: String,
    chars: usize,
}

impl fmt::Write for CappedText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for ch in s.chars() {
            if self.chars == MAX_TEXT_CHARS {
                return Err(fmt::Error);
            }
            self.text.push(ch);
            self.chars += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
