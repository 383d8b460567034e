//! What a dry run and a replay read (CONTRACT.md section 7): the rows a webhook's settlement would
//! read, without writing or locking anything, and one inbound log entry with its whole body.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use super::{InboundEntry, Scope, StoreError};
use crate::{
    domain::{HotelFacts, HotelId},
    intake::{OrderRead, Plan},
};

/// The reads of a dry run and a replay.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// What the webhook's transaction would read to settle `plan` for `hotel` at `now` (the order's
    /// state, then what `Plan::reads` names, then the holders of the merge slots it names), read
    /// from one snapshot without writing or locking anything: a dry run never holds up a webhook.
    async fn settlement_rows(
        &self,
        hotel: &Arc<HotelFacts>,
        plan: &Plan,
        now: Timestamp,
    ) -> Result<OrderRead, StoreError>;
    /// One inbound entry with its whole body and its hotel; `Scope::Hotel` sees only that hotel's.
    async fn inbound_entry(
        &self,
        scope: Scope<'_>,
        id: i64,
    ) -> Result<Option<(HotelId, InboundEntry)>, StoreError>;
}

/// The stored hotel id of an inbound entry.
pub(super) fn entry_hotel(raw: &str) -> Result<HotelId, StoreError> {
    HotelId::parse(raw).map_err(|_| super::rows::stored("hotel id", raw))
}
