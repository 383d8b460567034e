//! The guard on where deliveries connect: a DNS resolver for the dispatcher's HTTP client that
//! resolves a name once and hands the connector only the addresses the [`DestinationPolicy`]
//! permits, so the address checked is the address connected to (no second lookup, no DNS
//! rebinding). A host written as an address is not resolved at all; [`check_literal`] judges it
//! before the request is made.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::outbound::{DestinationPolicy, Refused};

/// Every address a destination stands for is refused: the delivery is never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination refused: {host} {}", describe(.refused))]
pub struct DestinationDenied {
    /// The host as the URL names it.
    pub host: String,
    /// Each address it stands for, and why it is refused.
    pub refused: Vec<(IpAddr, Refused)>,
}

fn describe(refused: &[(IpAddr, Refused)]) -> String {
    let each: Vec<String> = refused
        .iter()
        .map(|(ip, why)| format!("{ip} is {why}"))
        .collect();
    match each.is_empty() {
        true => "has no address".to_owned(),
        false => format!("({})", each.join("; ")),
    }
}

impl DestinationDenied {
    /// The refusal carried somewhere in `e`'s chain of sources, if any (reqwest wraps what the
    /// resolver returned).
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a DestinationDenied> {
        let mut cause: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(d) = c.downcast_ref::<DestinationDenied>() {
                return Some(d);
            }
            cause = c.source();
        }
        None
    }
}

/// Judges a URL's host when it is an address (reqwest connects to those without resolving);
/// a name is left to [`GuardedResolver`].
pub fn check_literal(url: &url::Url, policy: &DestinationPolicy) -> Result<(), DestinationDenied> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        // The URL parser turns every numeric form into an address; this is belt and braces.
        Some(url::Host::Domain(name)) => match name.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(()),
        },
        None => {
            return Err(DestinationDenied {
                host: String::new(),
                refused: Vec::new(),
            });
        }
    };
    policy.check(ip).map_err(|why| DestinationDenied {
        host: url.host_str().unwrap_or_default().to_owned(),
        refused: vec![(ip, why)],
    })
}

/// Resolves through the system (`getaddrinfo`, as reqwest's default does) and keeps only the
/// addresses the policy permits; none left is a [`DestinationDenied`] error, which fails the
/// request before any connection is made.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<DestinationPolicy>,
}

impl GuardedResolver {
    /// A resolver that applies `policy`.
    pub fn new(policy: Arc<DestinationPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's) on every address.
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (permitted, refused) = filter(&policy, found);
            if permitted.is_empty() {
                return Err(Box::new(DestinationDenied { host, refused }) as _);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// The addresses `policy` permits, and the others with why.
fn filter(
    policy: &DestinationPolicy,
    found: Vec<SocketAddr>,
) -> (Vec<SocketAddr>, Vec<(IpAddr, Refused)>) {
    let mut permitted = Vec::new();
    let mut refused = Vec::new();
    for addr in found {
        match policy.check(addr.ip()) {
            Ok(()) => permitted.push(addr),
            Err(why) => refused.push((addr.ip(), why)),
        }
    }
    (permitted, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outbound::IpRange;

    fn local() -> DestinationPolicy {
        DestinationPolicy::new(vec![IpRange::parse("127.0.0.0/8").unwrap()], vec![])
    }

    #[test]
    fn literal_hosts_are_judged_in_every_spelling() {
        let policy = local();
        let judge = |u: &str| check_literal(&url::Url::parse(u).unwrap(), &policy);
        for ok in [
            "http://127.0.0.1:9/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://2130706433:9/",
            "http://0x7f.1:9/",
            "https://example.com/",
        ] {
            assert!(judge(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://0.0.0.0:9/",
            "http://0:9/",
            "http://[::]:9/",
            "http://[::ffff:0.0.0.0]:9/",
            "http://[::1]:9/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let e = judge(refused).unwrap_err();
            assert_eq!(e.refused.len(), 1, "{refused}");
        }
    }

    #[test]
    fn a_name_keeps_only_its_permitted_addresses() {
        let addrs: Vec<SocketAddr> = ["127.0.0.1:0", "[::1]:0", "10.0.0.1:0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let (ok, refused) = filter(&local(), addrs);
        assert_eq!(ok, vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap()]);
        assert_eq!(refused.len(), 2);
        let e = DestinationDenied {
            host: "localhost".into(),
            refused,
        };
        assert!(e.to_string().contains("::1 is not a public address"), "{e}");
    }

    #[test]
    fn the_refusal_is_found_through_wrapping_errors() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped")]
        struct Wrap(#[source] Box<dyn std::error::Error + Send + Sync>);
        let inner = DestinationDenied {
            host: "x".into(),
            refused: vec![],
        };
        let outer = Wrap(Box::new(Wrap(Box::new(inner.clone()))));
        assert_eq!(DestinationDenied::find(&outer), Some(&inner));
        assert_eq!(DestinationDenied::find(&Wrap("other".into())), None);
    }
}
