//! Settings: command-line flags, then `HUBHOOK_*` environment variables (both through clap), then an
//! optional `hubhook.toml`, then defaults. Validated once, here.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use duve::{Field, FieldMap, Path};
use serde::Deserialize;

use crate::{
    http::limits::{LimitsConfig, Rate, Window},
    outbox::{
        RetrySchedule,
        dispatcher::{IpRange, OutboxConfig},
        parse_duration,
    },
};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://hubhook.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// What `hubhook.toml` may hold; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub body_limit: Option<usize>,
    pub log_format: Option<String>,
    /// Delays between delivery attempts, e.g. "1s,1s,2s".
    pub retry_schedule: Option<String>,
    /// Per-attempt timeout, e.g. "15s".
    pub outbox_timeout: Option<String>,
    pub outbox_max_in_flight: Option<usize>,
    /// Address ranges deliveries may not reach, e.g. ["169.254.0.0/16", "10.0.0.0/8"].
    pub outbound_deny: Option<Vec<String>>,
    /// Mark the session cookie `Secure` (set when hubhook is reached over HTTPS through a proxy).
    pub secure_cookies: Option<bool>,
    /// Days the inbound log and delivery attempts are kept (0: forever), or a duration ("36h").
    pub retention_days: Option<DaysOrDuration>,
    /// Abuse limits (docs/operations.md, "Abuse limits"); 0 disables each.
    pub webhook_ip_rate: Option<f64>,
    pub webhook_ip_burst: Option<u32>,
    pub webhook_hotel_rate: Option<f64>,
    pub webhook_hotel_burst: Option<u32>,
    pub webhook_auth_failures: Option<u32>,
    /// e.g. "1m"
    pub webhook_auth_window: Option<String>,
    pub login_account_failures: Option<u32>,
    pub login_ip_failures: Option<u32>,
    /// e.g. "15m"
    pub login_window: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed, e.g. ["127.0.0.1", "10.0.0.0/8"].
    pub trusted_proxies: Option<Vec<String>>,
    /// Time a client has to send a request's headers (and an idle keep-alive connection may last).
    pub header_timeout: Option<String>,
    /// Time a client has to send a request's body once its headers arrived.
    pub body_timeout: Option<String>,
    pub max_connections: Option<usize>,
    /// How long a shutdown waits for requests in flight before dropping them.
    pub shutdown_timeout: Option<String>,
    /// Extra JSON paths per Duve field, tried before the defaults (see docs/duve-mapping.md).
    #[serde(default)]
    pub mapping: std::collections::BTreeMap<String, Vec<String>>,
}

impl FileConfig {
    /// Reads `explicit` (which must exist), or `./hubhook.toml` if it exists.
    pub fn load(explicit: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from("hubhook.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path,
            message: e.to_string(),
        })
    }

    pub fn field_map(&self) -> Result<FieldMap, ConfigError> {
        let mut map = FieldMap::default();
        for (name, paths) in &self.mapping {
            let field = Field::from_name(name).ok_or_else(|| ConfigError::Invalid {
                key: "mapping",
                message: format!("unknown field {name:?}"),
            })?;
            // Prepending in reverse keeps the file's order: its first path is tried first.
            for raw in paths.iter().rev() {
                let path: Path = raw.parse().map_err(|e| ConfigError::Invalid {
                    key: "mapping",
                    message: format!("{name}: {raw:?}: {e}"),
                })?;
                map.prepend(field, path);
            }
        }
        Ok(map)
    }
}

/// `retention_days = 30` or `retention_days = "36h"` in `hubhook.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DaysOrDuration {
    Days(u64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings `hubhook serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub body_limit: usize,
    pub log_format: LogFormat,
    pub fields: FieldMap,
    pub outbox: OutboxConfig,
    /// Session cookies carry `Secure` (also set per request when `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// How long inbound-log entries and delivery attempts are kept; `None` keeps them forever.
    pub retention: Option<std::time::Duration>,
    pub limits: LimitsConfig,
    pub http: HttpLimits,
}

/// The retention setting: the flag or environment variable, then the file, then 30 days.
pub fn resolve_retention(
    flag: Option<String>,
    file: &FileConfig,
) -> Result<Option<std::time::Duration>, ConfigError> {
    let raw = match (flag, &file.retention_days) {
        (Some(raw), _) => raw,
        (None, Some(DaysOrDuration::Days(d))) => d.to_string(),
        (None, Some(DaysOrDuration::Text(t))) => t.clone(),
        (None, None) => crate::retention::DEFAULT_DAYS.to_string(),
    };
    crate::retention::parse(&raw).map_err(|message| ConfigError::Invalid {
        key: "retention_days",
        message,
    })
}

