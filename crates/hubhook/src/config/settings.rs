//! Every setting, declared once: its help, flag, environment variable, `hubhook.toml` key, default
//! and the line of the settings table in docs/operations.md. A line of [`settings!`] becomes a clap
//! argument, a key of the file, a default and an entry of [`SETTINGS`]; config/mod.rs validates.

use std::{fmt, str::FromStr};

use serde::Deserialize;

use super::ConfigError;

/// Where a setting can be given besides the environment and the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A flag of every command (`--database-url`).
    Global,
    /// A flag of `hubhook serve`.
    Serve,
    /// Only an environment variable.
    EnvOnly,
    /// Only a table of the file.
    FileOnly,
}

/// One setting as the docs and the help describe it.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// The file key; the flag is the same with `-` for `_`.
    pub key: &'static str,
    /// The table's "setting" column (Markdown).
    pub name: &'static str,
    /// The `--help` text.
    pub help: &'static str,
    /// Which flags and sources exist.
    pub scope: Scope,
    /// The environment variable, if any.
    pub env: Option<&'static str>,
    /// The default, written as a flag would give it ("" for none).
    pub default: &'static str,
    /// The table's "default" column when the bare default does not say enough (Markdown).
    pub shown: Option<&'static str>,
}

impl SettingDoc {
    /// The flag's long name (without `--`).
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }

    /// The default as the table shows it.
    pub fn shown_default(&self) -> String {
        match self.shown {
            Some(text) => text.to_owned(),
            None => format!("`{}`", self.default),
        }
    }
}

/// The help text of a flag: its doc comment and its default.
pub fn help_text(text: &str, default: &str) -> String {
    let text = text.trim();
    if default.is_empty() {
        text.to_owned()
    } else {
        format!("{text} (default {default})")
    }
}

/// The value of a setting when neither a flag, the environment nor the file gives it.
fn default_value<T: FromStr>(key: &'static str, raw: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    T::from_str(raw).map_err(|e| ConfigError::Invalid {
        key,
        message: format!("the default {raw:?} does not parse: {e}"),
    })
}

macro_rules! opt {
    () => {
        None
    };
    ($x:expr) => {
        Some($x)
    };
}

