//! Abuse limits, kept in memory per process (docs/operations.md, "Abuse limits"):
//!
//! - `POST /webhooks/duve`: a token bucket per client address (every request) and one per hotel
//!   (only requests whose credentials were right, so knowing a hotel's id is not enough to spend its
//!   budget); failed credentials counted per address in fixed windows, and past the limit that
//!   address is refused before any token is checked.
//! - `POST /login`: failed logins counted per account and per address in fixed windows.
//!
//! A refusal is a 429 with `Retry-After`. Each map is split into shards behind `std` mutexes that are
//! held for a few arithmetic operations and never across an await, and each is bounded: past
//! [`MAX_KEYS`] keys, entries that carry no information any more (a full bucket, an ended window) are
//! dropped, and a key that still finds no room is not tracked (it passes: memory stays bounded even
//! under traffic from millions of addresses, which no per-address limit can stop anyway).

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
/// The longest email an account may have.
const MAX_EMAIL: usize = 254;
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

    /// Runs `f` on `key`'s value, inserting `init` first if the key is new and there is room
    /// (after dropping the `stale` entries of a full shard); `None` if there is none.
    fn update<Q, R>(
        &self,
        key: &Q,
        owned: impl FnOnce() -> K,
        now: Instant,
        stale: impl Fn(&V) -> bool,
        init: V,
        f: impl FnOnce(&mut V) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(key);
        if let Some(v) = shard.map.get_mut(key) {
            return Some(f(v));
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
                return None;
            }
        }
        Some(f(shard.map.entry(owned()).or_insert(init)))
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).map.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }
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
        self.map
            .update(
                key,
                owned,
                now,
                |b| b.is_full(rate, now),
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
            .unwrap_or(Ok(()))
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
            .update(key, owned, now, ended, (now, 0), |entry| {
                if ended(entry) {
                    *entry = (now, 0);
                }
                entry.1 = entry.1.saturating_add(1);
                entry.1 == failures
            })
            .unwrap_or(false)
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

    /// Seconds until a login for `account` from `client` may be tried, if either is blocked.
    pub fn login_blocked(&self, account: &str, client: IpAddr, now: Instant) -> Option<u64> {
        self.login_account
            .blocked(account, now)
            .or_else(|| self.login_ip.blocked(&client, now))
    }

    pub fn login_failed(&self, account: &str, client: IpAddr, now: Instant) {
        // No account has a longer email (`cli::user::parse_email`): a longer one is not kept, so
        // the map's memory stays small whatever a client types (its address is still counted).
        if account.len() <= MAX_EMAIL {
            self.login_account.fail(account, || account.to_owned(), now);
        }
        if self.login_ip.fail(&client, || client, now) {
            tracing::warn!(ip = %client, "too many failed logins from this address: answering 429 until the window ends");
        }
    }

    /// A successful login clears its account's count (not its address's).
    pub fn login_succeeded(&self, account: &str) {
        self.login_account.clear(account);
    }
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
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_bucket_passes_its_burst_then_refills_at_its_rate() {
        let b = Buckets::<String>::new(Rate {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take("a", || "a".into(), t0), Ok(()));
        }
        let refused = b.take("a", || "a".into(), t0).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        assert!(refused.first);
        assert!(!b.take("a", || "a".into(), t0).unwrap_err().first);
        assert_eq!(b.take("other", || "other".into(), t0), Ok(()));
        // Half a second brings one token back (2 per second).
        assert_eq!(b.take("a", || "a".into(), t0 + SECOND / 2), Ok(()));
        assert!(b.take("a", || "a".into(), t0 + SECOND / 2).is_err());
    }

    #[test]
    fn a_slow_rate_asks_for_a_long_wait_and_zero_disables() {
        let b = Buckets::<String>::new(Rate {
            per_second: 0.01,
            burst: 1,
        });
        let t0 = Instant::now();
        assert_eq!(b.take("a", || "a".into(), t0), Ok(()));
        assert_eq!(
            b.take("a", || "a".into(), t0).unwrap_err().retry_after_secs,
            100
        );
        for rate in [
            Rate::OFF,
            Rate {
                per_second: 5.0,
                burst: 0,
            },
            Rate {
                per_second: 0.0,
                burst: 5,
            },
        ] {
            let off = Buckets::<String>::new(rate);
            for _ in 0..100 {
                assert_eq!(off.take("a", || "a".into(), t0), Ok(()));
            }
            assert_eq!(off.map.len(), 0, "a disabled limit tracks nothing");
        }
    }

    #[test]
    fn failures_block_past_the_limit_until_the_window_ends() {
        let f = Failures::<String>::new(Window {
            failures: 3,
            length: 10 * SECOND,
        });
        let t0 = Instant::now();
        assert!(!f.fail("a", || "a".into(), t0));
        assert!(!f.fail("a", || "a".into(), t0));
        assert_eq!(f.blocked("a", t0), None);
        assert!(
            f.fail("a", || "a".into(), t0),
            "the third reaches the limit"
        );
        assert_eq!(f.blocked("a", t0 + 4 * SECOND), Some(6));
        assert_eq!(f.blocked("b", t0), None);
        assert_eq!(f.blocked("a", t0 + 10 * SECOND), None);
        // A failure after the window starts a new one.
        assert!(!f.fail("a", || "a".into(), t0 + 11 * SECOND));
        assert_eq!(f.blocked("a", t0 + 11 * SECOND), None);
        f.clear("a");
        assert_eq!(f.map.len(), 0);
        let off = Failures::<String>::new(Window {
            failures: 0,
            length: SECOND,
        });
        for _ in 0..10 {
            off.fail("a", || "a".into(), t0);
        }
        assert_eq!(off.blocked("a", t0), None);
    }

    #[test]
    fn maps_stay_bounded_under_many_addresses_and_drop_what_is_stale() {
        let b = Buckets::<u32>::new(Rate {
            per_second: 1.0,
            burst: 2,
        });
        let t0 = Instant::now();
        for ip in 0..(MAX_KEYS as u32 * 2) {
            assert_eq!(b.take(&ip, || ip, t0), Ok(()), "an untracked key passes");
        }
        assert!(b.map.len() <= MAX_KEYS, "{}", b.map.len());
        // Two seconds later every bucket is full again: a new key finds room after a sweep.
        let later = t0 + 2 * SECOND;
        let fresh = u32::MAX;
        b.take(&fresh, || fresh, later).unwrap();
        b.take(&fresh, || fresh, later).unwrap();
        assert!(
            b.take(&fresh, || fresh, later).is_err(),
            "the new key is tracked"
        );
        assert!(b.map.len() < MAX_KEYS);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.9, 10.0.0.1"),
        );
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("192.0.2.7, 10.0.0.2"),
        );
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "198.51.100.2:5000".parse().unwrap();
        let trusted = vec![
            IpRange::parse("127.0.0.1").unwrap(),
            IpRange::parse("10.0.0.0/8").unwrap(),
        ];
        assert_eq!(client_ip(local, &h, &[]).to_string(), "127.0.0.1");
        assert_eq!(client_ip(local, &h, &trusted).to_string(), "192.0.2.7");
        assert_eq!(client_ip(remote, &h, &trusted).to_string(), "198.51.100.2");
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", HeaderValue::from_static("nonsense"));
        assert_eq!(client_ip(local, &junk, &trusted).to_string(), "127.0.0.1");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(limit_key(mapped).to_string(), "192.0.2.1");
    }
}
