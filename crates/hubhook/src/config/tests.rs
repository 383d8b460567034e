//! The settings' precedence (flags, environment, file, defaults) and their checks.

use super::*;

fn file(text: &str) -> FileConfig {
    FileConfig::parse(text).unwrap()
}

fn resolve(flags: ServeSettings, file: &FileConfig) -> Result<Config, ConfigError> {
    let globals = GlobalSettings {
        database_url: Some("sqlite://x.db".into()),
        ..Default::default()
    };
    Config::resolve(file.globals(globals)?, flags, file)
}

#[test]
fn flags_win_over_the_file_and_defaults_fill_the_rest() {
    let file = file(
        "listen = \"0.0.0.0:9000\"\nbody_limit = 10\n[mapping]\nroom_number = [\"custom.room\", \"x\"]\n",
    );
    let flags = ServeSettings {
        listen: Some("127.0.0.1:1".into()),
        ..Default::default()
    };
    let c = resolve(flags, &file).unwrap();
    assert_eq!(c.listen.port(), 1);
    assert_eq!(c.body_limit, 10);
    assert_eq!(c.log_format, LogFormat::Text);
    let first = &c.fields.paths(Field::RoomNumber)[0];
    assert_eq!(first.to_string(), "custom.room");
    assert_eq!(c.fields.paths(Field::RoomNumber)[1].to_string(), "x");
    let url = |flag: Option<&str>, f: &FileConfig| {
        let flags = GlobalSettings {
            database_url: flag.map(Into::into),
            ..Default::default()
        };
        f.database_url(flags).unwrap()
    };
    assert_eq!(url(None, &FileConfig::default()), "sqlite://hubhook.db");
    let f = self::file("database_url = \"sqlite://f.db\"");
    assert_eq!(url(None, &f), "sqlite://f.db");
    assert_eq!(url(Some("sqlite://flag.db"), &f), "sqlite://flag.db");
}