/// Declares a group of settings: `$settings` holds what flags, the environment or the file give
/// (each an `Option`, clap and serde derived from the one line), `$values` the same after defaults.
macro_rules! settings {
    (
        $(#[doc = $sdoc:literal])+
        pub struct $settings:ident => $values:ident, $scope:expr;
        $(
            $(#[doc = $help:literal])+
            $field:ident: $ty:ty, env $env:literal, default $default:expr, name $name:literal
                $(, shown $shown:literal)? $(, arg($($arg:tt)*))?;
        )+
    ) => {
        $(#[doc = $sdoc])+
        ///
        /// Each field: the flag or its environment variable (clap), or the file's key (serde).
        #[derive(Debug, Default, Clone, clap::Args, Deserialize)]
        pub struct $settings {
            $(
                #[arg(long, env = $env, help = help_text(concat!($($help),+), $default) $(, $($arg)*)?)]
                #[serde(default)]
                pub $field: Option<$ty>,
            )+
        }

        /// Every setting of the group with its default filled in (not validated yet).
        #[derive(Debug, Clone)]
        pub struct $values {
            $(
                #[doc = concat!($($help),+)]
                pub $field: $ty,
            )+
        }

        impl $settings {
            /// The group's entries of [`SETTINGS`], in declaration order.
            pub const DOCS: &[SettingDoc] = &[$(
                SettingDoc {
                    key: stringify!($field),
                    name: $name,
                    help: concat!($($help),+),
                    scope: $scope,
                    env: Some($env),
                    default: $default,
                    shown: opt!($($shown)?),
                },
            )+];

            /// These values, then `lower`'s where these are absent (flags and environment over the
            /// file).
            pub fn or(self, lower: Self) -> Self {
                Self { $($field: self.$field.or(lower.$field),)+ }
            }

            /// The values, with the declared default for every one that is absent.
            pub fn values(&self) -> Result<$values, ConfigError> {
                Ok($values {
                    $($field: match &self.$field {
                        Some(v) => v.clone(),
                        None => default_value(stringify!($field), $default)?,
                    },)+
                })
            }
        }
    };
}

settings! {
    /// The settings every command reads.
    pub struct GlobalSettings => GlobalValues, Scope::Global;
    /// Database URL, created on first use
    database_url: String, env "HUBHOOK_DATABASE_URL", default "sqlite://hubhook.db",
        name "database", arg(global = true);
    /// Outbound subscriptions one hotel may have (API, pages and CLI refuse more)
    max_subscriptions: u32, env "HUBHOOK_MAX_SUBSCRIPTIONS", default "20",
        name "outbound subscriptions per hotel (see docs/security.md)", arg(global = true);
}

settings! {
    /// The settings of `hubhook serve`.
    pub struct ServeSettings => ServeValues, Scope::Serve;
    /// Address to listen on
    listen: String, env "HUBHOOK_LISTEN", default "127.0.0.1:8080", name "listen address";
    /// Largest accepted webhook body in bytes
    body_limit: usize, env "HUBHOOK_BODY_LIMIT", default "1048576",
        name "largest webhook body, bytes", shown "`1048576` (1 MiB)";
    /// Log format: text or json
    log_format: String, env "HUBHOOK_LOG_FORMAT", default "text", name "log format (`text`, `json`)";
    /// Treat every request as HTTPS: session cookies always Secure, named __Host-hubhook_session
    secure_cookies: bool, env "HUBHOOK_SECURE_COOKIES", default "false",
        name "session cookies always `Secure`, `__Host-` prefixed (see docs/security.md)",
        shown "off (on per request when a trusted proxy says `X-Forwarded-Proto: https`)",
        arg(num_args = 0..=1, default_missing_value = "true");
    /// Days the inbound log and delivery attempts are kept, or a duration such as 36h; 0 keeps them forever
    retention_days: DaysOrDuration, env "HUBHOOK_RETENTION_DAYS", default "30",
        name "retention of the inbound log and delivery attempts (see [Retention](#retention))",
        shown "`30` (days; `0` keeps everything)";
    /// Delays between outbound delivery attempts
    retry_schedule: String, env "HUBHOOK_RETRY_SCHEDULE",
        default crate::outbox::DEFAULT_RETRY_SCHEDULE,
        name "delays between outbound delivery attempts (see docs/outbound.md)";
    /// Timeout of one delivery attempt
    outbox_timeout: String, env "HUBHOOK_OUTBOX_TIMEOUT", default "15s",
        name "timeout of one outbound delivery attempt";
    /// Deliveries attempted at once
    outbox_max_in_flight: usize, env "HUBHOOK_OUTBOX_MAX_IN_FLIGHT", default "64",
        name "outbound delivery attempts at once";
    /// Delivery attempts one hotel may have at once (fewer than --outbox-max-in-flight)
    outbox_hotel_share: usize, env "HUBHOOK_OUTBOX_HOTEL_SHARE", default "16",
        name "outbound delivery attempts of one hotel at once (at most the above less one; see docs/security.md)";
    /// Comma-separated address ranges deliveries may reach although they are not public (e.g. 127.0.0.0/8)
    outbound_allow: List, env "HUBHOOK_OUTBOUND_ALLOW", default "",
        name "non-public address ranges deliveries may reach (comma-separated; a list in the file; see docs/security.md)",
        shown "none: public addresses only";
    /// Comma-separated address ranges deliveries may not reach (wins over --outbound-allow)
    outbound_deny: List, env "HUBHOOK_OUTBOUND_DENY", default "",
        name "address ranges deliveries may not reach, public or allowed (comma-separated; a list in the file)",
        shown "none";
    /// Webhooks per second from one client address; 0: no limit
    webhook_ip_rate: f64, env "HUBHOOK_WEBHOOK_IP_RATE", default "200",
        name "webhooks per second from one client address (0: off)";
    /// Webhooks one client address may send at once above its rate
    webhook_ip_burst: u32, env "HUBHOOK_WEBHOOK_IP_BURST", default "1000",
        name "burst above that rate";
    /// Authenticated webhooks per second for one hotel; 0: no limit
    webhook_hotel_rate: f64, env "HUBHOOK_WEBHOOK_HOTEL_RATE", default "20",
        name "authenticated webhooks per second for one hotel (0: off)";
    /// Authenticated webhooks one hotel may receive at once above its rate
    webhook_hotel_burst: u32, env "HUBHOOK_WEBHOOK_HOTEL_BURST", default "200",
        name "burst above that rate";
    /// Failed webhook credentials from one address that block it for the window; 0: never
    webhook_auth_failures: u32, env "HUBHOOK_WEBHOOK_AUTH_FAILURES", default "60",
        name "failed webhook credentials from one address that block it (0: off)";
    /// The window of --webhook-auth-failures
    webhook_auth_window: String, env "HUBHOOK_WEBHOOK_AUTH_WINDOW", default "1m",
        name "… within this window";
    /// Failed logins of one account that block it for the window; 0: never
    login_account_failures: u32, env "HUBHOOK_LOGIN_ACCOUNT_FAILURES", default "5",
        name "failed logins of one account that block it (0: off)";
    /// Failed logins from one address that block it for the window; 0: never
    login_ip_failures: u32, env "HUBHOOK_LOGIN_IP_FAILURES", default "20",
        name "failed logins from one address that block it (0: off)";
    /// The window of the login limits
    login_window: String, env "HUBHOOK_LOGIN_WINDOW", default "15m", name "… within this window";
    /// Comma-separated proxy address ranges whose X-Forwarded-For is believed
    trusted_proxies: List, env "HUBHOOK_TRUSTED_PROXIES", default "",
        name "proxies whose `X-Forwarded-For` is believed (comma-separated ranges; a list in the file)",
        shown "none: the TCP peer is the client";
    /// Time a client has to send a request's headers; also how long an idle connection stays open
    header_timeout: String, env "HUBHOOK_HEADER_TIMEOUT", default "10s",
        name "time to send a request's headers; also how long an idle keep-alive connection stays open";
    /// Time a client has to send a request's body after its headers
    body_timeout: String, env "HUBHOOK_BODY_TIMEOUT", default "30s",
        name "time to send a request's body, counted from the end of its headers";
    /// Connections served at once; more wait in the listen backlog
    max_connections: usize, env "HUBHOOK_MAX_CONNECTIONS", default "512",
        name "connections served at once (more wait in the listen backlog)";
    /// Live board streams (/board/events) one session may hold at once
    streams_per_session: usize, env "HUBHOOK_STREAMS_PER_SESSION", default "4",
        name "live board streams one session may hold (see docs/security.md, Live streams)";
    /// Live board streams the sessions of one hotel may hold at once
    streams_per_hotel: usize, env "HUBHOOK_STREAMS_PER_HOTEL", default "16",
        name "live board streams one hotel's sessions may hold";
    /// Live board streams of the whole server; never more than a quarter of --max-connections
    max_streams: usize, env "HUBHOOK_MAX_STREAMS", default "128",
        name "live board streams of the whole server (capped at a quarter of the connections)";
    /// How often a live stream checks that its session still exists
    stream_session_check: String, env "HUBHOOK_STREAM_SESSION_CHECK", default "2s",
        name "how often a live stream checks that its session still exists";
    /// How often the archiver looks for tasks left unfinished past their hotel's archive-after
    archive_check: String, env "HUBHOOK_ARCHIVE_CHECK", default "1m",
        name "how often the archiver looks for tasks left unfinished past their hotel's archive-after";
    /// On SIGTERM or SIGINT, how long requests in flight may take before they are dropped
    shutdown_timeout: String, env "HUBHOOK_SHUTDOWN_TIMEOUT", default "10s",
        name "shutdown bound: how long requests in flight may take after SIGTERM/SIGINT";
}

/// The environment variable of the log filter (tracing's `EnvFilter` syntax).
pub const LOG_FILTER_ENV: &str = "HUBHOOK_LOG";

/// The settings that are not flags: the log filter (environment only) and the field mapping (file
/// only).
pub const OTHER_SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        key: "log",
        name: "log filter (e.g. `info`, `hubhook=debug`)",
        help: "Which log lines are written, e.g. info or hubhook=debug",
        scope: Scope::EnvOnly,
        env: Some(LOG_FILTER_ENV),
        default: "info",
        shown: None,
    },
    SettingDoc {
        key: "mapping",
        name: "extra payload paths (see docs/duve-mapping.md)",
        help: "Extra JSON paths per Duve field, tried before the defaults",
        scope: Scope::FileOnly,
        env: None,
        default: "",
        shown: Some("none"),
    },
];

/// Every setting, in the order of the table in docs/operations.md.
pub fn all() -> impl Iterator<Item = &'static SettingDoc> {
    GlobalSettings::DOCS
        .iter()
        .chain(ServeSettings::DOCS)
        .chain(OTHER_SETTINGS)
}

