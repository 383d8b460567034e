//! Where outbound deliveries may go (CONTRACT.md section 8, docs/security.md "Outbound
//! destinations"): public addresses only, unless the operator exempts ranges
//! (`HUBHOOK_OUTBOUND_ALLOW`) or refuses more (`HUBHOOK_OUTBOUND_DENY`, which wins over ALLOW).
//! Pure: the dispatcher applies [`DestinationPolicy::check`] to every address it would connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// An IPv4 range (for constant tables).
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self {
            net: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    /// An IPv6 range whose first two groups are given (for constant tables).
    const fn v6(a: u16, b: u16, prefix: u8) -> Self {
        Self {
            net: IpAddr::V6(Ipv6Addr::new(a, b, 0, 0, 0, 0, 0, 0)),
            prefix,
        }
    }

    /// `10.0.0.0/8`, `fd00::/8`, or a single address such as `127.0.0.1`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{raw:?}: not an address range such as 10.0.0.0/8"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{raw:?}: the prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Self { net, prefix })
    }

    /// Whether `ip` is in the range; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) counts as
    /// its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.contains_exactly(ip)
    }

    /// Whether `ip`, taken as written (no IPv4-mapped folding), is in the range.
    fn contains_exactly(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// The ranges refused unless exempted: every address that is not a public unicast address, with
/// the name a refusal gives. IPv6 forms that embed an IPv4 address are judged by it (see
/// [`embedded_v4`]), so they need no entry here.
pub const NOT_PUBLIC: &[(IpRange, &str)] = &[
    (IpRange::v4(0, 0, 0, 0, 8), "unspecified (0.0.0.0/8)"),
    (IpRange::v4(10, 0, 0, 0, 8), "private (10.0.0.0/8)"),
    (
        IpRange::v4(100, 64, 0, 0, 10),
        "shared address space (100.64.0.0/10)",
    ),
    (IpRange::v4(127, 0, 0, 0, 8), "loopback (127.0.0.0/8)"),
    (
        IpRange::v4(169, 254, 0, 0, 16),
        "link-local (169.254.0.0/16)",
    ),
    (IpRange::v4(172, 16, 0, 0, 12), "private (172.16.0.0/12)"),
    (
        IpRange::v4(192, 0, 0, 0, 24),
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (
        IpRange::v4(192, 0, 2, 0, 24),
        "documentation (192.0.2.0/24)",
    ),
    (IpRange::v4(192, 168, 0, 0, 16), "private (192.168.0.0/16)"),
    (
        IpRange::v4(198, 18, 0, 0, 15),
        "benchmarking (198.18.0.0/15)",
    ),
    (
        IpRange::v4(198, 51, 100, 0, 24),
        "documentation (198.51.100.0/24)",
    ),
    (
        IpRange::v4(203, 0, 113, 0, 24),
        "documentation (203.0.113.0/24)",
    ),
    (IpRange::v4(224, 0, 0, 0, 4), "multicast (224.0.0.0/4)"),
    (
        IpRange::v4(240, 0, 0, 0, 4),
        "reserved and broadcast (240.0.0.0/4)",
    ),
    (IpRange::v6(0, 0, 128), "unspecified (::)"),
    (
        IpRange {
            net: IpAddr::V6(Ipv6Addr::LOCALHOST),
            prefix: 128,
        },
        "loopback (::1)",
    ),
    (IpRange::v6(0x100, 0, 64), "discard-only (100::/64)"),
    (
        IpRange::v6(0x2001, 0xdb8, 32),
        "documentation (2001:db8::/32)",
    ),
    (IpRange::v6(0xfc00, 0, 7), "unique-local (fc00::/7)"),
    (IpRange::v6(0xfe80, 0, 10), "link-local (fe80::/10)"),
    (IpRange::v6(0xfec0, 0, 10), "site-local (fec0::/10)"),
    (IpRange::v6(0xff00, 0, 8), "multicast (ff00::/8)"),
];

/// The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, but not `::` and `::1`), IPv4-translated
/// (`::ffff:0:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`, `64:ff9b:1::/48`). A connection to any of
/// them may reach that IPv4 address, so it is judged as that address.
pub fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let zero = |r: std::ops::Range<usize>| s[r].iter().all(|g| *g == 0);
    let mapped = zero(0..5) && s[5] == 0xffff;
    let compatible = zero(0..6) && u32::from(low) > 1;
    let translated = zero(0..4) && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && zero(2..6);
    let nat64_local = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1;
    if mapped || compatible || translated || nat64 {
        return Some(low);
    }
    if nat64_local {
        // RFC 8215: the IPv4 address may sit anywhere from bit 48 on; any such prefix is local.
        return Some(Ipv4Addr::UNSPECIFIED);
    }
    None
}

/// Why an address is not a public one, if it is not (the name of its range in [`NOT_PUBLIC`]).
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    let judged = judged_as(ip);
    NOT_PUBLIC
        .iter()
        .find(|(range, _)| range.contains_exactly(judged))
        .map(|(_, name)| *name)
}

/// The address a destination is judged as: an IPv6 address that embeds an IPv4 one is that IPv4
/// address.
fn judged_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// It is in `HUBHOOK_OUTBOUND_DENY` (this range).
    Denied(IpRange),
    /// It is not a public address (the name of its range) and no allowed range holds it.
    NotPublic(&'static str),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Denied(r) => write!(f, "in HUBHOOK_OUTBOUND_DENY ({r})"),
            Refused::NotPublic(name) => write!(f, "not a public address: {name}"),
        }
    }
}

