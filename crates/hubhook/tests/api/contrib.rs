//! What `contrib/` ships works with this hubhook: the systemd unit's command line and settings
//! start the real binary and serve; the unit passes `systemd-analyze verify` and keeps its
//! hardening; the alert rules and the Grafana dashboard are valid PromQL over metrics that
//! `/metrics` really exposes, and the alerts fire on the series they are for (`promtool`).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    helpers::spawn_app,
    metrics::{prom_tool, run_with_input},
};

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(name)
}

/// The unit's `[Service]` settings, in order, as (key, value).
fn service_settings(unit: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.is_empty()
            && !line.starts_with('#')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    settings
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_systemd_unit_starts_the_real_binary_with_its_own_settings() {
    let unit =
        std::fs::read_to_string(contrib("hubhook.service")).expect("contrib/hubhook.service");
    let s = service_settings(&unit);
    for (key, want) in [
        ("User", "hubhook"),
        ("StateDirectory", "hubhook"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("UMask", "0077"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(setting(&s, key), [want], "{key}");
    }
    assert!(setting(&s, "SystemCallFilter").contains(&"@system-service"));
    let env_files = setting(&s, "EnvironmentFile");
    assert_eq!(env_files, ["-/etc/hubhook/hubhook.env"]);

    // The command line, as systemd would run it, against a state directory of our own.
    let exec = setting(&s, "ExecStart");
    assert_eq!(exec.len(), 1);
    let mut argv = exec[0].split_whitespace();
    assert_eq!(argv.next(), Some("/usr/local/bin/hubhook"));
    let args: Vec<&str> = argv.collect();
    let state = tempfile::tempdir().expect("state dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut database = None;
    // The unit's Environment= lines, then the example env file's (EnvironmentFile= wins).
    let env_file = std::fs::read_to_string(contrib("hubhook.env")).expect("contrib/hubhook.env");
    let assignments = setting(&s, "Environment").into_iter().chain(
        env_lines(&env_file)
            .into_iter()
            .filter(|l| !l.starts_with('#')),
    );
    for assignment in assignments {
        let (k, v) = assignment.split_once('=').expect("KEY=VALUE");
        let v = v.replace("/var/lib/hubhook", &state.path().display().to_string());
        let v = match k {
            "HUBHOOK_LISTEN" => format!("127.0.0.1:{port}"),
            _ => v,
        };
        if k == "HUBHOOK_DATABASE_URL" {
            database = Some(v.clone());
        }
        cmd.env(k, v);
    }
    assert_eq!(
        database.as_deref(),
        Some(format!("sqlite://{}/hubhook.db", state.path().display()).as_str()),
        "the database lives in the state directory"
    );
    let mut child = cmd.spawn().expect("start the unit's ExecStart");
    let healthy = wait_healthy(port, &mut child);
    // SIGTERM, as `systemctl stop` sends: a clean exit (status 0) within TimeoutStopSec.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let stop_bound: u64 = setting(&s, "TimeoutStopSec")[0]
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec in seconds");
    let deadline = Instant::now() + Duration::from_secs(stop_bound);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(healthy, "the unit's command never answered /readyz: {log}");
    assert!(
        status.is_some_and(|s| s.success()),
        "stopped with {status:?}: {log}"
    );
    assert!(state.path().join("hubhook.db").exists());
}

/// The `HUBHOOK_…=value` lines of an env file, commented-out ones (`#HUBHOOK_…`) included.
fn env_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.trim_start_matches('#').starts_with("HUBHOOK_") && l.contains('='))
        .collect()
}

/// Every `HUBHOOK_…` name in `text`.
fn env_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("HUBHOOK_") && w.len() > "HUBHOOK_".len())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_example_env_file_names_only_settings_the_binary_reads() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
            .args(args)
            .output()
            .expect("--help");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The flags' variables, and the log filter (a variable without a flag, docs/operations.md).
    let mut known = env_names(&help(&["--help"]));
    known.extend(env_names(&help(&["serve", "--help"])));
    known.insert("HUBHOOK_LOG".into());
    assert!(known.contains("HUBHOOK_LISTEN"), "{known:?}");
    let text = std::fs::read_to_string(contrib("hubhook.env")).expect("env file");
    let lines = env_lines(&text);
    assert!(lines.len() >= 4, "{lines:?}");
    for line in lines {
        let name = line
            .trim_start_matches('#')
            .split('=')
            .next()
            .unwrap_or_default();
        assert!(
            known.contains(name),
            "{name} is no setting of hubhook: {known:?}"
        );
    }
}