/// The settings table of docs/operations.md, rendered from the declarations.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| setting | flag | environment | `hubhook.toml` | default |\n|---|---|---|---|---|\n",
    );
    for s in all() {
        let flag = match s.scope {
            Scope::Global => format!("`--{}` (every command)", s.flag()),
            Scope::Serve => format!("`serve --{}`", s.flag()),
            Scope::EnvOnly | Scope::FileOnly => String::new(),
        };
        let env = s.env.map(|e| format!("`{e}`")).unwrap_or_default();
        let file = match s.scope {
            Scope::EnvOnly => String::new(),
            Scope::FileOnly => format!("`[{}]` table", s.key),
            Scope::Global | Scope::Serve => format!("`{}`", s.key),
        };
        out.push_str(&format!(
            "| {} | {flag} | {env} | {file} | {} |\n",
            s.name,
            s.shown_default()
        ));
    }
    out
}

/// A list: comma-separated in a flag or the environment, an array in the file.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct List(pub Vec<String>);

impl FromStr for List {
    type Err = std::convert::Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self(
            raw.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        ))
    }
}

/// `retention_days = 30` or `retention_days = "36h"` in `hubhook.toml`; any text in a flag.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DaysOrDuration {
    /// A whole number of days (the file's integer).
    Days(u64),
    /// Days or a duration with its unit, as written.
    Text(String),
}

impl FromStr for DaysOrDuration {
    type Err = std::convert::Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self::Text(raw.to_owned()))
    }
}

impl fmt::Display for DaysOrDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Days(d) => write!(f, "{d}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_and_keys_are_unique() {
        GlobalSettings::default().values().unwrap();
        ServeSettings::default().values().unwrap();
        let mut keys: Vec<_> = all().map(|s| s.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is declared twice");
    }

    #[test]
    fn lists_split_on_commas_and_skip_blanks() {
        assert_eq!(
            "a, b,,c".parse::<List>().unwrap(),
            List(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!("".parse::<List>().unwrap(), List::default());
    }
}