/// What the HTTP edge allows a client, and how long a shutdown may take (docs/operations.md).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// A request's headers must arrive within this; an idle keep-alive connection is closed after it.
    pub header_timeout: Duration,
    /// A request's body must arrive within this, counted from the end of its headers.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// After a shutdown signal, requests in flight get this long before their connections are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// The HTTP edge's settings as flags or environment variables give them (each may be absent).
#[derive(Debug, Default, Clone)]
pub struct HttpSettings {
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub shutdown_timeout: Option<String>,
}

impl HttpSettings {
    /// Flags and environment first, then the file, then defaults.
    pub fn resolve(self, file: &FileConfig) -> Result<HttpLimits, ConfigError> {
        let duration = |key: &'static str, raw: Option<String>, default: Duration| match raw {
            None => Ok(default),
            Some(raw) => parse_duration(&raw)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ConfigError::Invalid {
                    key,
                    message: format!("{raw:?}: expected a duration such as 10s"),
                }),
        };
        let max_connections = self
            .max_connections
            .or(file.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "max_connections",
                message: "must be at least 1".into(),
            });
        }
        Ok(HttpLimits {
            header_timeout: duration(
                "header_timeout",
                self.header_timeout.or_else(|| file.header_timeout.clone()),
                DEFAULT_HEADER_TIMEOUT,
            )?,
            body_timeout: duration(
                "body_timeout",
                self.body_timeout.or_else(|| file.body_timeout.clone()),
                DEFAULT_BODY_TIMEOUT,
            )?,
            max_connections,
            shutdown_timeout: duration(
                "shutdown_timeout",
                self.shutdown_timeout
                    .or_else(|| file.shutdown_timeout.clone()),
                DEFAULT_SHUTDOWN_TIMEOUT,
            )?,
        })
    }
}

/// The outbox's settings as flags or environment variables give them (each may be absent).
#[derive(Debug, Default, Clone)]
pub struct OutboxSettings {
    pub retry_schedule: Option<String>,
    pub timeout: Option<String>,
    pub max_in_flight: Option<usize>,
    pub deny: Option<String>,
}

impl OutboxSettings {
    /// Flags and environment first, then the file, then defaults.
    pub fn resolve(self, file: &FileConfig) -> Result<OutboxConfig, ConfigError> {
        let mut out = OutboxConfig::default();
        if let Some(raw) = self.retry_schedule.or_else(|| file.retry_schedule.clone()) {
            out.schedule = RetrySchedule::parse(&raw).map_err(|message| ConfigError::Invalid {
                key: "retry_schedule",
                message,
            })?;
        }
        if let Some(raw) = self.timeout.or_else(|| file.outbox_timeout.clone()) {
            out.timeout = parse_duration(&raw)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ConfigError::Invalid {
                    key: "outbox_timeout",
                    message: format!("{raw:?}: expected a duration such as 15s"),
                })?;
        }
        if let Some(n) = self.max_in_flight.or(file.outbox_max_in_flight) {
            if n == 0 {
                return Err(ConfigError::Invalid {
                    key: "outbox_max_in_flight",
                    message: "must be at least 1".into(),
                });
            }
            out.max_in_flight = n;
        }
        let deny: Vec<String> = match self.deny {
            Some(raw) => raw.split(',').map(|s| s.trim().to_owned()).collect(),
            None => file.outbound_deny.clone().unwrap_or_default(),
        };
        for range in deny.iter().filter(|r| !r.is_empty()) {
            out.deny.push(
                IpRange::parse(range).map_err(|message| ConfigError::Invalid {
                    key: "outbound_deny",
                    message,
                })?,
            );
        }
        Ok(out)
    }
}

/// The abuse limits' settings as flags or environment variables give them (each may be absent).
#[derive(Debug, Default, Clone)]
pub struct LimitSettings {
    pub webhook_ip_rate: Option<f64>,
    pub webhook_ip_burst: Option<u32>,
    pub webhook_hotel_rate: Option<f64>,
    pub webhook_hotel_burst: Option<u32>,
    pub webhook_auth_failures: Option<u32>,
    pub webhook_auth_window: Option<String>,
    pub login_account_failures: Option<u32>,
    pub login_ip_failures: Option<u32>,
    pub login_window: Option<String>,
    pub trusted_proxies: Option<String>,
}

