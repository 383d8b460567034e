//! The pool settings a PostgreSQL database URL carries next to libpq's own, and its TLS settings
//! (`sslmode`, `sslrootcert`: read here, applied by `tls`).

use std::time::Duration;

use super::{
    batch::DEFAULT_BATCH_WORKERS,
    tls::{SslMode, TlsSettings},
};
use crate::store::StoreError;

const DEFAULT_POOL_SIZE: usize = 16;
const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pool settings taken off a database URL, and the URL that is left for the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// The URL without hubhook's settings, for the driver.
    pub url: String,
    /// Connections per instance.
    pub pool_size: usize,
    /// How long a request waits for a connection.
    pub pool_timeout: Duration,
    /// The bound on every statement.
    pub statement_timeout: Duration,
    /// New-order batches in flight at once per instance.
    pub batch_workers: usize,
    /// `sslmode` and `sslrootcert`.
    pub tls: TlsSettings,
}

/// `5s`, `500ms`, `2m`, or a bare number of seconds.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

/// Takes hubhook's pool settings off a database URL (defaults for the missing ones).
pub fn pool_settings(url: &str) -> Result<PoolSettings, StoreError> {
    let mut s = PoolSettings {
        url: url.to_owned(),
        pool_size: DEFAULT_POOL_SIZE,
        pool_timeout: DEFAULT_POOL_TIMEOUT,
        statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        batch_workers: DEFAULT_BATCH_WORKERS,
        tls: TlsSettings::default(),
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok(s);
    };
    let bad = |k: &str, v: &str| StoreError::Invalid(format!("database URL: bad {k} {v:?}"));
    let count = |v: &str, max: usize| v.parse().ok().filter(|n| (1..=max).contains(n));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "pool_size" => s.pool_size = count(v, 1000).ok_or_else(|| bad(k, v))?,
            "batch_workers" => s.batch_workers = count(v, 64).ok_or_else(|| bad(k, v))?,
            "pool_timeout" => s.pool_timeout = parse_duration(v).ok_or_else(|| bad(k, v))?,
            "statement_timeout" => {
                s.statement_timeout = parse_duration(v).ok_or_else(|| bad(k, v))?
            }
            "sslmode" => s.tls.mode = SslMode::parse(v).ok_or_else(|| bad(k, v))?,
            "sslrootcert" => {
                let path = url::form_urlencoded::parse(format!("p={v}").as_bytes())
                    .next()
                    .map(|(_, p)| p.into_owned())
                    .unwrap_or_default();
                s.tls.root_cert = Some(path).filter(|p| !p.is_empty());
            }
            _ => kept.push(pair),
        }
    }
    s.url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_settings_are_taken_off_the_url_and_the_rest_is_kept() {
        let s = pool_settings(
            "postgres://u@h/db?pool_size=4&sslmode=disable&statement_timeout=250ms&pool_timeout=2&batch_workers=2",
        )
        .unwrap();
        assert_eq!(s.batch_workers, 2);
        assert_eq!(s.url, "postgres://u@h/db");
        assert_eq!(s.tls.mode, SslMode::Disable);
        assert_eq!(s.pool_size, 4);
        assert_eq!(s.statement_timeout, Duration::from_millis(250));
        assert_eq!(s.pool_timeout, Duration::from_secs(2));
        let d = pool_settings("postgres://u@h/db").unwrap();
        assert_eq!(d.url, "postgres://u@h/db");
        assert_eq!(d.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(d.batch_workers, DEFAULT_BATCH_WORKERS);
        assert!(pool_settings("postgres://h/db?pool_size=0").is_err());
        assert!(pool_settings("postgres://h/db?batch_workers=0").is_err());
        assert!(pool_settings("postgres://h/db?statement_timeout=soon").is_err());
        assert!(pool_settings("postgres://h/db?sslmode=allow").is_err());
        let t =
            pool_settings("postgres://h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem")
                .unwrap();
        assert_eq!(t.url, "postgres://h/db");
        assert_eq!(t.tls.mode, SslMode::VerifyFull);
        assert_eq!(t.tls.root_cert.as_deref(), Some("/etc/ca x.pem"));
        assert_eq!(d.tls, TlsSettings::default());
    }
}
