//! How many live board streams (`/board/events`) may be open, and the signal that ends a session's
//! streams at once (docs/security.md, "Live streams").
//!
//! A stream keeps its connection, which counts against the server's connection cap
//! (`HUBHOOK_MAX_CONNECTIONS`) like any other. So streams are capped per session, per hotel and in
//! all, and all of them together never take more than a quarter of the connections
//! ([`StreamLimits::total`]): the other three quarters stay for webhooks, health checks and pages
//! whatever the boards do. An open stream holds a [`StreamSlot`]; dropping it (the client went
//! away, the stream ended) gives its place back.
//!
//! A stream ends when its session does: at once on this instance when the session signs out
//! ([`Streams::end_session`]) or its user is disabled or removed ([`Streams::end_user`]), and
//! otherwise (expiry, a change made by another instance or by the CLI) at the stream's next look
//! at its session in the store, every `StreamLimits::session_check`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::sync::watch;

use crate::{
    config::StreamLimits,
    domain::{HotelId, secret::TokenHash},
    store::SessionUser,
};

/// Which cap refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// The session holds as many streams as one session may.
    Session,
    /// The hotel's sessions hold as many streams as one hotel may.
    Hotel,
    /// The server holds as many streams as it allows in all.
    Server,
}

impl StreamRefusal {
    /// What the refusal's answer says.
    pub fn detail(self) -> &'static str {
        match self {
            StreamRefusal::Session => {
                "This session already has as many live boards open as it may. Close a tab or window \
                 with the board; this one refreshes itself instead."
            }
            StreamRefusal::Hotel => {
                "Your hotel already has as many live boards open as it may. This one refreshes \
                 itself instead."
            }
            StreamRefusal::Server => {
                "The server has as many live boards open as it allows. This one refreshes itself \
                 instead."
            }
        }
    }
}

/// The open streams of the process, by session and by hotel.
#[derive(Clone)]
pub struct Streams {
    inner: Arc<Inner>,
}

struct Inner {
    per_session: usize,
    per_hotel: usize,
    total: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    open: usize,
    hotels: HashMap<HotelId, usize>,
    sessions: HashMap<TokenHash, Session>,
}

/// One session's open streams and the signal that ends them.
struct Session {
    open: usize,
    user_id: String,
    end: watch::Sender<bool>,
}

impl Inner {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Held for a few map operations, never across an await; a panic leaves only numbers behind.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Streams {
    /// The caps of `limits` on a server that serves `max_connections` connections at once.
    pub fn new(limits: &StreamLimits, max_connections: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_session: limits.per_session,
                per_hotel: limits.per_hotel,
                total: limits.total(max_connections),
                counts: Mutex::default(),
            }),
        }
    }

    /// A place for one more stream of `user`'s session (`session`: its token's hash), or the cap
    /// that refuses it.
    pub fn open(
        &self,
        session: TokenHash,
        user: &SessionUser,
    ) -> Result<StreamSlot, StreamRefusal> {
        let mut c = self.inner.counts();
        let of_session = c.sessions.get(&session).map_or(0, |s| s.open);
        if of_session >= self.inner.per_session {
            return Err(StreamRefusal::Session);
        }
        if c.hotels.get(&user.hotel).copied().unwrap_or(0) >= self.inner.per_hotel {
            return Err(StreamRefusal::Hotel);
        }
        if c.open >= self.inner.total {
            return Err(StreamRefusal::Server);
        }
        c.open += 1;
        *c.hotels.entry(user.hotel.clone()).or_insert(0) += 1;
        let entry = c.sessions.entry(session).or_insert_with(|| Session {
            open: 0,
            user_id: user.user_id.clone(),
            end: watch::channel(false).0,
        });
        entry.open += 1;
        let ended = entry.end.subscribe();
        Ok(StreamSlot {
            inner: self.inner.clone(),
            hotel: user.hotel.clone(),
            session,
            ended,
        })
    }

    /// Ends the open streams of a session (it signed out).
    pub fn end_session(&self, session: &TokenHash) {
        if let Some(s) = self.inner.counts().sessions.get(session) {
            s.end.send_replace(true);
        }
    }

    /// Ends the open streams of every session of a user (disabled or removed).
    pub fn end_user(&self, user_id: &str) {
        for s in self.inner.counts().sessions.values() {
            if s.user_id == user_id {
                s.end.send_replace(true);
            }
        }
    }

    /// Streams open now.
    pub fn open_count(&self) -> usize {
        self.inner.counts().open
    }
}