impl LimitSettings {
    /// Flags and environment first, then the file, then defaults.
    pub fn resolve(self, file: &FileConfig) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        let webhook_auth_window = window_length(
            "webhook_auth_window",
            self.webhook_auth_window
                .or_else(|| file.webhook_auth_window.clone()),
            d.webhook_auth.length,
        )?;
        let login_window = window_length(
            "login_window",
            self.login_window.or_else(|| file.login_window.clone()),
            d.login_account.length,
        )?;
        let proxies: Vec<String> = match self.trusted_proxies {
            Some(raw) => raw.split(',').map(|s| s.trim().to_owned()).collect(),
            None => file.trusted_proxies.clone().unwrap_or_default(),
        };
        let mut trusted_proxies = Vec::new();
        for range in proxies.iter().filter(|r| !r.is_empty()) {
            trusted_proxies.push(IpRange::parse(range).map_err(|message| {
                ConfigError::Invalid {
                    key: "trusted_proxies",
                    message,
                }
            })?);
        }
        Ok(LimitsConfig {
            webhook_ip: Rate {
                per_second: rate(
                    "webhook_ip_rate",
                    self.webhook_ip_rate.or(file.webhook_ip_rate),
                    d.webhook_ip.per_second,
                )?,
                burst: self
                    .webhook_ip_burst
                    .or(file.webhook_ip_burst)
                    .unwrap_or(d.webhook_ip.burst),
            },
            webhook_hotel: Rate {
                per_second: rate(
                    "webhook_hotel_rate",
                    self.webhook_hotel_rate.or(file.webhook_hotel_rate),
                    d.webhook_hotel.per_second,
                )?,
                burst: self
                    .webhook_hotel_burst
                    .or(file.webhook_hotel_burst)
                    .unwrap_or(d.webhook_hotel.burst),
            },
            webhook_auth: Window {
                failures: self
                    .webhook_auth_failures
                    .or(file.webhook_auth_failures)
                    .unwrap_or(d.webhook_auth.failures),
                length: webhook_auth_window,
            },
            login_account: Window {
                failures: self
                    .login_account_failures
                    .or(file.login_account_failures)
                    .unwrap_or(d.login_account.failures),
                length: login_window,
            },
            login_ip: Window {
                failures: self
                    .login_ip_failures
                    .or(file.login_ip_failures)
                    .unwrap_or(d.login_ip.failures),
                length: login_window,
            },
            trusted_proxies,
        })
    }
}

/// Requests per second: a finite number, at least 0 (0 disables the limit).
fn rate(key: &'static str, given: Option<f64>, default: f64) -> Result<f64, ConfigError> {
    match given {
        None => Ok(default),
        Some(r) if r.is_finite() && r >= 0.0 => Ok(r),
        Some(r) => Err(ConfigError::Invalid {
            key,
            message: format!("{r}: expected requests per second, 0 or more"),
        }),
    }
}

fn window_length(
    key: &'static str,
    given: Option<String>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ConfigError> {
    let Some(raw) = given else {
        return Ok(default);
    };
    parse_duration(&raw)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ConfigError::Invalid {
            key,
            message: format!("{raw:?}: expected a duration such as 1m"),
        })
}

impl Config {
    /// Settings for tests and embedding: a database, an ephemeral port, defaults for the rest.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            body_limit: DEFAULT_BODY_LIMIT,
            log_format: LogFormat::Text,
            fields: FieldMap::default(),
            outbox: OutboxConfig::default(),
            secure_cookies: false,
            retention: default_retention(),
            limits: LimitsConfig::default(),
            http: HttpLimits::default(),
        }
    }

    pub fn resolve(
        listen: Option<String>,
        database_url: Option<String>,
        body_limit: Option<usize>,
        log_format: Option<String>,
        file: &FileConfig,
    ) -> Result<Self, ConfigError> {
        let listen = listen
            .or_else(|| file.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen.parse().map_err(|e| ConfigError::Invalid {
            key: "listen",
            message: format!("{listen:?}: {e}"),
        })?;
        let body_limit = body_limit.or(file.body_limit).unwrap_or(DEFAULT_BODY_LIMIT);
        if body_limit == 0 {
            return Err(ConfigError::Invalid {
                key: "body_limit",
                message: "must be at least 1 byte".into(),
            });
        }
        let log_format = match log_format
            .or_else(|| file.log_format.clone())
            .as_deref()
            .unwrap_or("text")
        {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid {
                    key: "log_format",
                    message: format!("{other:?}: expected text or json"),
                });
            }
        };
        Ok(Self {
            listen,
            database_url: database_url_or_default(database_url, file),
            body_limit,
            log_format,
            fields: file.field_map()?,
            outbox: OutboxConfig::default(),
            secure_cookies: file.secure_cookies.unwrap_or(false),
            retention: default_retention(),
            limits: LimitsConfig::default(),
            http: HttpLimits::default(),
        })
    }
}

fn default_retention() -> Option<std::time::Duration> {
    Some(std::time::Duration::from_secs(
        crate::retention::DEFAULT_DAYS * 86_400,
    ))
}

