//! A JSON tree that borrows its strings from the body it was parsed from.
//!
//! `serde_json::Value` allocates a `String` for every key and every string
//! value and a `BTreeMap` node per few entries; building and dropping that
//! tree was a fifth of the HTTP workers' CPU. [`Json`] keeps every string that
//! has no escape as a slice of the body, and an object as a plain `Vec` of
//! pairs, so a typical webhook body costs one allocation per object and array.
//!
//! Objects are scanned, not indexed: fastest for a webhook's few dozen keys,
//! and at the body limit (1 MiB, one object of 175,000 pairs) reading every
//! field costs about what building a `Value` of 96,000 distinct keys did
//! (24 ms against 23, docs/architecture.md).
//!
//! It answers every question exactly as the `Value` parsed from the same text
//! would: duplicate keys are kept in the `Vec`, but [`Json::get`] finds the
//! last one, and [`Display`](fmt::Display) prints keys sorted and duplicates
//! collapsed to the last, as a `BTreeMap` holds them.

use std::borrow::Cow;
use std::fmt;
use std::io;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Number;

/// A parsed JSON value whose strings borrow from the parsed text where they can.
///
/// Parse it with `serde_json::from_slice::<Json>(body)` (or `from_str`), which
/// keeps serde_json's recursion limit and its errors.
#[derive(Debug, Clone)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string: borrowed from the text unless it had an escape.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object's pairs in text order, duplicates included; see [`Json::get`].
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// An object with no keys.
    pub fn empty_object() -> Json<'a> {
        Json::Object(Vec::new())
    }

    /// The value of `key` if this is an object holding it.
    ///
    /// With duplicate keys the last one wins, as in a `serde_json::Value`.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The pairs in text order, duplicates included, if this is an object.
    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// Whether this is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Json::Number(_))
    }

    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Json::String(_))
    }

    /// The same value owning all its strings, free of the text it was parsed from.
    pub fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Number(n) => Json::Number(n),
            Json::String(s) => Json::String(Cow::Owned(s.into_owned())),
            Json::Array(items) => Json::Array(items.into_iter().map(Json::into_owned).collect()),
            Json::Object(pairs) => Json::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// An object's pairs as a `BTreeMap` holds them: sorted by key, the last of duplicates only.
    fn effective_pairs<'s>(
        pairs: &'s [(Cow<'a, str>, Json<'a>)],
    ) -> Vec<&'s (Cow<'a, str>, Json<'a>)> {
        let mut sorted: Vec<_> = pairs.iter().collect();
        // Stable: equal keys stay in text order, so the last of a run is the one that counts.
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<&(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(sorted.len());
        for pair in sorted {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        out
    }
}

/// Equality as between the `serde_json::Value`s of the same texts: objects compare as maps
/// (key order and overridden duplicates do not matter).
impl PartialEq for Json<'_> {
    fn eq(&self, other: &Json<'_>) -> bool {
        match (self, other) {
            (Json::Null, Json::Null) => true,
            (Json::Bool(a), Json::Bool(b)) => a == b,
            (Json::Number(a), Json::Number(b)) => a == b,
            (Json::String(a), Json::String(b)) => a == b,
            (Json::Array(a), Json::Array(b)) => a == b,
            (Json::Object(a), Json::Object(b)) => {
                let (a, b) = (Json::effective_pairs(a), Json::effective_pairs(b));
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0 && x.1 == y.1)
            }
            _ => false,
        }
    }
}

