//! Dry runs and replays (CONTRACT.md section 7): a Duve body decided again by the webhook's own code
//! (`intake::plan_of`, then `intake::settle` on the rows the webhook's transaction reads), for the
//! API, the pages and the command line alike.
//!
//! A dry run reads those rows from one snapshot, without writing or locking anything
//! ([`crate::store::ReviewStore::settlement_rows`]), settles, and reports the settlement instead of writing it.
//! A replay hands the stored body to the webhook's own transaction ([`crate::store::TaskStore::ingest`]), whose
//! idempotency key makes it and Duve's redeliveries of the same order one order.

use std::{sync::Arc, time::Instant};

use duve::FieldMap;

use crate::{
    domain::{HotelFacts, HotelId, time},
    intake::{
        self, Outcome,
        review::{DryRun, DryRunFields, NotReplayable},
    },
    store::{IngestRequest, Ingested, Scope, Store, StoreError},
};

/// How often a replay is decided again when the hotel's configuration changed under it.
const STALE_RETRIES: usize = 3;

/// What `body` would do for `hotel` as a Duve webhook, stored nowhere: the webhook's size limit,
/// classification and settlement, on the rows its transaction would read now.
pub async fn dry_run(
    store: &dyn Store,
    hotel: &Arc<HotelFacts>,
    map: &FieldMap,
    body: &[u8],
    limit: usize,
) -> Result<DryRun, StoreError> {
    if body.len() > limit {
        return Ok(intake::review::too_large(limit));
    }
    let envelope = duve::parse_envelope(body);
    let plan = intake::plan_of(&envelope, body, map, hotel);
    let now = time::now();
    let read = store.settlement_rows(hotel, &plan, now).await?;
    let context = read.context.clone();
    let settled = intake::settle(&plan, hotel, read, now);
    let fields = DryRunFields::of_envelope(map, envelope.as_ref().ok());
    Ok(intake::review::dry_run(
        &plan,
        settled,
        context.as_ref(),
        fields,
    ))
}

/// Why a replay did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such entry (for this hotel), or its hotel is gone.
    #[error("no inbound entry {0}")]
    NotFound(i64),
    /// The entry may not be replayed (409).
    #[error("inbound entry not replayable: {0:?}")]
    NotReplayable(NotReplayable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A replay's result: the webhook's outcome now, for the entry's hotel.
#[derive(Debug)]
pub struct Replayed {
    /// The entry's hotel.
    pub hotel: HotelId,
    /// The entry replayed.
    pub replay_of: i64,
    /// What the webhook would answer now, and what was written for it.
    pub outcome: Outcome,
}

/// Decides inbound entry `id` again from its stored body, as the webhook would now (today's rooms,
/// catalog and reservation context), and records it in the log as a replay of `id`. Only a refusal
/// for data the hotel can fix is replayed (`intake::review::replayable`).
pub async fn replay(
    store: &dyn Store,
    scope: Scope<'_>,
    id: i64,
    map: &FieldMap,
) -> Result<Replayed, ReplayError> {
    let (hotel_id, entry) = store
        .inbound_entry(scope, id)
        .await?
        .ok_or(ReplayError::NotFound(id))?;
    intake::review::replayable(&entry.code, entry.event.as_deref())
        .map_err(ReplayError::NotReplayable)?;
    let body = bytes::Bytes::from(entry.body);
    let envelope = intake::review::whole_body(entry.event.as_deref(), &body)
        .map_err(ReplayError::NotReplayable)?;
    let envelope = Ok(envelope);
    let started = Instant::now();
    let received_at = time::now();
    for _ in 0..=STALE_RETRIES {
        let hotel = store
            .hotel_facts(hotel_id.as_str())
            .await?
            .ok_or(ReplayError::NotFound(id))?;
        let plan = intake::plan_of(&envelope, &body, map, &hotel);
        let req = IngestRequest {
            cache_version: hotel.config_version,
            hotel: std::sync::Arc::new(hotel),
            plan,
            event: entry.event.clone(),
            body: body.clone(),
            received_at,
            started,
            replay_of: Some(id),
        };
        if let Ingested::Done(outcome) = store.ingest(req).await? {
            tracing::info!(hotel = %hotel_id, inbound = id, code = outcome.code(), "inbound entry replayed");
            return Ok(Replayed {
                hotel: hotel_id,
                replay_of: id,
                outcome,
            });
        }
        // Stale: the hotel's configuration changed meanwhile; read it again and decide again.
    }
    Err(ReplayError::Store(StoreError::Unavailable(
        "the hotel's configuration kept changing".into(),
    )))
}
