//! The service catalog: which Duve external IDs a hotel turns into which task.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub external_id: String,
    pub name: String,
    pub department: Option<String>,
    pub sla_minutes: Option<u32>,
}

/// The catalog every new hotel starts with (CONTRACT.md section 2), as (external id, task name).
pub const DEFAULT_CATALOG: [(&str, &str); 25] = [
    ("2", "Change bed sheets"),
    ("3", "Request cleaning"),
    ("4", "Serve towels"),
    ("5", "Check minibar"),
    ("6", "Serve pillows"),
    ("7", "Serve amenities"),
    ("8", "Install baby cot"),
    ("9", "Install extra bed"),
    ("10", "Deep cleaning"),
    ("11", "Taps purge"),
    ("12", "Turndown service"),
    ("13", "Other task"),
    ("14", "Zip beds"),
    ("15", "Separate beds"),
    ("16", "Room service tray"),
    ("17", "Check"),
    ("18", "Review"),
    ("19", "Ventilate"),
    ("20", "Minibar restocking"),
    ("21", "Bellboy"),
    ("22", "Luggage"),
    ("23", "Ice bucket"),
    ("24", "Laundry"),
    ("25", "Valet"),
    ("26", "Security"),
];

pub fn default_catalog() -> impl Iterator<Item = CatalogEntry> {
    DEFAULT_CATALOG.iter().map(|(id, name)| CatalogEntry {
        external_id: (*id).to_owned(),
        name: (*name).to_owned(),
        department: None,
        sla_minutes: None,
    })
}
