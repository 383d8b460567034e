//! Dotted JSON paths such as `room.number` or `unitReservations[0].unitName`, and their lookup in a parsed [`Json`] value.

use std::fmt;
use std::str::FromStr;

use crate::json::Json;

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(Box<str>),
    Index(usize),
}

/// A parsed JSON path: object keys separated by `.`, array indexes as `[N]`.
///
/// Keys are non-empty and may contain any character except `.`, `[` and `]`.
/// Indexes are decimal without sign or leading zeros, so that [`Display`](fmt::Display)
/// gives back exactly the text that was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    segments: Vec<Segment>,
}

/// Why a text is not a valid [`Path`]. Offsets are byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The text is empty.
    Empty,
    /// A key is empty, e.g. `a..b`, `.a` or `a.`.
    EmptyKey {
        /// Where the empty key starts.
        offset: usize,
    },
    /// An array index is missing, not a plain decimal number, has leading zeros, or is unterminated.
    BadIndex {
        /// Where the index's `[` is.
        offset: usize,
    },
    /// A character that cannot appear there, such as a stray `]` or text right after `]`.
    Unexpected {
        /// The character found.
        found: char,
        /// Where it is.
        offset: usize,
    },
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("path is empty"),
            PathError::EmptyKey { offset } => write!(f, "empty key at byte {offset}"),
            PathError::BadIndex { offset } => write!(f, "bad array index at byte {offset}"),
            PathError::Unexpected { found, offset } => {
                write!(f, "unexpected {found:?} at byte {offset}")
            }
        }
    }
}

