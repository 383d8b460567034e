//! The service catalog: which Duve external IDs a hotel turns into which task, for which department
//! and within how many minutes.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub external_id: String,
    pub name: String,
    pub department: Option<String>,
    pub sla_minutes: Option<u32>,
}

/// The departments of the default catalog.
pub const HOUSEKEEPING: &str = "Housekeeping";
/// See [`HOUSEKEEPING`].
pub const MAINTENANCE: &str = "Maintenance";
/// See [`HOUSEKEEPING`].
pub const FOOD_AND_BEVERAGE: &str = "Food & Beverage";
/// See [`HOUSEKEEPING`].
pub const FRONT_OFFICE: &str = "Front Office";
/// See [`HOUSEKEEPING`].
pub const SECURITY: &str = "Security";

/// One service of the default catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultService {
    /// The Duve external ID.
    pub external_id: &'static str,
    /// The task's name.
    pub name: &'static str,
    /// The department that does it.
    pub department: &'static str,
    /// Minutes from the request to due, when the guest asked for no time.
    pub sla_minutes: u32,
}

const fn s(
    external_id: &'static str,
    name: &'static str,
    department: &'static str,
    sla_minutes: u32,
) -> DefaultService {
    DefaultService {
        external_id,
        name,
        department,
        sla_minutes,
    }
}

/// The catalog every new hotel starts with (CONTRACT.md section 2) with a department and a service
/// level each; docs/operations-model.md gives the reason for every one. Defaults: a hotel changes
/// them with `hubhook catalog set` or the catalog page.
pub const DEFAULT_CATALOG: [DefaultService; 25] = [
    s("2", "Change bed sheets", HOUSEKEEPING, 45),
    s("3", "Request cleaning", HOUSEKEEPING, 60),
    s("4", "Serve towels", HOUSEKEEPING, 20),
    s("5", "Check minibar", FOOD_AND_BEVERAGE, 30),
    s("6", "Serve pillows", HOUSEKEEPING, 20),
    s("7", "Serve amenities", HOUSEKEEPING, 20),
    s("8", "Install baby cot", HOUSEKEEPING, 30),
    s("9", "Install extra bed", HOUSEKEEPING, 45),
    s("10", "Deep cleaning", HOUSEKEEPING, 120),
    s("11", "Taps purge", MAINTENANCE, 60),
    s("12", "Turndown service", HOUSEKEEPING, 45),
    s("13", "Other task", FRONT_OFFICE, 30),
    s("14", "Zip beds", HOUSEKEEPING, 45),
    s("15", "Separate beds", HOUSEKEEPING, 45),
    s("16", "Room service tray", FOOD_AND_BEVERAGE, 15),
    s("17", "Check", MAINTENANCE, 30),
    s("18", "Review", FRONT_OFFICE, 30),
    s("19", "Ventilate", HOUSEKEEPING, 30),
    s("20", "Minibar restocking", FOOD_AND_BEVERAGE, 30),
    s("21", "Bellboy", FRONT_OFFICE, 10),
    s("22", "Luggage", FRONT_OFFICE, 15),
    s("23", "Ice bucket", FOOD_AND_BEVERAGE, 15),
    s("24", "Laundry", HOUSEKEEPING, 30),
    s("25", "Valet", FRONT_OFFICE, 15),
    s("26", "Security", SECURITY, 5),
];

/// The default catalog as entries.
pub fn default_catalog() -> impl Iterator<Item = CatalogEntry> {
    DEFAULT_CATALOG.iter().map(|d| CatalogEntry {
        external_id: d.external_id.to_owned(),
        name: d.name.to_owned(),
        department: Some(d.department.to_owned()),
        sla_minutes: Some(d.sla_minutes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_service_has_one_of_the_five_departments_and_a_service_level() {
        let departments = [
            HOUSEKEEPING,
            MAINTENANCE,
            FOOD_AND_BEVERAGE,
            FRONT_OFFICE,
            SECURITY,
        ];
        for d in DEFAULT_CATALOG {
            assert!(departments.contains(&d.department), "{d:?}");
            assert!((1..=240).contains(&d.sla_minutes), "{d:?}");
        }
        for dep in departments {
            assert!(DEFAULT_CATALOG.iter().any(|d| d.department == dep), "{dep}");
        }
        let luggage = DEFAULT_CATALOG.iter().find(|d| d.external_id == "22");
        assert_eq!(
            luggage.map(|d| (d.department, d.sla_minutes)),
            Some((FRONT_OFFICE, 15))
        );
        let taps = DEFAULT_CATALOG.iter().find(|d| d.external_id == "11");
        assert_eq!(taps.map(|d| d.department), Some(MAINTENANCE));
    }
}