/// Polls `/readyz` for up to 10 s (raw HTTP/1.1, no runtime needed).
fn wait_healthy(port: u16, child: &mut std::process::Child) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = c.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_with_its_hardening() {
    let available = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    // `verify` checks that ExecStart's program exists: point it at the real binary.
    let unit = std::fs::read_to_string(contrib("hubhook.service")).expect("unit");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("hubhook.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/hubhook", env!("CARGO_BIN_EXE_hubhook")),
    )
    .expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    let said = String::from_utf8_lossy(&out.stderr);
    let about_unit: Vec<&str> = said.lines().filter(|l| l.contains("hubhook")).collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify: {said}"
    );
    // The exposure score systemd computes from the hardening (0 best, 10 worst): "OK" is under 2.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for hubhook.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(score <= 2.0, "exposure {score}:\n{text}");
}

/// Every `hubhook_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("hubhook_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let before = rest[..i].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// The series names `/metrics` declares: from each `# TYPE` line, a counter's or gauge's name, a
/// histogram's `_bucket`, `_sum` and `_count`.
fn exposed_series(exposition: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{name}{suffix}"));
            }
        } else {
            out.insert(name.to_owned());
        }
    }
    out
}

/// The PromQL of every panel of the dashboard, its variables replaced by values.
fn dashboard_queries() -> Vec<String> {
    let raw = std::fs::read_to_string(contrib("grafana-dashboard.json")).expect("dashboard");
    let dash: Value = serde_json::from_str(&raw).expect("the dashboard is JSON");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a target has expr");
            out.push(
                expr.replace("$__rate_interval", "1m")
                    .replace("$job", "hubhook")
                    .replace("$instance", ".*"),
            );
        }
    }
    assert!(out.len() >= 10, "{out:?}");
    out
}

#[tokio::test]
async fn the_alert_rules_and_the_dashboard_name_real_metrics_in_valid_promql() {
    let app = spawn_app().await;
    // A labelled family shows in the exposition once it has a series: one API request.
    let res = app.client.get(app.url("/api/v1/tasks")).send().await;
    assert_eq!(res.expect("request").status(), 401);
    let exposition = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let exposed = exposed_series(&exposition);
    let alerts = std::fs::read_to_string(contrib("prometheus-alerts.yml")).expect("alerts");
    let queries = dashboard_queries();
    for (what, text) in [
        ("alert rules", alerts.clone()),
        ("dashboard", queries.join("\n")),
    ] {
        let unknown: Vec<String> = metric_names(&text)
            .into_iter()
            .filter(|n| !exposed.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "the {what} name series /metrics does not expose: {unknown:?}\nexposed: {exposed:?}"
        );
    }
    if !prom_tool("promtool", "promtool", &["--version"]) {
        return;
    }
    let (ok, out) = run_with_input(
        "promtool",
        &[
            "check",
            "rules",
            &contrib("prometheus-alerts.yml").display().to_string(),
        ],
        "",
    );
    assert!(ok, "promtool check rules: {out}");
    // The alerts' own unit tests: each fires on the series it is for, and not on a healthy server.
    let (ok, out) = run_with_input(
        "promtool",
        &[
            "test",
            "rules",
            &contrib("prometheus-alerts.test.yml").display().to_string(),
        ],
        "",
    );
    assert!(ok, "promtool test rules: {out}");
    // The dashboard's queries, parsed by Prometheus as recording rules.
    let dir = tempfile::tempdir().expect("dir");
    let rules: String = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            format!(
                "      - record: dashboard:query{i}\n        expr: {}\n",
                serde_json::to_string(q).expect("quoted")
            )
        })
        .collect();
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(
        &path,
        format!("groups:\n  - name: dashboard\n    rules:\n{rules}"),
    )
    .expect("write");
    let (ok, out) = run_with_input(
        "promtool",
        &["check", "rules", &path.display().to_string()],
        "",
    );
    assert!(ok, "the dashboard's queries: {out}");
}
