//! Abuse limits, kept in memory per process (docs/operations.md, "Abuse limits"):
//!
//! - `POST /webhooks/duve`: a token bucket per client address (every request) and one per hotel
//!   (only requests whose credentials were right, so knowing a hotel's id is not enough to spend its
//!   budget); failed credentials counted per address in fixed windows, and past the limit that
//!   address is refused before any token is checked.
//! - `POST /login`: attempts counted per account (keyed by the normalised email,
//!   [`crate::domain::account::normalize_email`], as the stores look accounts up) and per address in
//!   fixed windows. An attempt is counted *before* its password is checked ([`Limits::login_attempt`])
//!   so that parallel attempts cannot all pass a check made before any of them failed; a success
//!   clears its account's count and gives its address's attempt back, and an attempt that was never
//!   checked (server busy, database down) is given back to both.
//!
//! A refusal is a 429 with `Retry-After`. Each map is split into shards behind `std` mutexes that are
//! held for a few arithmetic operations and never across an await, and each is bounded to
//! [`MAX_KEYS`] keys: past that, entries that carry no information any more (a full bucket, an ended
//! window) are dropped, then, if the shard is still full, the least valuable eighth of it is evicted
//! (buckets and windows least recently started first, a window that blocks its key last). A new key
//! is always tracked: a flood of new keys cannot make the limits fail open, and it must fill every
//! shard with blocked keys before one of them is forgotten.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::{BuildHasher, Hash, RandomState},
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::http::HeaderMap;

use crate::domain::{HotelId, outbound::IpRange};

/// Keys each map may hold (all shards together).
pub const MAX_KEYS: usize = 65_536;
const SHARDS: usize = 16;
use crate::domain::account::MAX_EMAIL;
/// A full shard is swept at most this often, so a flood of new keys cannot make every request pay
/// for a sweep.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub use crate::config::{LimitsConfig, Rate, Window};

/// A refusal: when to come back, and whether it is the first of a run of refusals for its key (the
/// one worth a log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
    pub first: bool,
}

/// Which limit refused a webhook (its answer's `details` say it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Address,
    Hotel,
    FailedCredentials,
}

impl LimitKind {
    pub fn detail(self) -> &'static str {
        match self {
            LimitKind::Address => "too many requests from this address",
            LimitKind::Hotel => "too many requests for this hotel",
            LimitKind::FailedCredentials => "too many failed credential checks from this address",
        }
    }
}

struct Shard<K, V> {
    map: HashMap<K, V>,
    swept: Option<Instant>,
}

/// A map split into shards by key, each behind its own mutex, bounded to [`MAX_KEYS`] keys.
struct Sharded<K, V> {
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K, V>>]>,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        swept: None,
                    })
                })
                .collect(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, Shard<K, V>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding a shard leaves numbers in it, never a broken invariant.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on `key`'s value, read-only; `None` if the key is not tracked.
    fn read<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).map.get(key).map(f)
    }

    /// Runs `f` on `key`'s value, inserting `init` first if the key is new. A full shard first
    /// drops its `stale` entries (at most once per [`SWEEP_EVERY`]), then, if still full, evicts the
    /// eighth of its entries with the lowest `rank`: a new key always finds room.
    #[allow(clippy::too_many_arguments)]
    fn update<Q, R, O: Ord>(
        &self,
        key: &Q,
        owned: impl FnOnce() -> K,
        now: Instant,
        stale: impl Fn(&V) -> bool,
        rank: impl Fn(&V) -> O,
        init: V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(key);
        if let Some(v) = shard.map.get_mut(key) {
            return f(v);
        }
        if shard.map.len() >= MAX_KEYS / SHARDS {
            let due = shard
                .swept
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
            if due {
                shard.map.retain(|_, v| !stale(v));
                shard.swept = Some(now);
            }
            if shard.map.len() >= MAX_KEYS / SHARDS {
                evict_lowest(&mut shard.map, rank);
            }
        }
        f(shard.map.entry(owned()).or_insert(init))
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).map.remove(key);
    }

    #[cfg(test)]
    fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).map.contains_key(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }
}

/// Removes the eighth of `map`'s entries (at least one) with the lowest `rank`. Linear in the
/// shard's size, and needed once per eighth of a shard of new keys: a few comparisons per key.
fn evict_lowest<K: Hash + Eq, V, O: Ord>(map: &mut HashMap<K, V>, rank: impl Fn(&V) -> O) {
    let mut ranks: Vec<O> = map.values().map(&rank).collect();
    if ranks.is_empty() {
        return;
    }
    let n = (ranks.len() / 8).max(1);
    ranks.select_nth_unstable(n - 1);
    ranks.truncate(n);
    // The `n` lowest ranks, as a multiset: each removal takes one of them.
    ranks.sort_unstable();
    map.retain(|_, v| match ranks.binary_search(&rank(v)) {
        Ok(i) => {
            ranks.remove(i);
            false
        }
        Err(_) => true,
    });
}

