//! Duve outgoing-webhook event keys and the `{accountId, event, resource}` envelope every delivery shares.

use std::borrow::Cow;
use std::fmt;

use crate::json::Json;

/// One Duve webhook event, as named by the `event` key of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `reservationCreated`
    ReservationCreated,
    /// `updateReservationStatus`
    UpdateReservationStatus,
    /// `preCheckInUpdated`
    PreCheckInUpdated,
    /// `preCheckInDone`
    PreCheckInDone,
    /// `preCheckOutUpdated`
    PreCheckOutUpdated,
    /// `preCheckOutDone`
    PreCheckOutDone,
    /// `guestDocumentUploaded`
    GuestDocumentUploaded,
    /// `guestFullDocumentUploaded`
    GuestFullDocumentUploaded,
    /// `guestLinkOpened`
    GuestLinkOpened,
    /// `orderCreated`
    OrderCreated,
    /// `pendingOrderCreated`
    PendingOrderCreated,
    /// `orderCancelled`
    OrderCancelled,
    /// `orderRefunded`
    OrderRefunded,
    /// `messageSent`
    MessageSent,
    /// `chatMessageSent`
    ChatMessageSent,
    /// `reservationRoomAssign`
    ReservationRoomAssign,
    /// `reservationDetailsUpdated`
    ReservationDetailsUpdated,
    /// `basicMarketingStatusUpdated`
    BasicMarketingStatusUpdated,
    /// `externalMarketingStatusUpdated`
    ExternalMarketingStatusUpdated,
}

impl EventKind {
    /// Every event kind, in Duve's documentation order.
    pub const ALL: [EventKind; 19] = [
        EventKind::ReservationCreated,
        EventKind::UpdateReservationStatus,
        EventKind::PreCheckInUpdated,
        EventKind::PreCheckInDone,
        EventKind::PreCheckOutUpdated,
        EventKind::PreCheckOutDone,
        EventKind::GuestDocumentUploaded,
        EventKind::GuestFullDocumentUploaded,
        EventKind::GuestLinkOpened,
        EventKind::OrderCreated,
        EventKind::PendingOrderCreated,
        EventKind::OrderCancelled,
        EventKind::OrderRefunded,
        EventKind::MessageSent,
        EventKind::ChatMessageSent,
        EventKind::ReservationRoomAssign,
        EventKind::ReservationDetailsUpdated,
        EventKind::BasicMarketingStatusUpdated,
        EventKind::ExternalMarketingStatusUpdated,
    ];

    /// The kind whose Duve key is exactly `key` (case-sensitive, no trimming).
    pub fn from_key(key: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == key)
    }

    /// The Duve key, e.g. `"orderCreated"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ReservationCreated => "reservationCreated",
            EventKind::UpdateReservationStatus => "updateReservationStatus",
            EventKind::PreCheckInUpdated => "preCheckInUpdated",
            EventKind::PreCheckInDone => "preCheckInDone",
            EventKind::PreCheckOutUpdated => "preCheckOutUpdated",
            EventKind::PreCheckOutDone => "preCheckOutDone",
            EventKind::GuestDocumentUploaded => "guestDocumentUploaded",
            EventKind::GuestFullDocumentUploaded => "guestFullDocumentUploaded",
            EventKind::GuestLinkOpened => "guestLinkOpened",
            EventKind::OrderCreated => "orderCreated",
            EventKind::PendingOrderCreated => "pendingOrderCreated",
            EventKind::OrderCancelled => "orderCancelled",
            EventKind::OrderRefunded => "orderRefunded",
            EventKind::MessageSent => "messageSent",
            EventKind::ChatMessageSent => "chatMessageSent",
            EventKind::ReservationRoomAssign => "reservationRoomAssign",
            EventKind::ReservationDetailsUpdated => "reservationDetailsUpdated",
            EventKind::BasicMarketingStatusUpdated => "basicMarketingStatusUpdated",
            EventKind::ExternalMarketingStatusUpdated => "externalMarketingStatusUpdated",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed webhook delivery, borrowing its strings from the body it was parsed from.
///
/// `event` is kept as raw text so that keys Duve adds later can still be
/// logged and acknowledged; [`Envelope::kind`] says whether it is one we know.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    /// The Duve account the delivery belongs to; `None` when absent, null or empty.
    pub account_id: Option<String>,
    /// The raw `event` key.
    pub event: Cow<'a, str>,
    /// The `resource` object; an empty object when the delivery had none.
    pub resource: Json<'a>,
}

impl Envelope<'_> {
    /// The known event kind, or `None` for an event key this crate does not know.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::from_key(&self.event)
    }

    /// The same envelope owning all its strings, free of the body it was parsed from.
    pub fn into_owned(self) -> Envelope<'static> {
        Envelope {
            account_id: self.account_id,
            event: Cow::Owned(self.event.into_owned()),
            resource: self.resource.into_owned(),
        }
    }
}