#[test]
fn the_defaults_are_valid() {
    let c = Config::for_database("sqlite://x.db");
    assert_eq!(c.listen.port(), 0);
    assert_eq!(c.body_limit, 1024 * 1024);
    assert_eq!(c.http.max_connections, 512);
    assert_eq!(c.http.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(c.outbox.max_in_flight, 64);
    assert_eq!(c.outbox.schedule, RetrySchedule::default());
    assert_eq!(c.limits.webhook_ip.burst, 1000);
    assert_eq!(c.limits.login_ip.length, Duration::from_secs(15 * 60));
    assert!(!c.secure_cookies);
    assert_eq!(c.streams.per_session, 4);
    assert_eq!(c.streams.per_hotel, 16);
    assert_eq!(c.streams.total(c.http.max_connections), 128);
    assert_eq!(
        c.streams.total(32),
        8,
        "a quarter of the connections at most"
    );
    assert_eq!(c.streams.session_check, Duration::from_secs(2));
}

#[test]
fn bad_settings_are_named() {
    let flags = ServeSettings {
        listen: Some("nope".into()),
        ..Default::default()
    };
    let e = resolve(flags, &FileConfig::default()).unwrap_err();
    assert!(e.to_string().contains("listen"));
    let bad = file("[mapping]\nshoe_size = [\"a\"]");
    assert!(bad.field_map().is_err());
    let e = FileConfig::parse("lisen = 1").unwrap_err();
    assert!(e.contains("lisen"), "{e}");
    let e = FileConfig::parse("body_limit = \"big\"").unwrap_err();
    assert!(e.contains("body_limit"), "{e}");
    for (key, flags) in [
        (
            "body_limit",
            ServeSettings {
                body_limit: Some(0),
                ..Default::default()
            },
        ),
        (
            "log_format",
            ServeSettings {
                log_format: Some("xml".into()),
                ..Default::default()
            },
        ),
    ] {
        let e = resolve(flags, &FileConfig::default()).unwrap_err();
        assert!(e.to_string().contains(key), "{e}");
    }
}

#[test]
fn retention_comes_from_the_flag_the_file_or_the_default() {
    let day = Duration::from_secs(86_400);
    let none = FileConfig::default();
    let flag = |raw: Option<&str>, f: &FileConfig| {
        ServeSettings {
            retention_days: raw.map(|r| DaysOrDuration::Text(r.into())),
            ..Default::default()
        }
        .or(f.serve.clone())
        .retention()
    };
    assert_eq!(flag(None, &none).unwrap(), Some(day * 30));
    let seven = file("retention_days = 7");
    assert_eq!(flag(None, &seven).unwrap(), Some(day * 7));
    assert_eq!(flag(Some("0"), &seven).unwrap(), None);
    assert_eq!(
        flag(None, &file("retention_days = \"12h\"")).unwrap(),
        Some(day / 2)
    );
    assert_eq!(flag(None, &file("retention_days = 0")).unwrap(), None);
    let e = flag(Some("soon"), &none).unwrap_err();
    assert!(e.to_string().contains("retention_days"), "{e}");
}

#[test]
fn limits_come_from_flags_then_the_file_then_defaults() {
    let file = file(
        "webhook_ip_rate = 50\nwebhook_hotel_burst = 7\nlogin_window = \"2m\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
    );
    let flags = ServeSettings {
        webhook_ip_rate: Some(0.5),
        webhook_auth_failures: Some(0),
        ..Default::default()
    };
    let l = flags.or(file.serve.clone()).limits().unwrap();
    assert_eq!(l.webhook_ip.per_second, 0.5);
    assert_eq!(l.webhook_ip.burst, 1000);
    assert_eq!(l.webhook_hotel.burst, 7);
    assert_eq!(l.webhook_auth.failures, 0);
    assert_eq!(l.login_ip.length, Duration::from_secs(120));
    assert_eq!(l.trusted_proxies.len(), 1);
    let from_file = file.serve.limits().unwrap();
    assert_eq!(from_file.webhook_ip.per_second, 50.0);
    for bad in [
        ServeSettings {
            webhook_hotel_rate: Some(-1.0),
            ..Default::default()
        },
        ServeSettings {
            login_window: Some("0s".into()),
            ..Default::default()
        },
        ServeSettings {
            trusted_proxies: Some("nope".parse().unwrap()),
            ..Default::default()
        },
    ] {
        assert!(bad.limits().is_err());
    }
}

#[test]
fn http_limits_come_from_flags_then_the_file_then_defaults() {
    let file = file("header_timeout = \"2s\"\nshutdown_timeout = \"1m\"\nmax_connections = 7");
    let limits = ServeSettings {
        header_timeout: Some("500ms".into()),
        ..Default::default()
    }
    .or(file.serve)
    .http()
    .unwrap();
    assert_eq!(limits.header_timeout, Duration::from_millis(500));
    assert_eq!(limits.body_timeout, Duration::from_secs(30));
    assert_eq!(limits.max_connections, 7);
    assert_eq!(limits.shutdown_timeout, Duration::from_secs(60));
    for bad in [
        ServeSettings {
            body_timeout: Some("0s".into()),
            ..Default::default()
        },
        ServeSettings {
            shutdown_timeout: Some("soon".into()),
            ..Default::default()
        },
        ServeSettings {
            max_connections: Some(0),
            ..Default::default()
        },
    ] {
        assert!(bad.http().is_err());
    }
}

#[test]
fn outbox_settings_come_from_flags_then_the_file_then_defaults() {
    let file = file("outbox_timeout = \"3s\"\noutbound_deny = [\"10.0.0.0/8\", \"127.0.0.1\"]");
    let o = ServeSettings {
        retry_schedule: Some("1s,2s".into()),
        ..Default::default()
    }
    .or(file.serve.clone())
    .outbox()
    .unwrap();
    assert_eq!(o.schedule.max_attempts(), 3);
    assert_eq!(o.timeout, Duration::from_secs(3));
    let denied = |o: &OutboxConfig| !o.destinations.permits("10.1.1.1".parse().unwrap());
    assert!(denied(&o));
    let allow = ServeSettings {
        outbound_allow: Some("10.0.0.0/8, 127.0.0.0/8".parse().unwrap()),
        ..Default::default()
    };
    let o = allow.clone().or(file.serve.clone()).outbox().unwrap();
    assert!(denied(&o), "the deny-list wins over the allow-list");
    assert!(!o.destinations.permits("127.0.0.1".parse().unwrap()));
    let o = allow.outbox().unwrap();
    assert!(!denied(&o));
    assert!(o.destinations.permits("127.0.0.1".parse().unwrap()));
    let o = ServeSettings::default().outbox().unwrap();
    assert!(!o.destinations.permits("127.0.0.1".parse().unwrap()));
    assert!(o.destinations.permits("8.8.8.8".parse().unwrap()));
    assert_eq!(o.hotel_share, 16);
    let bad = ServeSettings {
        outbound_allow: Some("localhost".parse().unwrap()),
        ..Default::default()
    };
    let e = bad.outbox().unwrap_err();
    assert!(e.to_string().contains("outbound_allow"), "{e}");
    let small = ServeSettings {
        outbox_max_in_flight: Some(4),
        ..Default::default()
    };
    assert_eq!(small.outbox().unwrap().hotel_share, 3);
}

#[test]
fn the_subscription_cap_comes_from_the_flag_the_file_or_the_default() {
    let none = FileConfig::default();
    let g = none.globals(GlobalSettings::default()).unwrap();
    assert_eq!(g.max_subscriptions, 20);
    let f = file("max_subscriptions = 5");
    assert_eq!(
        f.globals(GlobalSettings::default())
            .unwrap()
            .max_subscriptions,
        5
    );
    let flags = GlobalSettings {
        max_subscriptions: Some(30),
        ..Default::default()
    };
    let c = resolve(ServeSettings::default(), &f).unwrap();
    assert_eq!(c.max_subscriptions, 5);
    assert_eq!(f.globals(flags).unwrap().max_subscriptions, 30);
}