/// The outbound destination rule: which addresses a delivery may connect to.
///
/// Precedence: a range of `deny` refuses, whatever else holds; otherwise a range of `allow`
/// permits; otherwise the address must be public (outside [`NOT_PUBLIC`]). An address is matched
/// both as written and as the IPv4 address it embeds, so `::ffff:127.0.0.1` is allowed by
/// `127.0.0.0/8` and denied by it alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    allow: Vec<IpRange>,
    deny: Vec<IpRange>,
}

impl DestinationPolicy {
    /// The rule with these exempted (`allow`) and added (`deny`) ranges.
    pub fn new(allow: Vec<IpRange>, deny: Vec<IpRange>) -> Self {
        Self { allow, deny }
    }

    /// Whether a delivery may connect to `ip`, and if not, why.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let judged = judged_as(ip);
        let holds = |r: &&IpRange| r.contains_exactly(ip) || r.contains_exactly(judged);
        if let Some(r) = self.deny.iter().find(holds) {
            return Err(Refused::Denied(*r));
        }
        if self.allow.iter().any(|r| holds(&r)) {
            return Ok(());
        }
        match not_public(ip) {
            Some(name) => Err(Refused::NotPublic(name)),
            None => Ok(()),
        }
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.check(ip).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|r| IpRange::parse(r).unwrap()).collect()
    }

    #[test]
    fn ranges_match_what_they_name() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.1.2.3")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(r.contains(ip("::ffff:10.0.0.1")));
        let one = IpRange::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let all = IpRange::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6 = IpRange::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(IpRange::parse("example.com").is_err());
        assert_eq!(
            IpRange::parse(" 10.0.0.0/8 ").unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn every_range_that_is_not_public_is_refused_by_default() {
        let policy = DestinationPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "fec0::1",
            "100::1",
            // IPv4-mapped, -compatible, -translated and NAT64 forms, judged as their IPv4 address.
            "::ffff:127.0.0.1",
            "::ffff:0.0.0.0",
            "::ffff:10.1.1.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::8.8.8.8",
        ] {
            assert!(
                matches!(policy.check(ip(refused)), Err(Refused::NotPublic(_))),
                "{refused} should be refused"
            );
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert_eq!(policy.check(ip(public)), Ok(()), "{public} is public");
        }
    }

    #[test]
    fn refusals_name_the_range() {
        let policy = DestinationPolicy::default();
        let why = policy.check(ip("::ffff:127.0.0.1")).unwrap_err();
        assert_eq!(why, Refused::NotPublic("loopback (127.0.0.0/8)"));
        assert!(why.to_string().contains("loopback"), "{why}");
    }

    #[test]
    fn allow_exempts_its_ranges_only_and_counts_the_ipv4_an_address_embeds() {
        let policy = DestinationPolicy::new(ranges(&["127.0.0.0/8"]), vec![]);
        for allowed in [
            "127.0.0.1",
            "127.1.2.3",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "8.8.8.8",
        ] {
            assert!(policy.permits(ip(allowed)), "{allowed}");
        }
        // Unspecified and IPv6 loopback are not in 127.0.0.0/8.
        for refused in ["0.0.0.0", "::", "::ffff:0.0.0.0", "::1", "10.0.0.1"] {
            assert!(!policy.permits(ip(refused)), "{refused}");
        }
        let v6 = DestinationPolicy::new(ranges(&["fd00::/8", "::1"]), vec![]);
        assert!(v6.permits(ip("fd00::5")));
        assert!(v6.permits(ip("::1")));
        assert!(!v6.permits(ip("fc00::5")));
    }

    #[test]
    fn deny_adds_ranges_and_wins_over_allow() {
        let policy = DestinationPolicy::new(
            ranges(&["127.0.0.0/8", "10.0.0.0/8"]),
            ranges(&["127.0.0.2", "10.9.0.0/16", "8.8.8.0/24"]),
        );
        assert!(policy.permits(ip("127.0.0.1")));
        assert_eq!(
            policy.check(ip("127.0.0.2")),
            Err(Refused::Denied(IpRange::parse("127.0.0.2").unwrap()))
        );
        assert!(!policy.permits(ip("::ffff:127.0.0.2")));
        assert!(!policy.permits(ip("64:ff9b::127.0.0.2")));
        assert!(policy.permits(ip("10.1.0.1")));
        assert!(!policy.permits(ip("10.9.1.1")));
        assert!(!policy.permits(ip("8.8.8.8")), "a public address denied");
        assert!(policy.permits(ip("8.8.4.4")));
        let whole_v6 = DestinationPolicy::new(vec![], ranges(&["::/0"]));
        assert!(!whole_v6.permits(ip("2606:4700::1111")));
        assert!(whole_v6.permits(ip("8.8.8.8")));
    }

    #[test]
    fn embedded_ipv4_forms_are_recognised() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let v4 = |s: &str| Some(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(embedded_v4(v6("::ffff:1.2.3.4")), v4("1.2.3.4"));
        assert_eq!(embedded_v4(v6("::1.2.3.4")), v4("1.2.3.4"));
        assert_eq!(embedded_v4(v6("::ffff:0:1.2.3.4")), v4("1.2.3.4"));
        assert_eq!(embedded_v4(v6("64:ff9b::1.2.3.4")), v4("1.2.3.4"));
        assert_eq!(embedded_v4(v6("::")), None);
        assert_eq!(embedded_v4(v6("::1")), None);
        assert_eq!(embedded_v4(v6("2001:db8::1.2.3.4")), None);
        assert_eq!(embedded_v4(v6("2606:4700::1111")), None);
    }
}
