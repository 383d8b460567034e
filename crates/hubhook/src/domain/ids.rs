//! Identifiers that can only exist valid: parse once at the edge, trust everywhere after.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is longer than {1} characters")]
    TooLong(&'static str, usize),
    #[error("{0} contains a character that is not allowed")]
    BadChar(&'static str),
}

fn printable(what: &'static str, raw: &str, max: usize) -> Result<String, IdError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(IdError::Empty(what));
    }
    if s.chars().count() > max {
        return Err(IdError::TooLong(what, max));
    }
    if s.chars().any(char::is_control) {
        return Err(IdError::BadChar(what));
    }
    Ok(s.to_owned())
}

macro_rules! text_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_id!(
    /// A hotel's id: what the hotel types into Duve's `custom_hotel_id` header.
    /// 1–64 characters of `A-Z a-z 0-9 . _ -`.
    HotelId
);
text_id!(
    /// A room number as the hotel names it ("101", "Villa 3"): 1–64 printable characters, trimmed.
    RoomNumber
);
text_id!(
    /// A service's external ID in Duve, the key of the hotel's catalog: 1–64 printable characters.
    ExternalId
);
text_id!(
    /// A task's id (UUIDv7, time-ordered).
    TaskId
);

impl HotelId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty("hotel id"));
        }
        if raw.len() > crate::domain::formats::HOTEL_ID.max_chars {
            return Err(IdError::TooLong("hotel id", 64));
        }
        if !crate::domain::formats::HOTEL_ID.matches(raw) {
            return Err(IdError::BadChar("hotel id"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh id for a hotel created without `--id`: short enough to type into Duve's form.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 6];
        crate::domain::secret::fill_random(&mut bytes);
        let mut s = String::with_capacity(16);
        s.push_str("htl_");
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }
}

impl RoomNumber {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        printable("room number", raw, 64).map(Self)
    }
}

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        printable("external id", raw, 64).map(Self)
    }
}

impl TaskId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Task ids come from URLs: anything that is not a UUID in its hyphenated form (the only form
    /// hubhook writes, `domain::formats::TASK_ID`) cannot name a task.
    pub fn parse(raw: &str) -> Option<Self> {
        if !crate::domain::formats::TASK_ID.matches(raw) {
            return None;
        }
        uuid::Uuid::try_parse(raw).ok().map(|u| Self(u.to_string()))
    }

    /// For rows read back from storage, which only ever holds ids this type made.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotel_id_rules() {
        assert!(HotelId::parse("grand-hotel_1.a").is_ok());
        assert_eq!(HotelId::parse(""), Err(IdError::Empty("hotel id")));
        assert_eq!(HotelId::parse("a b"), Err(IdError::BadChar("hotel id")));
        assert!(HotelId::parse(&"x".repeat(65)).is_err());
        assert!(HotelId::generate().as_str().starts_with("htl_"));
    }

    #[test]
    fn room_numbers_are_trimmed_and_printable() {
        assert_eq!(RoomNumber::parse(" 101 ").unwrap().as_str(), "101");
        assert!(RoomNumber::parse("Villa 3").is_ok());
        assert!(RoomNumber::parse("   ").is_err());
        assert!(RoomNumber::parse("1\n2").is_err());
    }

    #[test]
    fn task_ids_must_be_uuids() {
        let id = TaskId::generate();
        assert_eq!(TaskId::parse(id.as_str()), Some(id));
        assert_eq!(TaskId::parse("../etc"), None);
    }
}
