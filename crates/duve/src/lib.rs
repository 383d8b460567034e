//! The Duve outgoing-webhook wire format: event keys, the payload envelope, and data-point lookup in a `resource`.
//!
//! Pure and I/O-free: the service hands in raw bodies and parsed values and
//! gets back plain data, so every rule here is testable without a network.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod event;
pub mod fields;
pub mod found;
pub mod json;
pub mod path;

pub use event::{Envelope, EnvelopeError, EventKind, parse_envelope};
pub use fields::{Field, FieldMap, Item, OrderData, Quantity, ReservationFacts};
pub use found::{Found, FoundItem, FoundProducts};
pub use json::Json;
pub use path::{Path, PathError};