/// One open stream's place in the counts, given back when dropped.
pub struct StreamSlot {
    inner: Arc<Inner>,
    hotel: HotelId,
    session: TokenHash,
    ended: watch::Receiver<bool>,
}

impl StreamSlot {
    /// Resolves when the stream's session was ended on this instance (logout, user disabled or
    /// removed).
    pub async fn ended(&mut self) {
        // The sender lives as long as a slot of its session does: an error cannot happen, and
        // would end the stream, which is the safe side.
        let _ = self.ended.wait_for(|ended| *ended).await;
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut c = self.inner.counts();
        c.open = c.open.saturating_sub(1);
        if let Some(n) = c.hotels.get_mut(&self.hotel) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.hotels.remove(&self.hotel);
            }
        }
        if let Some(s) = c.sessions.get_mut(&self.session) {
            s.open = s.open.saturating_sub(1);
            if s.open == 0 {
                c.sessions.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::Role;

    fn user(id: &str, hotel: &str) -> SessionUser {
        SessionUser {
            user_id: id.to_owned(),
            email: format!("{id}@example.test"),
            hotel: HotelId::parse(hotel).unwrap(),
            role: Role::Staff,
        }
    }

    fn streams(per_session: usize, per_hotel: usize, max: usize) -> Streams {
        Streams::new(
            &StreamLimits {
                per_session,
                per_hotel,
                max,
                session_check: Duration::from_secs(2),
            },
            1000,
        )
    }

    #[test]
    fn each_cap_refuses_beyond_it_and_a_dropped_slot_gives_its_place_back() {
        let s = streams(2, 3, 4);
        let (a, b, c) = (user("a", "h1"), user("b", "h1"), user("c", "h2"));
        let a1 = s.open([1; 32], &a).unwrap();
        let _a2 = s.open([1; 32], &a).unwrap();
        assert_eq!(s.open([1; 32], &a).err(), Some(StreamRefusal::Session));
        let _b1 = s.open([2; 32], &b).unwrap();
        assert_eq!(s.open([2; 32], &b).err(), Some(StreamRefusal::Hotel));
        let _c1 = s.open([3; 32], &c).unwrap();
        assert_eq!(s.open([3; 32], &c).err(), Some(StreamRefusal::Server));
        assert_eq!(s.open_count(), 4);
        drop(a1);
        assert_eq!(s.open_count(), 3);
        let _c2 = s.open([3; 32], &c).unwrap();
        assert_eq!(s.open([1; 32], &a).err(), Some(StreamRefusal::Server));
    }

    #[test]
    fn the_total_is_at_most_a_quarter_of_the_connections() {
        let limits = StreamLimits {
            per_session: 100,
            per_hotel: 100,
            max: 100,
            session_check: Duration::from_secs(2),
        };
        let s = Streams::new(&limits, 12);
        let u = user("a", "h1");
        let slots: Vec<_> = (0..3).map(|_| s.open([1; 32], &u).unwrap()).collect();
        assert_eq!(s.open([1; 32], &u).err(), Some(StreamRefusal::Server));
        drop(slots);
        assert_eq!(s.open_count(), 0);
        assert!(s.inner.counts().sessions.is_empty() && s.inner.counts().hotels.is_empty());
    }

    #[tokio::test]
    async fn ending_a_session_or_a_user_ends_only_their_streams() {
        let s = streams(4, 10, 10);
        let (a, b) = (user("a", "h1"), user("b", "h1"));
        let mut a1 = s.open([1; 32], &a).unwrap();
        let mut a2 = s.open([2; 32], &a).unwrap();
        let mut b1 = s.open([3; 32], &b).unwrap();
        s.end_session(&[1; 32]);
        tokio::time::timeout(Duration::from_secs(1), a1.ended())
            .await
            .expect("the signed-out session's stream ends");
        let quiet = Duration::from_millis(50);
        assert!(tokio::time::timeout(quiet, a2.ended()).await.is_err());
        s.end_user("a");
        tokio::time::timeout(Duration::from_secs(1), a2.ended())
            .await
            .expect("every stream of the user ends");
        assert!(tokio::time::timeout(quiet, b1.ended()).await.is_err());
    }
}
