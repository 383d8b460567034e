//! Settings: command-line flags, then `HUBHOOK_*` environment variables (both through clap), then an
//! optional `hubhook.toml`, then defaults. Validated once, here.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use duve::{Field, FieldMap, Path};
use serde::Deserialize;

use crate::outbox::{
    RetrySchedule,
    dispatcher::{IpRange, OutboxConfig},
    parse_duration,
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
    pub http: HttpLimits,
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
            http: HttpLimits::default(),
        })
    }
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
