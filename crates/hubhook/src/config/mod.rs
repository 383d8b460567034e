//! Settings: command-line flags, then `HUBHOOK_*` environment variables (both through clap), then an
//! optional `hubhook.toml`, then defaults. Each is declared once (settings.rs) and validated once,
//! here.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use duve::{Field, FieldMap, Path};
use serde::Deserialize;

use crate::{
    domain::outbound::{DestinationPolicy, IpRange, hotel_share},
    outbox::{RetrySchedule, dispatcher::OutboxConfig, parse_duration},
};

pub mod limits;
pub mod settings;

pub use limits::{LimitsConfig, Rate, StreamLimits, Window};
pub use settings::{
    DaysOrDuration, GlobalSettings, GlobalValues, LOG_FILTER_ENV, List, ServeSettings, ServeValues,
};

/// A setting that cannot be read or used.
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

/// What `hubhook.toml` holds: the keys of every setting (all optional) and the field mapping.
#[derive(Debug, Default, Clone)]
pub struct FileConfig {
    /// `database_url`.
    pub global: GlobalSettings,
    /// The keys of `hubhook serve`'s settings.
    pub serve: ServeSettings,
    /// Extra JSON paths per Duve field, tried before the defaults (see docs/duve-mapping.md).
    pub mapping: BTreeMap<String, Vec<String>>,
}

/// The file's tables that are not settings of a flag.
#[derive(Debug, Default, Deserialize)]
struct FileOnly {
    #[serde(default)]
    mapping: BTreeMap<String, Vec<String>>,
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
        Self::parse(&text).map_err(|message| ConfigError::Parse { path, message })
    }

    /// Reads the file's text. Each group is read from the whole text (so errors keep their line),
    /// and a key no group knows is refused, so a typo does not go unnoticed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let known = settings::all().filter(|s| s.scope != settings::Scope::EnvOnly);
        let known: Vec<&str> = known.map(|s| s.key).collect();
        if let Some(unknown) = table.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "unknown key `{unknown}`, expected one of {}",
                known.join(", ")
            ));
        }
        let file_only: FileOnly = toml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Self {
            global: toml::from_str(text).map_err(|e| e.to_string())?,
            serve: toml::from_str(text).map_err(|e| e.to_string())?,
            mapping: file_only.mapping,
        })
    }

    /// The `[mapping]` table over the default paths.
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

    /// The database URL: the flag or environment variable, then the file, then the default.
    pub fn database_url(&self, flags: GlobalSettings) -> Result<String, ConfigError> {
        Ok(self.globals(flags)?.database_url)
    }

    /// The settings every command reads: flags and environment, then the file, then defaults.
    pub fn globals(&self, flags: GlobalSettings) -> Result<GlobalValues, ConfigError> {
        flags.or(self.global.clone()).values()
    }
}

/// The log output's format.
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
    /// Outbound subscriptions one hotel may have.
    pub max_subscriptions: u32,
    /// Every request counts as HTTPS for the session cookie (`Secure`, `__Host-` prefix); without
    /// it, only a trusted proxy's `X-Forwarded-Proto: https` does.
    pub secure_cookies: bool,
    /// How long inbound-log entries and delivery attempts are kept; `None` keeps them forever.
    pub retention: Option<Duration>,
    pub limits: LimitsConfig,
    pub http: HttpLimits,
    /// Live board streams: caps per session, per hotel and in all, and the session re-check.
    pub streams: StreamLimits,
    /// How often the archiver looks for tasks left unfinished past their hotel's archive-after.
    pub archive_check: Duration,
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

impl Config {
    /// `serve`'s settings: `flags` (flags and environment) over the file, then defaults; validated.
    pub fn resolve(
        globals: GlobalValues,
        flags: ServeSettings,
        file: &FileConfig,
    ) -> Result<Self, ConfigError> {
        let GlobalValues {
            database_url,
            max_subscriptions,
        } = globals;
        let settings = flags.or(file.serve.clone());
        let v = settings.values()?;
        Ok(Self {
            listen: v.listen.parse().map_err(|e| ConfigError::Invalid {
                key: "listen",
                message: format!("{:?}: {e}", v.listen),
            })?,
            database_url,
            body_limit: at_least_one("body_limit", v.body_limit)?,
            log_format: match v.log_format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Invalid {
                        key: "log_format",
                        message: format!("{other:?}: expected text or json"),
                    });
                }
            },
            fields: file.field_map()?,
            outbox: outbox(&v)?,
            max_subscriptions,
            secure_cookies: v.secure_cookies,
            retention: retention(&v)?,
            limits: limits(&v)?,
            http: http(&v)?,
            streams: streams(&v)?,
            archive_check: duration("archive_check", &v.archive_check, "1m")?,
        })
    }

    /// Settings for tests and embedding: a database, an ephemeral port, defaults for the rest.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let defaults = ServeSettings {
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let globals = GlobalSettings {
            database_url: Some(database_url.into()),
            ..Default::default()
        };
        let resolved = FileConfig::default()
            .globals(globals)
            .and_then(|g| Self::resolve(g, defaults, &FileConfig::default()));
        match resolved {
            Ok(config) => config,
            // The defaults are constants, checked by a unit test.
            Err(e) => unreachable!("the default settings are invalid: {e}"),
        }
    }
}