/// Equality with the `serde_json::Value` of the same meaning (mostly for tests).
impl PartialEq<serde_json::Value> for Json<'_> {
    fn eq(&self, other: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, other) {
            (Json::Null, Value::Null) => true,
            (Json::Bool(a), Value::Bool(b)) => a == b,
            (Json::Number(a), Value::Number(b)) => a == b,
            (Json::String(a), Value::String(b)) => a == b,
            (Json::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Json::Object(a), Value::Object(b)) => {
                let a = Json::effective_pairs(a);
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k.as_ref()).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

/// Serialises as the `serde_json::Value` of the same text would: object keys sorted, duplicates
/// collapsed to the last.
impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => serializer.collect_seq(items),
            Json::Object(pairs) => {
                let pairs = Json::effective_pairs(pairs);
                let mut map = serializer.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

/// Compact JSON (`{:#}`: pretty), exactly as `serde_json::Value` prints the same text.
///
/// Writing stops at the first error the formatter returns, so a capped sink never
/// receives the whole of a huge value.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Hands serde_json's output to the formatter; serde_json writes whole UTF-8 pieces.
        struct Adapter<'f, 'g> {
            inner: &'f mut fmt::Formatter<'g>,
        }
        impl io::Write for Adapter<'_, '_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
                self.inner.write_str(text).map_err(io::Error::other)?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let pretty = f.alternate();
        let mut out = Adapter { inner: f };
        let written = if pretty {
            serde_json::to_writer_pretty(&mut out, self)
        } else {
            serde_json::to_writer(&mut out, self)
        };
        written.map_err(|_| fmt::Error)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Json<'de>, E> {
        // JSON text cannot spell a non-finite number; `Value` maps one to null too.
        Ok(Number::from_f64(f).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some(Key(key)) = map.next_key()? {
            pairs.push((key, map.next_value()?));
        }
        Ok(Json::Object(pairs))
    }
}

/// An object key, borrowed when it has no escape (serde's own `Cow<str>` always copies).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Value;

    /// `value` as a [`Json`]: printed, then parsed back, as a body would be.
    pub(crate) fn j(value: Value) -> Json<'static> {
        let text = value.to_string();
        serde_json::from_str::<Json>(&text).unwrap().into_owned()
    }

    fn parse(text: &str) -> Json<'_> {
        serde_json::from_str(text).unwrap()
    }

    /// What `serde_json::Value` prints for `text`.
    fn value_text(text: &str) -> String {
        serde_json::from_str::<Value>(text).unwrap().to_string()
    }

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_owned() {
        let json =
            parse(r#"{"plain":"abc","nl":"a\nb","e":"caf\u00e9","raw":"café","k\u00e9y":1}"#);
        let Json::Object(pairs) = &json else {
            panic!("not an object");
        };
        assert!(matches!(pairs[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&pairs[0].1, Json::String(Cow::Borrowed("abc"))));
        assert!(matches!(&pairs[1].1, Json::String(Cow::Owned(s)) if s == "a\nb"));
        assert!(matches!(&pairs[2].1, Json::String(Cow::Owned(s)) if s == "café"));
        assert!(matches!(&pairs[3].1, Json::String(Cow::Borrowed("café"))));
        assert!(matches!(&pairs[4].0, Cow::Owned(k) if k == "kéy"));
        assert_eq!(json.get("e").and_then(Json::as_str), Some("café"));
        assert_eq!(json.get("kéy"), Some(&parse("1")));

        let owned = json.clone().into_owned();
        assert_eq!(owned, json);
        assert!(matches!(
            owned.get("plain"),
            Some(Json::String(Cow::Owned(_)))
        ));
    }

    #[test]
    fn the_last_duplicate_key_wins() {
        let json = parse(r#"{"a":1,"b":2,"a":{"x":3},"b":null}"#);
        assert_eq!(json.get("a"), Some(&parse(r#"{"x":3}"#)));
        assert_eq!(json.get("b"), Some(&Json::Null));
        assert_eq!(json.get("c"), None);
        assert_eq!(json.as_object().map(<[_]>::len), Some(4));
        assert_eq!(json.to_string(), r#"{"a":{"x":3},"b":null}"#);
        assert_eq!(json, parse(r#"{"b":null,"a":{"x":3}}"#));
        assert_ne!(json, parse(r#"{"a":1,"b":null}"#));
        assert_eq!(json, serde_json::json!({"a": {"x": 3}, "b": null}));
    }

    #[test]
    fn get_and_accessors_on_non_objects() {
        assert_eq!(parse("[1]").get("0"), None);
        assert_eq!(parse(r#""a""#).get("a"), None);
        assert_eq!(parse("null").get("a"), None);
        assert_eq!(parse("[1,2]").as_array().map(<[_]>::len), Some(2));
        assert_eq!(parse("{}").as_array(), None);
        assert!(parse("{}").is_object());
        assert!(parse("null").is_null());
        assert!(parse("1.5").is_number());
        assert!(parse(r#""x""#).is_string());
        assert_eq!(Json::empty_object().to_string(), "{}");
    }

    #[test]
    fn display_is_what_value_prints() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "-0.0",
            "1.0",
            "1e300",
            "1E-7",
            "0.1",
            "-12",
            "-9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "123456789012345678901234567890",
            r#""""#,
            r#""a\"b\\c\/d\b\f\n\r\t""#,
            r#""\u0000\u001f\u007f\u00e9\u2028\ud83d\ude00""#,
            r#""日本語 😀""#,
            "[]",
            "{}",
            "[1,[2,[3,{}]],{\"a\":[]}]",
            r#"{"b":1,"a":2,"c":{"z":[1,2,{"y":null,"x":true}],"a":"s"}}"#,
            r#"{"a":1,"a":2,"B":3,"b":4,"":5,"é":6,"e":7,"a":3}"#,
            r#"{"k":{"x":1,"x":{"d":1,"c":2}},"k":{"y":2,"x":0}}"#,
            r#" { "sp" : [ 1 , 2 ] , "\u0041" : "\u0061" } "#,
            r#"{"\ud83d\ude00":1,"😀":2,"~":3,"\u007f":4}"#,
        ] {
            let json = parse(text);
            assert_eq!(json.to_string(), value_text(text), "{text}");
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(format!("{json:#}"), format!("{value:#}"), "{text}");
            assert_eq!(json, value, "{text}");
        }
        let max = u64::MAX.to_string();
        assert_eq!(parse(&max).to_string(), value_text(&max));
        let min = i64::MIN.to_string();
        assert_eq!(parse(&min).to_string(), value_text(&min));
    }

    #[test]
    fn numbers_are_what_value_holds() {
        for text in [
            "1",
            "-1",
            "1.0",
            "1e300",
            "-0",
            "18446744073709551615",
            "2.5e-308",
        ] {
            let Json::Number(n) = parse(text) else {
                panic!("{text} is not a number");
            };
            let Value::Number(m) = serde_json::from_str::<Value>(text).unwrap() else {
                panic!("{text} is not a number");
            };
            assert_eq!(n, m, "{text}");
            assert_eq!(
                (n.is_u64(), n.is_i64(), n.is_f64()),
                (m.is_u64(), m.is_i64(), m.is_f64())
            );
        }
    }

    #[test]
    fn deep_nesting_is_rejected_as_by_value() {
        let deep = "[".repeat(100_000);
        let err = serde_json::from_str::<Json>(&deep).unwrap_err();
        let value_err = serde_json::from_str::<Value>(&deep).unwrap_err();
        assert_eq!(err.to_string(), value_err.to_string());
        assert!(err.to_string().contains("recursion limit exceeded"));

        // 128 levels are still fine.
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(parse(&ok).to_string(), ok);
    }

    #[test]
    fn invalid_utf8_is_rejected_as_by_value() {
        for bytes in [
            &b"\"\xff\""[..],
            b"{\"a\xc3\":1}",
            b"[\"ok\", \"\xed\xa0\x80\"]",
            b"\xef\xbb\xbf{}",
        ] {
            let err = serde_json::from_slice::<Json>(bytes).unwrap_err();
            let value_err = serde_json::from_slice::<Value>(bytes).unwrap_err();
            assert_eq!(err.to_string(), value_err.to_string());
        }
    }

    #[test]
    fn syntax_errors_match_value() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "{1:2}",
            "nul",
            "01",
            "1 2",
            "\"\\x\"",
        ] {
            let err = serde_json::from_str::<Json>(text).unwrap_err();
            let value_err = serde_json::from_str::<Value>(text).unwrap_err();
            assert_eq!(err.to_string(), value_err.to_string(), "{text}");
        }
    }

    #[test]
    fn display_stops_at_the_first_write_error() {
        /// Accepts `left` chars, then fails every write.
        struct Capped {
            text: String,
            left: usize,
        }
        impl fmt::Write for Capped {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for ch in s.chars() {
                    if self.left == 0 {
                        return Err(fmt::Error);
                    }
                    self.text.push(ch);
                    self.left -= 1;
                }
                Ok(())
            }
        }
        let body = format!("[{}]", vec!["\"abcdefghij\""; 10_000].join(","));
        let json = parse(&body);
        let mut out = Capped {
            text: String::new(),
            left: 30,
        };
        assert!(fmt::Write::write_fmt(&mut out, format_args!("{json}")).is_err());
        assert_eq!(out.text, r#"["abcdefghij","abcdefghij","ab"#);
    }
}