pub fn database_url_or_default(flag: Option<String>, file: &FileConfig) -> String {
    flag.or_else(|| file.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\nbody_limit = 10\n[mapping]\nroom_number = [\"custom.room\", \"x\"]\n",
        )
        .unwrap();
        let c = Config::resolve(Some("127.0.0.1:1".into()), None, None, None, &file).unwrap();
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.body_limit, 10);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        let first = &c.fields.paths(Field::RoomNumber)[0];
        assert_eq!(first.to_string(), "custom.room");
        assert_eq!(c.fields.paths(Field::RoomNumber)[1].to_string(), "x");
    }

    #[test]
    fn bad_settings_are_named() {
        let file = FileConfig::default();
        let e = Config::resolve(Some("nope".into()), None, None, None, &file).unwrap_err();
        assert!(e.to_string().contains("listen"));
        let bad: FileConfig = toml::from_str("[mapping]\nshoe_size = [\"a\"]").unwrap();
        assert!(bad.field_map().is_err());
        assert!(toml::from_str::<FileConfig>("lisen = 1").is_err());
    }

    #[test]
    fn retention_comes_from_the_flag_the_file_or_the_default() {
        let day = std::time::Duration::from_secs(86_400);
        let none = FileConfig::default();
        assert_eq!(resolve_retention(None, &none).unwrap(), Some(day * 30));
        let file: FileConfig = toml::from_str("retention_days = 7").unwrap();
        assert_eq!(resolve_retention(None, &file).unwrap(), Some(day * 7));
        assert_eq!(resolve_retention(Some("0".into()), &file).unwrap(), None);
        let text: FileConfig = toml::from_str("retention_days = \"12h\"").unwrap();
        assert_eq!(resolve_retention(None, &text).unwrap(), Some(day / 2));
        let off: FileConfig = toml::from_str("retention_days = 0").unwrap();
        assert_eq!(resolve_retention(None, &off).unwrap(), None);
        let e = resolve_retention(Some("soon".into()), &none).unwrap_err();
        assert!(e.to_string().contains("retention_days"), "{e}");
    }

    #[test]
    fn limits_come_from_flags_then_the_file_then_defaults() {
        let file: FileConfig = toml::from_str(
            "webhook_ip_rate = 50\nwebhook_hotel_burst = 7\nlogin_window = \"2m\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
        )
        .unwrap();
        let flags = LimitSettings {
            webhook_ip_rate: Some(0.5),
            webhook_auth_failures: Some(0),
            ..Default::default()
        };
        let l = flags.resolve(&file).unwrap();
        assert_eq!(l.webhook_ip.per_second, 0.5);
        assert_eq!(l.webhook_ip.burst, LimitsConfig::default().webhook_ip.burst);
        assert_eq!(l.webhook_hotel.burst, 7);
        assert_eq!(l.webhook_auth.failures, 0);
        assert_eq!(l.login_ip.length, std::time::Duration::from_secs(120));
        assert_eq!(l.trusted_proxies.len(), 1);
        let from_file = LimitSettings::default().resolve(&file).unwrap();
        assert_eq!(from_file.webhook_ip.per_second, 50.0);
        for bad in [
            LimitSettings {
                webhook_hotel_rate: Some(-1.0),
                ..Default::default()
            },
            LimitSettings {
                login_window: Some("0s".into()),
                ..Default::default()
            },
            LimitSettings {
                trusted_proxies: Some("nope".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.resolve(&FileConfig::default()).is_err());
        }
    }

    #[test]
    fn http_limits_come_from_flags_then_the_file_then_defaults() {
        let file: FileConfig = toml::from_str(
            "header_timeout = \"2s\"\nshutdown_timeout = \"1m\"\nmax_connections = 7",
        )
        .unwrap();
        let limits = HttpSettings {
            header_timeout: Some("500ms".into()),
            ..Default::default()
        }
        .resolve(&file)
        .unwrap();
        assert_eq!(limits.header_timeout, Duration::from_millis(500));
        assert_eq!(limits.body_timeout, DEFAULT_BODY_TIMEOUT);
        assert_eq!(limits.max_connections, 7);
        assert_eq!(limits.shutdown_timeout, Duration::from_secs(60));
        for bad in [
            HttpSettings {
                body_timeout: Some("0s".into()),
                ..Default::default()
            },
            HttpSettings {
                shutdown_timeout: Some("soon".into()),
                ..Default::default()
            },
            HttpSettings {
                max_connections: Some(0),
                ..Default::default()
            },
        ] {
            assert!(bad.resolve(&FileConfig::default()).is_err());
        }
    }
}
