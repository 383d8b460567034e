//! The limits' own behaviour: buckets, windows, reservations, eviction, the client address.

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
        assert_eq!(b.take(&ip, || ip, t0), Ok(()), "a new key has its burst");
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
fn attempts_are_counted_before_they_are_made_and_given_back_when_they_do_not_count() {
    let f = Failures::<String>::new(Window {
        failures: 3,
        length: 10 * SECOND,
    });
    let t0 = Instant::now();
    // Three attempts in flight at once: the fourth is refused before any of them has failed.
    assert_eq!(f.reserve("a", || "a".into(), t0), Ok(false));
    assert_eq!(f.reserve("a", || "a".into(), t0), Ok(false));
    assert_eq!(f.reserve("a", || "a".into(), t0), Ok(true), "reaches it");
    assert_eq!(f.reserve("a", || "a".into(), t0 + SECOND), Err(9));
    assert_eq!(f.blocked("a", t0), Some(10));
    // One that was never checked is given back: one more may be tried.
    f.release("a", t0);
    assert_eq!(f.blocked("a", t0), None);
    assert_eq!(f.reserve("a", || "a".into(), t0), Ok(true));
    // A new window after the end of the last.
    assert_eq!(f.reserve("a", || "a".into(), t0 + 10 * SECOND), Ok(false));
    // Giving back an attempt of the old window leaves the new one alone.
    f.release("a", t0);
    f.reserve("a", || "a".into(), t0 + 10 * SECOND).unwrap();
    assert!(f.reserve("a", || "a".into(), t0 + 10 * SECOND).unwrap());
    assert!(f.reserve("a", || "a".into(), t0 + 10 * SECOND).is_err());
    f.clear("a");
    assert_eq!(f.reserve("a", || "a".into(), t0 + 10 * SECOND), Ok(false));
}

#[test]
fn a_full_map_evicts_instead_of_letting_new_keys_through() {
    let f = Failures::<u32>::new(Window {
        failures: 2,
        length: 600 * SECOND,
    });
    let t0 = Instant::now();
    // A few keys blocked first, then the map filled (and overfilled) with keys of one failure.
    for k in 0..500u32 {
        f.fail(&k, || k, t0);
        f.fail(&k, || k, t0);
    }
    for k in 500..(MAX_KEYS as u32 * 3) {
        f.fail(&k, || k, t0 + SECOND + Duration::from_micros(u64::from(k)));
    }
    assert!(f.map.len() <= MAX_KEYS, "{}", f.map.len());
    // A new key is still counted: two failures block it (it used to pass untracked).
    let fresh = u32::MAX;
    f.fail(&fresh, || fresh, t0 + 2 * SECOND);
    f.fail(&fresh, || fresh, t0 + 2 * SECOND);
    assert!(f.blocked(&fresh, t0 + 2 * SECOND).is_some());
    // The blocked keys were kept; the oldest unblocked ones went first.
    for k in 0..500u32 {
        assert!(f.blocked(&k, t0 + 2 * SECOND).is_some(), "{k} was evicted");
    }
    assert!(f.map.contains(&(MAX_KEYS as u32 * 3 - 1)));
    assert!(!f.map.contains(&500));
}

#[test]
fn eviction_removes_an_eighth_with_the_lowest_ranks() {
    let mut map: HashMap<u32, u32> = (0..64).map(|k| (k, k % 4)).collect();
    evict_lowest(&mut map, |v| *v);
    // 8 removed, all of rank 0 (16 had it: ties are broken arbitrarily, the count is exact).
    assert_eq!(map.len(), 56);
    assert_eq!(map.values().filter(|v| **v == 0).count(), 8);
    let mut one: HashMap<u32, u32> = [(1, 1)].into();
    evict_lowest(&mut one, |v| *v);
    assert!(one.is_empty());
}

#[test]
fn forwarded_proto_is_believed_only_from_trusted_proxies() {
    let mut config = crate::config::Config::for_database("sqlite://x").limits;
    config.trusted_proxies = vec![IpRange::parse("10.0.0.0/8").unwrap()];
    let limits = Limits::new(&config);
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
    let proxy: SocketAddr = "10.1.2.3:4000".parse().unwrap();
    let mapped: SocketAddr = "[::ffff:10.1.2.3]:4000".parse().unwrap();
    let client: SocketAddr = "198.51.100.2:4000".parse().unwrap();
    assert!(limits.forwarded_https(proxy, &h));
    assert!(limits.forwarded_https(mapped, &h));
    assert!(!limits.forwarded_https(client, &h));
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    assert!(!limits.forwarded_https(proxy, &h));
    assert!(!limits.forwarded_https(proxy, &HeaderMap::new()));
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

#[test]
fn a_login_attempt_counts_against_account_and_address_until_its_outcome_is_known() {
    let mut config = crate::config::Config::for_database("sqlite://x").limits;
    config.login_account = Window {
        failures: 2,
        length: 60 * SECOND,
    };
    config.login_ip = Window {
        failures: 3,
        length: 60 * SECOND,
    };
    let limits = Limits::new(&config);
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let t0 = Instant::now();
    // Two in flight for ana: a third is refused before either has been checked.
    let a1 = limits.login_attempt("ana@x", ip, t0).unwrap();
    let a2 = limits.login_attempt("ana@x", ip, t0).unwrap();
    assert!(limits.login_attempt("ana@x", ip, t0).is_err());
    // One was never checked (busy server): it is given back to both counts.
    limits.login_not_checked(a2);
    let a3 = limits.login_attempt("ana@x", ip, t0).unwrap();
    // One success clears ana's count and gives the address its attempt back.
    limits.login_succeeded(a3);
    drop(a1);
    let _b = limits.login_attempt("bo@x", ip, t0).unwrap();
    // The address has a1 and _b counted: one more, then it is full for every account, and the
    // refused attempt is not left counted against its account.
    let _c = limits.login_attempt("cy@x", ip, t0).unwrap();
    assert!(limits.login_attempt("dee@x", ip, t0).is_err());
    assert!(limits.login_account.blocked("dee@x", t0).is_none());
    assert_eq!(
        limits.login_account.reserve("dee@x", || "dee@x".into(), t0),
        Ok(false),
        "dee's refused attempt was given back"
    );
    // An email longer than any account's is not kept, its address still counts it.
    let long = "x".repeat(300);
    let other: IpAddr = "192.0.2.2".parse().unwrap();
    for _ in 0..3 {
        limits.login_attempt(&long, other, t0).unwrap();
    }
    assert!(limits.login_attempt(&long, other, t0).is_err());
    assert_eq!(
        limits.login_account.map.len(),
        3,
        "bo, cy and dee (ana was cleared)"
    );
}