struct Bucket {
    tokens: f64,
    at: Instant,
    /// The last request was refused: the next refusal is not the first of its run.
    refusing: bool,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.at = now;
    }

    /// A full bucket is what a new key starts with: forgetting it loses nothing.
    fn is_full(&self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * rate.per_second >= f64::from(rate.burst)
    }
}

/// One token bucket per key.
pub struct Buckets<K> {
    rate: Rate,
    map: Sharded<K, Bucket>,
}

impl<K: Hash + Eq> Buckets<K> {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            map: Sharded::new(),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until there is one.
    pub fn take<Q>(&self, key: &Q, owned: impl FnOnce() -> K, now: Instant) -> Result<(), Limited>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let rate = self.rate;
        if !rate.enabled() {
            return Ok(());
        }
        let init = Bucket {
            tokens: f64::from(rate.burst),
            at: now,
            refusing: false,
        };
        self.map.update(
            key,
            owned,
            now,
            |b| b.is_full(rate, now),
            |b| (b.refusing, b.at),
            init,
            |b| {
                b.refill(rate, now);
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    b.refusing = false;
                    return Ok(());
                }
                let wait = ((1.0 - b.tokens) / rate.per_second).ceil();
                let first = !b.refusing;
                b.refusing = true;
                Err(Limited {
                    // `as` saturates: a tiny rate asks for a long wait, never a wrapped one.
                    retry_after_secs: (wait as u64).max(1),
                    first,
                })
            },
        )
    }
}

/// Failures per key, counted in fixed windows that start at a key's first failure.
pub struct Failures<K> {
    window: Window,
    map: Sharded<K, (Instant, u32)>,
}

impl<K: Hash + Eq> Failures<K> {
    pub fn new(window: Window) -> Self {
        Self {
            window,
            map: Sharded::new(),
        }
    }

    /// Seconds until `key` may try again, if it has reached the limit in its current window.
    pub fn blocked<Q>(&self, key: &Q, now: Instant) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Window { failures, length } = self.window;
        if failures == 0 {
            return None;
        }
        let (start, count) = self.map.read(key, |v| *v)?;
        let elapsed = now.saturating_duration_since(start);
        (elapsed < length && count >= failures)
            .then(|| (length - elapsed).as_secs_f64().ceil() as u64)
            .map(|s| s.max(1))
    }

    /// Counts a failure; true when it is the one that reaches the limit (worth a log line).
    pub fn fail<Q>(&self, key: &Q, owned: impl FnOnce() -> K, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Window { failures, length } = self.window;
        if failures == 0 {
            return false;
        }
        let ended = |(start, _): &(Instant, u32)| now.saturating_duration_since(*start) >= length;
        self.map
            .update(key, owned, now, ended, self.rank(), (now, 0), |entry| {
                if ended(entry) {
                    *entry = (now, 0);
                }
                entry.1 = entry.1.saturating_add(1);
                entry.1 == failures
            })
    }

    /// Counts an attempt before it is made, in the same step as the check, so that attempts made
    /// at once cannot all pass a check that none of them has counted against yet: `Err(seconds)`
    /// (nothing counted) if `key` has reached the limit in its window, otherwise counted, and `true`
    /// when this attempt is the one that reaches the limit (worth a log line).
    pub fn reserve<Q>(&self, key: &Q, owned: impl FnOnce() -> K, now: Instant) -> Result<bool, u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Window { failures, length } = self.window;
        if failures == 0 {
            return Ok(false);
        }
        let ended = |(start, _): &(Instant, u32)| now.saturating_duration_since(*start) >= length;
        self.map
            .update(key, owned, now, ended, self.rank(), (now, 0), |entry| {
                if ended(entry) {
                    *entry = (now, 0);
                }
                if entry.1 >= failures {
                    let left = length.saturating_sub(now.saturating_duration_since(entry.0));
                    return Err((left.as_secs_f64().ceil() as u64).max(1));
                }
                entry.1 += 1;
                Ok(entry.1 == failures)
            })
    }

    /// Gives back an attempt [`Self::reserve`]d at `reserved` that turned out not to count (it
    /// succeeded, or was never checked). An attempt of a window that has ended meanwhile is not
    /// taken off the next one.
    pub fn release<Q>(&self, key: &Q, reserved: Instant)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.window.failures == 0 {
            return;
        }
        let mut shard = self.map.shard(key);
        if let Some(entry) = shard.map.get_mut(key)
            && entry.0 <= reserved
        {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    pub fn clear<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.window.failures > 0 {
            self.map.remove(key);
        }
    }

    /// Which entries a full shard evicts first: windows that do not block their key, then the
    /// oldest.
    fn rank(&self) -> impl Fn(&(Instant, u32)) -> (bool, Instant) {
        let limit = self.window.failures;
        move |&(start, count)| (count >= limit, start)
    }
}