/// Why a body is not a usable Duve delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The body is empty or only whitespace.
    Empty,
    /// The body is not valid JSON (including invalid UTF-8 and over-deep nesting); carries serde_json's message.
    InvalidJson(String),
    /// The body is JSON but not an object.
    NotAnObject,
    /// The object has no `event` key.
    MissingEvent,
    /// `event` is present but not a string.
    EventNotAString,
    /// `resource` is present, not null, and not an object.
    ResourceNotAnObject,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Empty => f.write_str("empty body"),
            EnvelopeError::InvalidJson(msg) => write!(f, "body is not valid JSON: {msg}"),
            EnvelopeError::NotAnObject => f.write_str("body is not a JSON object"),
            EnvelopeError::MissingEvent => f.write_str("no \"event\" key"),
            EnvelopeError::EventNotAString => f.write_str("\"event\" is not a string"),
            EnvelopeError::ResourceNotAnObject => f.write_str("\"resource\" is not a JSON object"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// Parses a raw webhook body into an [`Envelope`].
///
/// Unknown top-level keys are ignored; of a repeated key the last one counts.
/// Nesting deeper than serde_json's recursion limit (128) is rejected as
/// [`EnvelopeError::InvalidJson`], which is what keeps a hostile body from
/// overflowing the stack.
///
/// # Errors
///
/// An [`EnvelopeError`] saying which part of the body is unusable.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    // Only JSON's own whitespace: anything else is a syntax error worth reporting as such.
    if body
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Err(EnvelopeError::Empty);
    }
    let value: Json<'_> =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::InvalidJson(e.to_string()))?;
    let Json::Object(pairs) = value else {
        return Err(EnvelopeError::NotAnObject);
    };

    // From the end, so the last of a repeated key counts; moving the values out means the
    // resource is never copied.
    let (mut event, mut resource, mut account_id) = (None, None, None);
    for (key, value) in pairs.into_iter().rev() {
        let slot = match &*key {
            "event" => &mut event,
            "resource" => &mut resource,
            "accountId" => &mut account_id,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    let event = match event {
        None => return Err(EnvelopeError::MissingEvent),
        Some(Json::String(s)) => s,
        Some(_) => return Err(EnvelopeError::EventNotAString),
    };
    let resource = match resource {
        None | Some(Json::Null) => Json::empty_object(),
        Some(v @ Json::Object(_)) => v,
        Some(_) => return Err(EnvelopeError::ResourceNotAnObject),
    };
    // Duve documents a string, but its own examples show "" and null; a number
    // is accepted too since an account id is an identifier, not a quantity.
    let account_id = match account_id {
        Some(Json::String(s)) if !s.is_empty() => Some(s.into_owned()),
        Some(Json::Number(n)) => Some(n.to_string()),
        _ => None,
    };

    Ok(Envelope {
        account_id,
        event,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_round_trip_and_are_distinct() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_key(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        let mut keys: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), EventKind::ALL.len());
    }

    #[test]
    fn from_key_is_exact() {
        assert_eq!(EventKind::from_key("OrderCreated"), None);
        assert_eq!(EventKind::from_key("orderCreated "), None);
        assert_eq!(EventKind::from_key(""), None);
        assert_eq!(
            EventKind::from_key("orderCreated"),
            Some(EventKind::OrderCreated)
        );
    }

    #[test]
    fn parses_a_minimal_envelope() {
        let env =
            parse_envelope(br#"{"accountId":"a1","event":"orderCreated","resource":{"id":"r"}}"#)
                .unwrap();
        assert_eq!(env.account_id.as_deref(), Some("a1"));
        assert_eq!(env.event, "orderCreated");
        assert_eq!(env.kind(), Some(EventKind::OrderCreated));
        assert_eq!(env.resource, json!({"id": "r"}));
    }

    #[test]
    fn unknown_event_parses_without_kind() {
        let env = parse_envelope(br#"{"event":"somethingNew"}"#).unwrap();
        assert_eq!(env.event, "somethingNew");
        assert_eq!(env.kind(), None);
        assert_eq!(env.resource, json!({}));
    }

    #[test]
    fn account_id_forms() {
        let id = |body: &str| parse_envelope(body.as_bytes()).unwrap().account_id;
        assert_eq!(
            id(r#"{"event":"x","accountId":"abc"}"#).as_deref(),
            Some("abc")
        );
        assert_eq!(
            id(r#"{"event":"x","accountId":" abc "}"#).as_deref(),
            Some(" abc ")
        );
        assert_eq!(id(r#"{"event":"x","accountId":""}"#), None);
        assert_eq!(id(r#"{"event":"x","accountId":42}"#).as_deref(), Some("42"));
        assert_eq!(id(r#"{"event":"x","accountId":null}"#), None);
        assert_eq!(id(r#"{"event":"x","accountId":true}"#), None);
        assert_eq!(id(r#"{"event":"x","accountId":["a"]}"#), None);
        assert_eq!(id(r#"{"event":"x"}"#), None);
    }

    #[test]
    fn the_last_of_a_repeated_key_counts() {
        let env = parse_envelope(
            br#"{"event":7,"resource":[],"accountId":"a","event":"orderCreated","resource":{"id":"r","id":"s"},"accountId":null}"#,
        )
        .unwrap();
        assert_eq!(env.kind(), Some(EventKind::OrderCreated));
        assert_eq!(env.resource, json!({"id": "s"}));
        assert_eq!(env.account_id, None);
        assert_eq!(
            parse_envelope(br#"{"event":"x","event":7}"#).unwrap_err(),
            EnvelopeError::EventNotAString
        );
        assert_eq!(
            parse_envelope(br#"{"event":"x","resource":{},"resource":1}"#).unwrap_err(),
            EnvelopeError::ResourceNotAnObject
        );
    }

    #[test]
    fn strings_are_borrowed_from_the_body() {
        let env = parse_envelope(br#"{"event":"orderCreated","resource":{"room":"101"}}"#).unwrap();
        assert!(matches!(env.event, Cow::Borrowed("orderCreated")));
        assert!(matches!(
            env.resource.get("room"),
            Some(Json::String(Cow::Borrowed("101")))
        ));
        let env = parse_envelope(br#"{"event":"order\u0043reated"}"#).unwrap();
        assert!(matches!(&env.event, Cow::Owned(s) if s == "orderCreated"));
        assert_eq!(env.kind(), Some(EventKind::OrderCreated));
    }

    #[test]
    fn null_resource_is_empty_object() {
        let env = parse_envelope(br#"{"event":"x","resource":null}"#).unwrap();
        assert_eq!(env.resource, json!({}));
    }

    #[test]
    fn error_cases() {
        let err = |body: &[u8]| parse_envelope(body).unwrap_err();
        assert_eq!(err(b""), EnvelopeError::Empty);
        assert_eq!(err(b" \n\t\r "), EnvelopeError::Empty);
        assert!(matches!(err(b"{"), EnvelopeError::InvalidJson(_)));
        assert!(matches!(err(b"not json"), EnvelopeError::InvalidJson(_)));
        assert!(matches!(
            err(b"{\"event\":\"x\xff\xfe\"}"),
            EnvelopeError::InvalidJson(_)
        ));
        assert_eq!(err(b"[]"), EnvelopeError::NotAnObject);
        assert_eq!(err(b"\"orderCreated\""), EnvelopeError::NotAnObject);
        assert_eq!(err(b"null"), EnvelopeError::NotAnObject);
        assert_eq!(err(b"{}"), EnvelopeError::MissingEvent);
        assert_eq!(err(br#"{"resource":{}}"#), EnvelopeError::MissingEvent);
        assert_eq!(err(br#"{"event":7}"#), EnvelopeError::EventNotAString);
        assert_eq!(err(br#"{"event":null}"#), EnvelopeError::EventNotAString);
        assert_eq!(
            err(br#"{"event":"x","resource":"text"}"#),
            EnvelopeError::ResourceNotAnObject
        );
        assert_eq!(
            err(br#"{"event":"x","resource":[]}"#),
            EnvelopeError::ResourceNotAnObject
        );
    }

    #[test]
    fn deep_nesting_is_invalid_json_not_a_crash() {
        let body = vec![b'['; 100_000];
        assert!(matches!(
            parse_envelope(&body),
            Err(EnvelopeError::InvalidJson(_))
        ));

        let mut inside = br#"{"event":"x","resource":{"a":"#.to_vec();
        inside.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(matches!(
            parse_envelope(&inside),
            Err(EnvelopeError::InvalidJson(_))
        ));
    }

    #[test]
    fn error_messages() {
        assert_eq!(EnvelopeError::Empty.to_string(), "empty body");
        assert_eq!(
            parse_envelope(b"x").unwrap_err().to_string(),
            "body is not valid JSON: expected value at line 1 column 1"
        );
        assert_eq!(
            EnvelopeError::NotAnObject.to_string(),
            "body is not a JSON object"
        );
        assert_eq!(EnvelopeError::MissingEvent.to_string(), "no \"event\" key");
        assert_eq!(
            EnvelopeError::EventNotAString.to_string(),
            "\"event\" is not a string"
        );
        assert_eq!(
            EnvelopeError::ResourceNotAnObject.to_string(),
            "\"resource\" is not a JSON object"
        );
    }
}
