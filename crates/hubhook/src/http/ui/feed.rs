//! The board's live feed (`/board/events`): server-sent events of the viewer's hotel's task changes,
//! each telling the page to fetch its cards again, within the stream caps of `streams`.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::{self, Stream};
use tokio::{
    sync::{
        broadcast::{self, error::RecvError},
        watch,
    },
    time::{Interval, MissedTickBehavior},
};

use super::{Viewer, streams::StreamSlot};
use crate::{
    domain::{HotelId, secret::TokenHash, time},
    events::TaskChange,
    http::{AppState, error::UiError},
    store::Store,
};

/// Server-sent events: `event: task` with `{"taskId", "status", "kind"}` for each change of the
/// viewer's hotel, `event: resync` when changes were missed (reload everything). Refused with 429
/// beyond the stream caps (`streams`); ends when the session does or the server shuts down.
pub async fn events(
    State(app): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let slot = app
        .ui
        .streams
        .open(viewer.session, &viewer.user)
        .map_err(|refused| UiError::TooManyStreams(refused.detail()))?;
    let period = app.config.streams.session_check;
    let mut check = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        rx: app.store.subscribe(),
        closing: app.ui.closing(),
        slot,
        check,
        store: app.store.clone(),
        session: viewer.session,
        user_id: viewer.user.user_id,
        hotel: viewer.user.hotel,
    };
    let hello = stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let changes = stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|event| (Ok(event), feed))
    });
    Ok(Sse::new(futures_util::StreamExt::chain(hello, changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One open live stream: its hotel's changes, and what ends it.
struct Feed {
    rx: broadcast::Receiver<TaskChange>,
    closing: watch::Receiver<bool>,
    /// Its place in the stream caps, given back when the stream is dropped.
    slot: StreamSlot,
    check: Interval,
    store: Arc<dyn Store>,
    session: TokenHash,
    user_id: String,
    hotel: HotelId,
}

impl Feed {
    /// The next event to send, or `None` when the stream ends: the server shuts down, the session
    /// was ended on this instance, or the store no longer knows it (expired, signed out elsewhere,
    /// its user disabled or removed).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let next = tokio::select! {
                _ = self.closing.changed() => return None,
                () = self.slot.ended() => return None,
                _ = self.check.tick() => {
                    if self.session_gone().await {
                        return None;
                    }
                    continue;
                }
                next = self.rx.recv() => next,
            };
            return match next {
                Ok(change) if change.hotel == self.hotel => {
                    let data = serde_json::to_string(&change).unwrap_or_default();
                    Some(Event::default().event("task").data(data))
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => Some(Event::default().event("resync").data("{}")),
                Err(RecvError::Closed) => None,
            };
        }
    }

    /// Whether the session is gone: one lookup by its primary key (the same one every page makes).
    /// A store that does not answer ends the stream too: the browser reconnects, and is let in
    /// again only with a session the store confirms.
    async fn session_gone(&self) -> bool {
        match self.store.find_session(self.session, time::now()).await {
            Ok(Some(user)) => user.user_id != self.user_id,
            Ok(None) => true,
            Err(e) => {
                tracing::debug!(error = %e, "live stream: session check failed; ending the stream");
                true
            }
        }
    }
}