/// Every limit of the process, with its settings.
pub struct Limits {
    trusted_proxies: Vec<IpRange>,
    webhook_ip: Buckets<IpAddr>,
    webhook_hotel: Buckets<String>,
    webhook_auth: Failures<IpAddr>,
    login_account: Failures<String>,
    login_ip: Failures<IpAddr>,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            trusted_proxies: config.trusted_proxies.clone(),
            webhook_ip: Buckets::new(config.webhook_ip),
            webhook_hotel: Buckets::new(config.webhook_hotel),
            webhook_auth: Failures::new(config.webhook_auth),
            login_account: Failures::new(config.login_account),
            login_ip: Failures::new(config.login_ip),
        }
    }

    /// The address a request is counted against (see [`client_ip`] and [`limit_key`]).
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        limit_key(client_ip(peer, headers, &self.trusted_proxies))
    }

    /// The checks made before anything of a webhook is read: the address's bucket, then its count
    /// of failed credentials.
    pub fn admit_webhook(&self, client: IpAddr, now: Instant) -> Result<(), (LimitKind, u64)> {
        if let Err(l) = self.webhook_ip.take(&client, || client, now) {
            if l.first {
                tracing::warn!(ip = %client, "webhooks from this address over the rate limit: answering 429");
            }
            return Err((LimitKind::Address, l.retry_after_secs));
        }
        match self.webhook_auth.blocked(&client, now) {
            Some(wait) => Err((LimitKind::FailedCredentials, wait)),
            None => Ok(()),
        }
    }

    /// A webhook whose credentials were wrong (or missing).
    pub fn webhook_auth_failed(&self, client: IpAddr, now: Instant) {
        if self.webhook_auth.fail(&client, || client, now) {
            tracing::warn!(ip = %client, "too many failed webhook credentials from this address: answering 429 until the window ends");
        }
    }

    /// The hotel's bucket, taken once its credentials were checked.
    pub fn admit_hotel(&self, hotel: &HotelId, now: Instant) -> Result<(), u64> {
        self.webhook_hotel
            .take(hotel.as_str(), || hotel.as_str().to_owned(), now)
            .map_err(|l| {
                if l.first {
                    tracing::warn!(hotel = %hotel, "webhooks for this hotel over the rate limit: answering 429");
                }
                l.retry_after_secs
            })
    }

    /// Counts a login attempt for `account` from `client` before its password is checked (see
    /// [`Failures::reserve`]); `Err(seconds)` if the account or the address has reached its limit
    /// (nothing is counted then). The attempt is then a failure unless it is handed to
    /// [`Self::login_succeeded`] or [`Self::login_not_checked`].
    pub fn login_attempt(
        &self,
        account: &str,
        client: IpAddr,
        now: Instant,
    ) -> Result<LoginAttempt, u64> {
        // No account has a longer email (`domain::account::parse_email`): a longer one is not
        // kept, so the map's memory stays small whatever a client types (its address is counted).
        let account = (account.len() <= MAX_EMAIL).then(|| account.to_owned());
        if let Some(a) = &account {
            self.login_account.reserve(a.as_str(), || a.clone(), now)?;
        }
        match self.login_ip.reserve(&client, || client, now) {
            Ok(reached) => {
                if reached {
                    tracing::warn!(ip = %client, "too many failed logins from this address: answering 429 until the window ends");
                }
                Ok(LoginAttempt {
                    account,
                    client,
                    at: now,
                })
            }
            Err(wait) => {
                if let Some(a) = &account {
                    self.login_account.release(a.as_str(), now);
                }
                Err(wait)
            }
        }
    }

    /// A login whose password was right: its account's count is cleared, its address's attempt
    /// given back.
    pub fn login_succeeded(&self, attempt: LoginAttempt) {
        if let Some(a) = &attempt.account {
            self.login_account.clear(a.as_str());
        }
        self.login_ip.release(&attempt.client, attempt.at);
    }

    /// A login whose password was never checked (the server was busy or the database down): the
    /// attempt is given back to the account and the address.
    pub fn login_not_checked(&self, attempt: LoginAttempt) {
        if let Some(a) = &attempt.account {
            self.login_account.release(a.as_str(), attempt.at);
        }
        self.login_ip.release(&attempt.client, attempt.at);
    }

    /// Whether a request came over TLS, as far as the server can tell: hubhook speaks plain HTTP,
    /// so only a trusted proxy (the TCP peer is in `trusted_proxies`) saying `X-Forwarded-Proto:
    /// https` counts. The first value is the one the client-facing proxy wrote; a client's own
    /// header is never believed.
    pub fn forwarded_https(&self, peer: SocketAddr, headers: &HeaderMap) -> bool {
        let peer = canonical(peer.ip());
        self.trusted_proxies.iter().any(|r| r.contains(peer))
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }
}

/// A login attempt counted by [`Limits::login_attempt`], until its outcome is known.
#[derive(Debug)]
pub struct LoginAttempt {
    account: Option<String>,
    client: IpAddr,
    at: Instant,
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy (entries further left are the client's own
/// claims and are not believed).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let mut client = canonical(peer.ip());
    if trusted.is_empty() || !trusted.iter().any(|r| r.contains(client)) {
        return client;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.rsplit(','));
    for hop in hops {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !trusted.iter().any(|r| r.contains(client)) {
            break;
        }
    }
    client
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// What an address is counted as: an IPv4 address itself, an IPv6 address as its /64 (one
/// customer's network, which can hold any number of addresses).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(
            u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
        )),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests;
