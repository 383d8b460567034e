//! The rooms CSV format (`hubhook rooms import`, the rooms page): a header row with a "room" column
//! and an optional "floor" column, one room per line.

use super::{IdError, RoomNumber};

/// One row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// The room number.
    pub room: RoomNumber,
    /// The floor, when the file has the column and the row a value.
    pub floor: Option<String>,
}

/// Why a file is refused; every error names its line.
#[derive(Debug, thiserror::Error)]
pub enum RoomsCsvError {
    #[error("the file is empty: expected a header row with a \"room\" column")]
    Empty,
    #[error("the header row has no \"room\" column")]
    NoRoomColumn,
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("line {line}: invalid room {raw:?}: {reason}")]
    InvalidRoom {
        line: usize,
        raw: String,
        reason: IdError,
    },
}

/// Splits one CSV line into fields; quoted fields may hold commas and doubled quotes.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(cur);
    Ok(out.into_iter().map(|f| f.trim().to_owned()).collect())
}

/// Reads `room[,floor]` rows under a header row; blank lines are skipped, errors name their line.
pub fn parse(text: &str) -> Result<Vec<RoomRow>, RoomsCsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or(RoomsCsvError::Empty)?;
    let header = fields(header).map_err(|message| RoomsCsvError::Line { line: 1, message })?;
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let room_col = col("room").ok_or(RoomsCsvError::NoRoomColumn)?;
    let floor_col = col("floor");
    let mut rooms = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let row = fields(line).map_err(|message| RoomsCsvError::Line { line: n, message })?;
        let raw = row.get(room_col).map(String::as_str).unwrap_or("");
        let room = RoomNumber::parse(raw).map_err(|reason| RoomsCsvError::InvalidRoom {
            line: n,
            raw: raw.to_owned(),
            reason,
        })?;
        let floor = floor_col
            .and_then(|c| row.get(c))
            .filter(|f| !f.is_empty())
            .cloned();
        rooms.push(RoomRow { room, floor });
    }
    Ok(rooms)
}
