//! Where the field map found each data point of a `resource`: the value, and the path that held it.
//!
//! For people asking why a webhook was decided as it was (hubhook's dry run). Every lookup goes
//! through the same functions as [`FieldMap::order`] and [`FieldMap::reservation`], so the path
//! reported is the one those used, under the same rules (first usable path wins, text capped,
//! numbers as text, the first *present* quantity decides).

use crate::fields::{SUB_ITEMS, charge_value, raw_text, scalar_text};
use crate::{Field, FieldMap, Json, Path};

/// A data point as the mapping found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The value as the mapping reads it (text; a number as its text).
    pub value: String,
    /// The path that held it, from `resource` (e.g. `roomNumber`, `order.products[0].externalId`).
    pub path: String,
}

/// One ordered item and where its data points were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundItem {
    /// The item's position key, as [`crate::Item::key`].
    pub key: String,
    /// Its display name (a multi-item product's items take the product's when they have none).
    pub name: Option<String>,
    /// Its service external ID, if one was found.
    pub external_id: Option<Found>,
    /// Its quantity as sent (an item without one counts as 1), if one was present.
    pub quantity: Option<Found>,
}

/// The ordered products: the list's path and each item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundProducts {
    /// The path of the product list, from `resource` (e.g. `order.products`).
    pub path: String,
    /// Every item, products flattened with their sub-items, in order.
    pub items: Vec<FoundItem>,
}

/// `base` followed by the relative path `rel` (`a` + `b.c` is `a.b.c`; `a` + `[0]` is `a[0]`).
fn join(base: &str, rel: &Path) -> String {
    let rel = rel.to_string();
    if rel.starts_with('[') {
        format!("{base}{rel}")
    } else {
        format!("{base}.{rel}")
    }
}

impl FieldMap {
    /// Where `field` was found in `resource`, under the rule [`FieldMap::order`] applies to it.
    ///
    /// `None` when no path yields a usable value, and for the fields that are not looked up in
    /// `resource` itself: [`Field::Products`] (see [`FieldMap::found_products`]),
    /// [`Field::ExternalId`] and [`Field::Quantity`] (relative to each item).
    pub fn found(&self, field: Field, resource: &Json<'_>) -> Option<Found> {
        let (value, path) = match field {
            Field::Products | Field::ExternalId | Field::Quantity => return None,
            Field::ChargeAmount => self
                .first(field, resource, charge_value)
                .map(|(v, p)| (v.to_string(), p))?,
            _ => self.first(field, resource, scalar_text)?,
        };
        Some(Found {
            value,
            path: path.to_string(),
        })
    }

    /// The ordered products and where each item's external ID and quantity were found; `None`
    /// when no product list was found (the order has no item).
    pub fn found_products(&self, resource: &Json<'_>) -> Option<FoundProducts> {
        let mut items = Vec::new();
        let mut positions = Vec::new();
        let list = self.each_item(resource, |pos, item, value| {
            positions.push((pos, value));
            items.push(item);
        })?;
        let list = list.to_string();
        let items = items
            .into_iter()
            .zip(positions)
            .map(|(item, ((i, j), value))| {
                let at = match j {
                    Some(j) => format!("{list}[{i}].{SUB_ITEMS}[{j}]"),
                    None => format!("{list}[{i}]"),
                };
                let found = |field, read: fn(&Json<'_>) -> Option<String>| {
                    self.first(field, value, read).map(|(value, p)| Found {
                        value,
                        path: join(&at, p),
                    })
                };
                FoundItem {
                    key: item.key,
                    name: item.name,
                    // Only an object has fields: a stray value is an item without any.
                    external_id: value
                        .is_object()
                        .then(|| found(Field::ExternalId, scalar_text))
                        .flatten(),
                    quantity: value
                        .is_object()
                        .then(|| found(Field::Quantity, |v| Some(raw_text(v))))
                        .flatten(),
                }
            })
            .collect();
        Some(FoundProducts { path: list, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tests::j;
    use serde_json::json;

    fn found(value: &str, path: &str) -> Option<Found> {
        Some(Found {
            value: value.into(),
            path: path.into(),
        })
    }

    #[test]
    fn scalar_fields_report_the_path_that_won() {
        let map = FieldMap::default();
        let r = j(json!({
            "roomNumber": "  ",
            "room": {"number": 101.0},
            "firstName": "Ada",
            "guest": {"firstName": "Not used"},
            "order": {"_id": "o-9", "chargeAmount": "12.50"},
        }));
        // The blank roomNumber is passed over, as FieldMap::order does.
        assert_eq!(
            map.found(Field::RoomNumber, &r),
            found("101", "room.number")
        );
        assert_eq!(map.found(Field::FirstName, &r), found("Ada", "firstName"));
        assert_eq!(map.found(Field::OrderId, &r), found("o-9", "order._id"));
        assert_eq!(
            map.found(Field::ChargeAmount, &r),
            found("12.5", "order.chargeAmount")
        );
        assert_eq!(map.found(Field::LastName, &r), None);
        for f in [Field::Products, Field::ExternalId, Field::Quantity] {
            assert_eq!(map.found(f, &r), None, "{f}");
        }
        // The values are those FieldMap::order reads.
        let order = map.order(&r);
        assert_eq!(order.room_number.as_deref(), Some("101"));
        assert_eq!(order.first_name.as_deref(), Some("Ada"));
    }

    #[test]
    fn items_report_their_own_paths() {
        let map = FieldMap::default().with_extra(&[(Field::ExternalId, "sku[0]".parse().unwrap())]);
        let r = j(json!({"order": {"products": [], "items": [
            {"name": "Towels", "externalId": 4, "qty": "2"},
            {"name": "Setup", "items": [{"sku": ["8"]}, {"quantity": "x"}]},
            "stray",
        ]}}));
        let p = map.found_products(&r).expect("products");
        assert_eq!(p.path, "order.items");
        let keys: Vec<&str> = p.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["0", "1.0", "1.1", "2"]);
        assert_eq!(
            p.items[0].external_id,
            found("4", "order.items[0].externalId")
        );
        assert_eq!(p.items[0].quantity, found("2", "order.items[0].qty"));
        assert_eq!(
            p.items[1].external_id,
            found("8", "order.items[1].items[0].sku[0]")
        );
        assert_eq!(p.items[1].name.as_deref(), Some("Setup"));
        assert_eq!(p.items[1].quantity, None);
        assert_eq!(p.items[2].external_id, None);
        assert_eq!(
            p.items[2].quantity,
            found("x", "order.items[1].items[1].quantity")
        );
        assert_eq!(
            p.items[3],
            FoundItem {
                key: "2".into(),
                name: None,
                external_id: None,
                quantity: None,
            }
        );
        // The same items FieldMap::order sees.
        let order = map.order(&r);
        assert_eq!(order.items.len(), 4);
        assert_eq!(order.items[1].external_id.as_deref(), Some("8"));
        assert_eq!(map.found_products(&j(json!({"order": {}}))), None);
    }
}