impl ServeSettings {
    /// The outbox's part of these settings (defaults for the absent ones), validated.
    pub fn outbox(&self) -> Result<OutboxConfig, ConfigError> {
        outbox(&self.values()?)
    }

    /// The abuse limits' part of these settings (defaults for the absent ones), validated.
    pub fn limits(&self) -> Result<LimitsConfig, ConfigError> {
        limits(&self.values()?)
    }

    /// The HTTP edge's part of these settings (defaults for the absent ones), validated.
    pub fn http(&self) -> Result<HttpLimits, ConfigError> {
        http(&self.values()?)
    }

    /// The retention (defaults for the absent ones), validated; `None` keeps everything.
    pub fn retention(&self) -> Result<Option<Duration>, ConfigError> {
        retention(&self.values()?)
    }
}

fn outbox(v: &ServeValues) -> Result<OutboxConfig, ConfigError> {
    Ok(OutboxConfig {
        schedule: RetrySchedule::parse(&v.retry_schedule).map_err(|message| {
            ConfigError::Invalid {
                key: "retry_schedule",
                message,
            }
        })?,
        timeout: duration("outbox_timeout", &v.outbox_timeout, "15s")?,
        max_in_flight: at_least_one("outbox_max_in_flight", v.outbox_max_in_flight)?,
        hotel_share: hotel_share(
            v.outbox_max_in_flight,
            at_least_one("outbox_hotel_share", v.outbox_hotel_share)?,
        ),
        destinations: Arc::new(DestinationPolicy::new(
            ip_ranges("outbound_allow", &v.outbound_allow)?,
            ip_ranges("outbound_deny", &v.outbound_deny)?,
        )),
    })
}

fn retention(v: &ServeValues) -> Result<Option<Duration>, ConfigError> {
    crate::retention::parse(&v.retention_days.to_string()).map_err(|message| ConfigError::Invalid {
        key: "retention_days",
        message,
    })
}

fn limits(v: &ServeValues) -> Result<LimitsConfig, ConfigError> {
    let login_window = duration("login_window", &v.login_window, "1m")?;
    Ok(LimitsConfig {
        webhook_ip: Rate {
            per_second: rate("webhook_ip_rate", v.webhook_ip_rate)?,
            burst: v.webhook_ip_burst,
        },
        webhook_hotel: Rate {
            per_second: rate("webhook_hotel_rate", v.webhook_hotel_rate)?,
            burst: v.webhook_hotel_burst,
        },
        webhook_auth: Window {
            failures: v.webhook_auth_failures,
            length: duration("webhook_auth_window", &v.webhook_auth_window, "1m")?,
        },
        login_account: Window {
            failures: v.login_account_failures,
            length: login_window,
        },
        login_ip: Window {
            failures: v.login_ip_failures,
            length: login_window,
        },
        trusted_proxies: ip_ranges("trusted_proxies", &v.trusted_proxies)?,
    })
}

fn http(v: &ServeValues) -> Result<HttpLimits, ConfigError> {
    Ok(HttpLimits {
        header_timeout: duration("header_timeout", &v.header_timeout, "10s")?,
        body_timeout: duration("body_timeout", &v.body_timeout, "10s")?,
        max_connections: at_least_one("max_connections", v.max_connections)?,
        shutdown_timeout: duration("shutdown_timeout", &v.shutdown_timeout, "10s")?,
    })
}

fn streams(v: &ServeValues) -> Result<StreamLimits, ConfigError> {
    Ok(StreamLimits {
        per_session: v.streams_per_session,
        per_hotel: v.streams_per_hotel,
        max: v.max_streams,
        session_check: duration("stream_session_check", &v.stream_session_check, "2s")?,
    })
}

/// A duration with its unit, not zero; `example` goes into the error.
fn duration(key: &'static str, raw: &str, example: &str) -> Result<Duration, ConfigError> {
    parse_duration(raw)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ConfigError::Invalid {
            key,
            message: format!("{raw:?}: expected a duration such as {example}"),
        })
}

fn at_least_one(key: &'static str, n: usize) -> Result<usize, ConfigError> {
    if n == 0 {
        let unit = if key == "body_limit" { " byte" } else { "" };
        return Err(ConfigError::Invalid {
            key,
            message: format!("must be at least 1{unit}"),
        });
    }
    Ok(n)
}

/// Requests per second: a finite number, at least 0 (0 disables the limit).
fn rate(key: &'static str, r: f64) -> Result<f64, ConfigError> {
    if r.is_finite() && r >= 0.0 {
        Ok(r)
    } else {
        Err(ConfigError::Invalid {
            key,
            message: format!("{r}: expected requests per second, 0 or more"),
        })
    }
}

fn ip_ranges(key: &'static str, list: &List) -> Result<Vec<IpRange>, ConfigError> {
    let ranges = list.0.iter().map(|s| s.trim()).filter(|r| !r.is_empty());
    ranges
        .map(|range| IpRange::parse(range).map_err(|message| ConfigError::Invalid { key, message }))
        .collect()
}

#[cfg(test)]
mod tests;
