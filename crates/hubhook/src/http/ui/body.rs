//! A stored body (a Duve webhook, an outbound payload) shown on a page, bounded
//! (docs/security.md, "Page sizes").
//!
//! Re-indenting JSON multiplies it by its depth: a 1 MiB body nested a hundred levels deep became a
//! 60 MB page. So a page shows at most a fixed number of a body's bytes, indents it only when the
//! whole body is that small and shallow and the indented text stays within twice that size, and
//! otherwise shows the raw bytes as stored, cut at the cap, with a link to the whole body.

use std::io;

use maud::{Markup, html};

/// What a page that shows one body (a task's Duve delivery, an outbound payload) shows of it.
pub const SHOWN_BYTES: usize = 64 * 1024;
/// What the inbound log's page shows of each of its (up to 200) entries' bodies.
pub const PREVIEW_BYTES: usize = 2 * 1024;
/// Bodies nested deeper than this are shown as stored, not indented.
const INDENT_MAX_DEPTH: usize = 16;

/// The body as a `pre.raw` block of at most about `cap` bytes (twice that when indented), with a
/// note when it was cut, and `download` (a link to the whole body as stored) when given.
/// `total_bytes` is the whole body's size: `raw` may be only its beginning.
pub fn shown(raw: &str, total_bytes: u64, cap: usize, download: Option<&str>) -> Markup {
    let whole = raw.len() as u64 == total_bytes;
    let link = html! {
        @if let Some(href) = download {
            p.note { a href=(href) download data-body-download { "Download the body as stored" }
                " (" (kib(total_bytes)) ")" }
        }
    };
    if whole && raw.len() <= cap {
        let text = indented(raw, 2 * cap).unwrap_or_else(|| raw.to_owned());
        return html! { pre.raw { (text) } (link) };
    }
    let cut = &raw[..floor_char_boundary(raw, cap.min(raw.len()))];
    html! {
        pre.raw { (cut) "…" }
        p.note data-body-cut {
            "Showing the first " (kib(cut.len() as u64)) " of " (kib(total_bytes)) ", as stored."
        }
        (link)
    }
}

/// `raw` re-indented, if it is JSON no deeper than [`INDENT_MAX_DEPTH`] and the indented text
/// fits in `limit` bytes.
fn indented(raw: &str, limit: usize) -> Option<String> {
    if depth(raw) > INDENT_MAX_DEPTH {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    let mut out = Capped {
        buf: Vec::with_capacity(raw.len() * 2),
        limit,
    };
    serde_json::to_writer_pretty(&mut out, &value).ok()?;
    String::from_utf8(out.buf).ok()
}

/// The deepest nesting of arrays and objects in JSON text (brackets inside strings not counted).
fn depth(raw: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in raw.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A writer that refuses to hold more than `limit` bytes (the indenting stops there).
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            return Err(io::Error::other("indented body over its display limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The largest index at most `i` that starts a character of `s` (`str::floor_char_boundary` is
/// not stable yet).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    (0..=i.min(s.len()))
        .rev()
        .find(|&j| s.is_char_boundary(j))
        .unwrap_or(0)
}

/// `512 bytes`, `64 KiB`, `1.0 MiB`.
fn kib(n: u64) -> String {
    match n {
        0..1024 => format!("{n} bytes"),
        1024..1_048_576 => format!("{} KiB", n / 1024),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize, leaves: usize) -> String {
        let leaf = vec!["1"; leaves].join(",");
        format!("{}{leaf}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn small_shallow_json_is_indented() {
        let out = shown(r#"{"a":[1,2]}"#, 11, 1024, None).into_string();
        assert!(out.contains("{\n  &quot;a&quot;: [\n    1,"), "{out}");
        assert!(!out.contains("data-body-cut"), "{out}");
    }

    #[test]
    fn deep_or_growing_json_and_other_text_are_shown_as_stored() {
        let deep = nested(INDENT_MAX_DEPTH + 1, 3);
        let out = shown(&deep, deep.len() as u64, 1024, None).into_string();
        assert!(out.contains(&deep), "{out}");
        // Shallow enough, but indenting would make it more than twice the cap.
        let wide = nested(INDENT_MAX_DEPTH, 300);
        let out = shown(&wide, wide.len() as u64, 1024, None).into_string();
        assert!(out.contains(&wide), "{out}");
        let out = shown("not json <b>", 12, 1024, None).into_string();
        assert!(out.contains("not json &lt;b&gt;"), "{out}");
    }

    #[test]
    fn a_long_body_is_cut_at_the_cap_with_a_link_to_the_whole() {
        let body = format!("[\"{}\"]", "é".repeat(3000));
        let out = shown(&body, body.len() as u64, 1001, Some("/dl")).into_string();
        assert!(out.contains("data-body-cut"), "{out}");
        assert!(out.contains(r#"href="/dl""#), "{out}");
        assert!(out.len() < 1001 + 500, "{}", out.len());
        // Only the body's beginning at hand (a preview): cut too, its whole size named.
        let out = shown(&body[..100], 5 * 1024 * 1024, 4096, None).into_string();
        assert!(out.contains("of 5.0 MiB"), "{out}");
    }

    #[test]
    fn depth_skips_brackets_in_strings() {
        assert_eq!(depth(r#"{"a":"[[[[\"]]"}"#), 1);
        assert_eq!(depth(&nested(7, 1)), 7);
        assert_eq!(depth("plain"), 0);
    }
}
