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

    /// The first path of `field` at which `read` accepts the value found, with what it made of it:
    /// every lookup rule below goes through here, so [`crate::found`] reports the very path used.
    pub(crate) fn first<'v, 'a, T>(
        &self,
        field: Field,
        root: &'v Json<'a>,
        read: impl Fn(&'v Json<'a>) -> Option<T>,
    ) -> Option<(T, &Path)> {
        self.paths(field)
            .iter()
            .find_map(|p| p.lookup(root).and_then(&read).map(|v| (v, p)))
    }

    /// The first path of `field` that yields a usable scalar.
    fn text(&self, field: Field, root: &Json<'_>) -> Option<String> {
        self.first(field, root, scalar_text).map(|(v, _)| v)
    }

    fn charge(&self, resource: &Json<'_>) -> Option<f64> {
        self.first(Field::ChargeAmount, resource, charge_value)
            .map(|(v, _)| v)
    }

    /// Unlike text fields, the first *present* quantity decides: a garbled
    /// `quantity` must be reported, not silently replaced by a `qty` elsewhere.
    fn quantity(&self, item: &Json<'_>) -> Quantity {
        self.first(Field::Quantity, item, Some)
            .map_or(Quantity::Valid(1), |(v, _)| parse_quantity(v))
    }

    fn items(&self, resource: &Json<'_>) -> Vec<Item> {
        let mut items = Vec::new();
        self.each_item(resource, |_, item, _| items.push(item));
        items
    }

    /// Calls `f` with every ordered item in order: its position (product, and item of a
    /// multi-item product), the item, and the JSON value it was read from. Returns the path of the
    /// product list, if one was found.
    pub(crate) fn each_item<'v, 'a>(
        &self,
        resource: &'v Json<'a>,
        mut f: impl FnMut((usize, Option<usize>), Item, &'v Json<'a>),
    ) -> Option<&Path> {
        let (products, path) = self.first(Field::Products, resource, |v| {
            v.as_array().filter(|list| !list.is_empty())
        })?;
        for (i, product) in products.iter().enumerate() {
            let sub_items = product
                .get(SUB_ITEMS)
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
                        f((i, Some(j)), item, sub);
                    }
                }
                None => f((i, None), self.item(i.to_string(), product), product),
            }
        }
        Some(path)
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

/// The key of a product that holds several items (a multi-item upsell).
pub(crate) const SUB_ITEMS: &str = "items";

/// The charge rule: a finite number, or a string holding one.
pub(crate) fn charge_value(value: &Json<'_>) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn display_name(value: &Json<'_>) -> Option<String> {
    ["name", "title"]
        .into_iter()
        .find_map(|key| value.get(key).and_then(scalar_text))
}

/// The scalar rule shared by every text field: trimmed non-empty strings and
/// numbers count; anything else does not, so the next path is tried.
pub(crate) fn scalar_text(value: &Json<'_>) -> Option<String> {
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
pub(crate) fn raw_text(value: &Json<'_>) -> String {
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
mod tests;
