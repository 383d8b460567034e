//! What hubhook knows about a hotel when it decides on a webhook: credentials, settings, rooms, catalog.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{CatalogEntry, HotelId, secret::TokenHash};

/// One hotel's facts, as read at one configuration version of that hotel.
#[derive(Debug, Clone)]
pub struct HotelFacts {
    pub id: HotelId,
    /// The hotel's configuration version (`hotels.config_version`) these facts were read at: a
    /// write decided with an older one is refused as stale.
    pub config_version: u64,
    pub name: String,
    pub timezone: TimeZone,
    pub sync_paid_orders: bool,
    /// How long a task may stay `open` before it escalates; None: never for that reason.
    pub escalate_after_secs: Option<u32>,
    /// How long after a task's creation a repeated request for its room and service is merged into
    /// it; None: never.
    pub merge_window_secs: Option<u32>,
    pub access_hash: TokenHash,
    pub password_hash: TokenHash,
    pub rooms: RoomSet,
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

/// A hotel's room numbers, compact: one buffer of the sorted numbers and where each ends (about
/// eight bytes a room instead of a hash set's sixty-odd), looked up by binary search. A chain of
/// 10,000 hotels of 200 rooms keeps its two million rooms in about 16 MB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSet {
    text: Box<str>,
    ends: Box<[u32]>,
}

impl RoomSet {
    /// Whether `room` is one of the hotel's rooms.
    pub fn contains(&self, room: &str) -> bool {
        let mut lo = 0;
        let mut hi = self.ends.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(room) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// How many rooms.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the hotel has no room.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or("")
    }
}

impl<S: AsRef<str>> FromIterator<S> for RoomSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut rooms: Vec<S> = iter.into_iter().collect();
        rooms.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        rooms.dedup_by(|a, b| a.as_ref() == b.as_ref());
        let mut text = String::with_capacity(rooms.iter().map(|r| r.as_ref().len()).sum());
        let mut ends = Vec::with_capacity(rooms.len());
        for r in &rooms {
            text.push_str(r.as_ref());
            // Room numbers are short (a few bytes): a hotel's rooms never reach 4 GiB of text.
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        Self {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
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

#[cfg(test)]
mod tests {
    use super::RoomSet;

    #[test]
    fn a_room_set_finds_exactly_its_rooms() {
        let set: RoomSet = ["102", "101", "A-7", "Suite Zoë", "101", "1"]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 5);
        for r in ["1", "101", "102", "A-7", "Suite Zoë"] {
            assert!(set.contains(r), "{r}");
        }
        for r in ["", "10", "1010", "103", "A", "Suite", "suite zoë", "Z"] {
            assert!(!set.contains(r), "{r}");
        }
        assert!(!RoomSet::default().contains("1"));
        assert!(RoomSet::default().is_empty());
    }
}
