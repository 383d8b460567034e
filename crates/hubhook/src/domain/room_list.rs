//! Rooms as a person types them (the setup page): numbers and ranges separated by commas, spaces or
//! new lines, e.g. `101-110, 201, 202`.
//!
//! A range is two runs of digits joined by `-` (`101-110`, `01-09` keeps its leading zeros); any
//! other item is one room number as [`RoomNumber::parse`] accepts it (`A-1` is the room `A-1`).

use super::{IdError, RoomNumber};

/// The most rooms one range may name.
pub const MAX_RANGE: u32 = 1000;
/// The most rooms one list may name.
pub const MAX_ROOMS: usize = 10_000;

/// Why a typed list is refused; every error names the item.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoomListError {
    #[error("invalid room {raw:?}: {reason}")]
    Invalid { raw: String, reason: IdError },
    #[error("the range {0:?} ends before it starts")]
    Backwards(String),
    #[error("the range {0:?} names more than {MAX_RANGE} rooms")]
    RangeTooLarge(String),
    #[error("more than {MAX_ROOMS} rooms")]
    TooMany,
}

/// `a-b` where both sides are digits (at most 9, so they fit a u32).
fn range(item: &str) -> Option<(&str, u32, u32)> {
    let (a, b) = item.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    Some((a, a.parse().ok()?, b.parse().ok()?))
}

/// The rooms `text` names, in order, each once.
pub fn parse(text: &str) -> Result<Vec<RoomNumber>, RoomListError> {
    let mut out: Vec<RoomNumber> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |room: String, out: &mut Vec<RoomNumber>| -> Result<(), RoomListError> {
        if seen.insert(room.clone()) {
            if out.len() >= MAX_ROOMS {
                return Err(RoomListError::TooMany);
            }
            let parsed = RoomNumber::parse(&room).map_err(|reason| RoomListError::Invalid {
                raw: room.clone(),
                reason,
            })?;
            out.push(parsed);
        }
        Ok(())
    };
    let items = text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty());
    for item in items {
        match range(item) {
            Some((first, a, b)) => {
                if a > b {
                    return Err(RoomListError::Backwards(item.to_owned()));
                }
                if b - a >= MAX_RANGE {
                    return Err(RoomListError::RangeTooLarge(item.to_owned()));
                }
                let width = first.len();
                for n in a..=b {
                    push(format!("{n:0width$}"), &mut out)?;
                }
            }
            None => push(item.to_owned(), &mut out)?,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(text: &str) -> Vec<String> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(RoomNumber::into_string)
            .collect()
    }

    #[test]
    fn numbers_and_ranges() {
        assert_eq!(
            rooms("101-103, 201 202\n 101"),
            ["101", "102", "103", "201", "202"]
        );
        assert_eq!(rooms("08-10"), ["08", "09", "10"]);
        assert_eq!(rooms("A-1, Suite-2"), ["A-1", "Suite-2"]);
        assert!(rooms(" , ").is_empty());
    }

    #[test]
    fn refuses_backwards_huge_and_invalid() {
        assert_eq!(
            parse("110-101"),
            Err(RoomListError::Backwards("110-101".into()))
        );
        assert!(matches!(
            parse("1-5000"),
            Err(RoomListError::RangeTooLarge(_))
        ));
        assert!(matches!(
            parse(&"x".repeat(65)),
            Err(RoomListError::Invalid { .. })
        ));
    }
}
