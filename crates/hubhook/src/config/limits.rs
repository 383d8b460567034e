//! The abuse limits' settings (docs/operations.md, "Abuse limits"): what `http::limits` enforces.

use std::time::Duration;

use crate::domain::outbound::IpRange;

/// A token bucket's settings: `per_second` tokens added, at most `burst` kept. `0` in either
/// disables the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    pub const OFF: Rate = Rate {
        per_second: 0.0,
        burst: 0,
    };

    pub fn enabled(&self) -> bool {
        self.per_second > 0.0 && self.burst > 0
    }
}

/// A failure limit: past `failures` failures within `length` of the first, the key is refused until
/// the window ends. `failures == 0` disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub failures: u32,
    pub length: Duration,
}

/// Every abuse limit's setting.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    pub webhook_ip: Rate,
    pub webhook_hotel: Rate,
    pub webhook_auth: Window,
    pub login_account: Window,
    pub login_ip: Window,
    /// Peers whose `X-Forwarded-For` is believed; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpRange>,
}

impl LimitsConfig {
    /// No webhook limit at all (tests and benchmarks that send thousands of webhooks per second
    /// from one address for one hotel).
    pub fn without_webhook_limits(mut self) -> Self {
        self.webhook_ip = Rate::OFF;
        self.webhook_hotel = Rate::OFF;
        self.webhook_auth.failures = 0;
        self
    }
}

/// How many live board streams (`/board/events`) may be open at once, and how often each checks
/// its session (docs/security.md, "Live streams"). `0` in a cap refuses every stream at that level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams of one session.
    pub per_session: usize,
    /// Streams of all the sessions of one hotel.
    pub per_hotel: usize,
    /// Streams of the whole server, before the cap at a quarter of the connections
    /// ([`StreamLimits::total`]).
    pub max: usize,
    /// How often an open stream looks its session up again (it ends when the session is gone).
    pub session_check: Duration,
}

impl StreamLimits {
    /// The streams the whole server allows with `max_connections` connections: `max`, and never
    /// more than a quarter of the connections, so at least three quarters stay for webhooks,
    /// health checks and pages.
    pub fn total(&self, max_connections: usize) -> usize {
        self.max.min(max_connections / 4)
    }
}
