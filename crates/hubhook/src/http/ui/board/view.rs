//! The board's view: which tasks the query string asks for (Mine, a department, a floor, a room,
//! a column's next page), read once, checked, and written back into links.

use serde::Deserialize;

use super::Viewer;
use crate::{
    domain::board::{Column, Cursor},
    http::error::UiError,
    store::{BoardScope, RoomFilter},
};

/// The board's query string.
#[derive(Debug, Default, Deserialize)]
pub struct BoardParams {
    /// `mine`: only the viewer's tasks.
    #[serde(default)]
    view: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    floor: String,
    /// A room number: only that room's tasks (the board's search).
    #[serde(default)]
    room: String,
    /// One column only (its key).
    #[serde(default)]
    status: String,
    /// With `status`: the page after this cursor.
    #[serde(default)]
    after: String,
}

/// A board's view, checked.
#[derive(Debug, Clone, Default)]
pub(super) struct View {
    pub(super) mine: bool,
    pub(super) department: Option<String>,
    pub(super) floor: Option<String>,
    pub(super) room: Option<String>,
    pub(super) column: Option<Column>,
    pub(super) after: Option<Cursor>,
}

/// A query value, trimmed and bounded; empty is none.
fn param(raw: &str) -> Option<String> {
    let v: String = raw.trim().chars().take(100).collect();
    (!v.is_empty()).then_some(v)
}

impl View {
    pub(super) fn parse(p: &BoardParams) -> Result<Self, UiError> {
        let column = match p.status.trim() {
            "" => None,
            s => Some(
                Column::parse(s)
                    .ok_or_else(|| UiError::BadRequest(format!("unknown column {s:?}")))?,
            ),
        };
        let after = match (column, p.after.trim()) {
            (_, "") => None,
            (Some(c), raw) => Some(
                Cursor::decode(c, raw)
                    .ok_or_else(|| UiError::BadRequest("this page link is not valid".into()))?,
            ),
            (None, _) => return Err(UiError::BadRequest("a page link needs its column".into())),
        };
        Ok(Self {
            mine: p.view.trim() == "mine",
            department: param(&p.department),
            floor: param(&p.floor),
            room: param(&p.room),
            column,
            after,
        })
    }

    pub(super) fn scope(&self, viewer: &Viewer) -> BoardScope {
        BoardScope {
            department: self.department.clone(),
            assignee: self.mine.then(|| viewer.user.user_id.clone()),
            rooms: match (&self.room, &self.floor) {
                (Some(r), _) => Some(RoomFilter::Room(r.clone())),
                (None, Some(f)) => Some(RoomFilter::Floor(f.clone())),
                (None, None) => None,
            },
        }
    }

    /// This view's link, with its column and page as given.
    pub(super) fn href(&self, column: Option<Column>, after: Option<&Cursor>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if self.mine {
            q.append_pair("view", "mine");
        }
        for (k, v) in [
            ("department", &self.department),
            ("floor", &self.floor),
            ("room", &self.room),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        if let Some(c) = column {
            q.append_pair("status", c.key());
        }
        if let Some(a) = after {
            q.append_pair("after", &a.encode());
        }
        let q = q.finish();
        if q.is_empty() {
            "/board".to_owned()
        } else {
            format!("/board?{q}")
        }
    }

    /// The view's name, for the heading.
    pub(super) fn title(&self) -> String {
        let mut parts = Vec::new();
        if self.mine {
            parts.push("Mine".to_owned());
        }
        if let Some(d) = &self.department {
            parts.push(d.clone());
        }
        if let Some(f) = &self.floor {
            parts.push(format!("floor {f}"));
        }
        if let Some(r) = &self.room {
            parts.push(format!("room {r}"));
        }
        if parts.is_empty() {
            "All tasks".to_owned()
        } else {
            parts.join(" · ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_views_links_keep_its_filters_and_encode_them() {
        let v = View {
            mine: true,
            department: Some("Food & Beverage".into()),
            floor: Some("2".into()),
            ..View::default()
        };
        assert_eq!(
            v.href(Some(Column::Open), None),
            "/board?view=mine&department=Food+%26+Beverage&floor=2&status=open"
        );
        assert_eq!(View::default().href(None, None), "/board");
        let p = BoardParams {
            status: "open".into(),
            after: "x".into(),
            ..Default::default()
        };
        assert!(View::parse(&p).is_err(), "a malformed cursor is refused");
        let p = BoardParams {
            after: "high~2026-01-01T10:00:00.000Z~3".into(),
            ..Default::default()
        };
        assert!(View::parse(&p).is_err(), "a cursor without its column");
    }
}
