//! What hubhook knows about a hotel when it decides on a webhook: credentials, settings, rooms, catalog.

use std::collections::{HashMap, HashSet};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{CatalogEntry, HotelId, secret::TokenHash};

#[derive(Debug, Clone)]
pub struct HotelFacts {
    pub id: HotelId,
    pub name: String,
    pub timezone: TimeZone,
    pub sync_paid_orders: bool,
    pub access_hash: TokenHash,
    pub password_hash: TokenHash,
    pub rooms: HashSet<String>,
    pub catalog: HashMap<String, CatalogEntry>,
}

impl HotelFacts {
    /// Both tokens are always checked, so the time taken does not tell which one was wrong.
    pub fn credentials_match(&self, access: &str, password: &str) -> bool {
        let a = super::secret::token_matches(access, &self.access_hash);
        let p = super::secret::token_matches(password, &self.password_hash);
        a & p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Staff,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Manager => "manager",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "staff" => Some(Role::Staff),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

/// Timezone names are checked against the bundled tz database when a hotel is created or changed.
pub fn parse_timezone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}