impl std::error::Error for PathError {}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Path, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut pos = 0;
        // A key is expected at the start and after every `.`; after `]` only `.`, `[` or the end may follow.
        let mut want_key = true;
        loop {
            if want_key {
                if bytes.get(pos) == Some(&b'[') && pos == 0 {
                    // A path may begin with an index (the root itself being an array).
                    want_key = false;
                    continue;
                }
                let end = text[pos..]
                    .find(['.', '[', ']'])
                    .map_or(text.len(), |i| pos + i);
                if end == pos {
                    return Err(PathError::EmptyKey { offset: pos });
                }
                segments.push(Segment::Key(text[pos..end].into()));
                pos = end;
                want_key = false;
            }
            match bytes.get(pos) {
                None => break,
                Some(b'.') => {
                    pos += 1;
                    want_key = true;
                }
                Some(b'[') => {
                    let open = pos;
                    let close = text[open..]
                        .find(']')
                        .map(|i| open + i)
                        .ok_or(PathError::BadIndex { offset: open })?;
                    let digits = &text[open + 1..close];
                    let valid = !digits.is_empty()
                        && digits.bytes().all(|b| b.is_ascii_digit())
                        && (digits == "0" || !digits.starts_with('0'));
                    let index = digits
                        .parse::<usize>()
                        .ok()
                        .filter(|_| valid)
                        .ok_or(PathError::BadIndex { offset: open })?;
                    segments.push(Segment::Index(index));
                    pos = close + 1;
                }
                Some(_) => {
                    let found = text[pos..].chars().next().unwrap_or('?');
                    return Err(PathError::Unexpected { found, offset: pos });
                }
            }
        }
        Ok(Path { segments })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl Path {
    /// The value at this path under `root`, borrowed.
    ///
    /// `None` when a key is missing, a step meets the wrong JSON type, an index
    /// is out of range, or the value found is `null` (Duve sends explicit nulls
    /// for unset fields, which must not hide a later fallback path).
    pub fn lookup<'v, 'a>(&self, root: &'v Json<'a>) -> Option<&'v Json<'a>> {
        let mut current = root;
        for segment in &self.segments {
            current = match segment {
                // Of a repeated key the last counts, as `get` says.
                Segment::Key(key) => current.get(key)?,
                Segment::Index(index) => current.as_array()?.get(*index)?,
            };
        }
        (!current.is_null()).then_some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tests::j;
    use serde_json::json;

    fn p(text: &str) -> Path {
        text.parse().unwrap()
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "id",
            "room.number",
            "unitReservations[0].unitName",
            "order.products",
            "a[1][22].b",
            "[0]",
            "[3].name",
            "key with spaces.ünï",
            "a[10]",
            "_id",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_paths() {
        let err = |text: &str| text.parse::<Path>().unwrap_err();
        assert_eq!(err(""), PathError::Empty);
        assert_eq!(err("."), PathError::EmptyKey { offset: 0 });
        assert_eq!(err(".a"), PathError::EmptyKey { offset: 0 });
        assert_eq!(err("a."), PathError::EmptyKey { offset: 2 });
        assert_eq!(err("a..b"), PathError::EmptyKey { offset: 2 });
        assert_eq!(err("a.[0]"), PathError::EmptyKey { offset: 2 });
        assert_eq!(err("a[]"), PathError::BadIndex { offset: 1 });
        assert_eq!(err("a[x]"), PathError::BadIndex { offset: 1 });
        assert_eq!(err("a[-1]"), PathError::BadIndex { offset: 1 });
        assert_eq!(err("a[+1]"), PathError::BadIndex { offset: 1 });
        assert_eq!(err("a[01]"), PathError::BadIndex { offset: 1 });
        assert_eq!(err("a[ 1]"), PathError::BadIndex { offset: 1 });
        assert_eq!(err("a[1"), PathError::BadIndex { offset: 1 });
        assert_eq!(
            err("a[99999999999999999999999]"),
            PathError::BadIndex { offset: 1 }
        );
        assert_eq!(
            err("a]"),
            PathError::Unexpected {
                found: ']',
                offset: 1
            }
        );
        assert_eq!(
            err("a[0]b"),
            PathError::Unexpected {
                found: 'b',
                offset: 4
            }
        );
        assert_eq!(err("]"), PathError::EmptyKey { offset: 0 });
    }

    #[test]
    fn error_messages() {
        assert_eq!(PathError::Empty.to_string(), "path is empty");
        assert_eq!(
            "a..b".parse::<Path>().unwrap_err().to_string(),
            "empty key at byte 2"
        );
        assert_eq!(
            "a[x]".parse::<Path>().unwrap_err().to_string(),
            "bad array index at byte 1"
        );
        assert_eq!(
            "a[0]b".parse::<Path>().unwrap_err().to_string(),
            "unexpected 'b' at byte 4"
        );
    }

    #[test]
    fn lookup_follows_keys_and_indexes() {
        let v = j(json!({
            "room": {"number": "101"},
            "unitReservations": [{"unitName": "Suite 7"}, {"unitName": "B"}],
            "nothing": null,
            "n": 0,
        }));
        assert_eq!(p("room.number").lookup(&v), Some(&j(json!("101"))));
        assert_eq!(p("room").lookup(&v), Some(&j(json!({"number": "101"}))));
        assert_eq!(
            p("unitReservations[1].unitName").lookup(&v),
            Some(&j(json!("B")))
        );
        assert_eq!(p("n").lookup(&v), Some(&j(json!(0))));
        assert_eq!(p("[0]").lookup(&j(json!(["x"]))), Some(&j(json!("x"))));
    }

    #[test]
    fn lookup_misses() {
        let v = j(json!({"room": {"number": "101"}, "list": [1], "nothing": null, "s": "text"}));
        assert_eq!(p("missing").lookup(&v), None);
        assert_eq!(p("room.floor").lookup(&v), None);
        assert_eq!(p("nothing").lookup(&v), None);
        assert_eq!(p("list[1]").lookup(&v), None);
        assert_eq!(p("room[0]").lookup(&v), None);
        assert_eq!(p("list.a").lookup(&v), None);
        assert_eq!(p("s.length").lookup(&v), None);
        assert_eq!(p("s[0]").lookup(&v), None);
        assert_eq!(p("a").lookup(&j(json!(null))), None);
    }

    #[test]
    fn lookup_takes_the_last_of_a_repeated_key() {
        let v: Json =
            serde_json::from_str(r#"{"room":{"number":"1"},"room":{"floor":2}}"#).unwrap();
        assert_eq!(p("room.number").lookup(&v), None);
        assert_eq!(p("room.floor").lookup(&v), Some(&j(json!(2))));
        let v: Json = serde_json::from_str(r#"{"a":"x","a":null}"#).unwrap();
        assert_eq!(p("a").lookup(&v), None);
    }
}
