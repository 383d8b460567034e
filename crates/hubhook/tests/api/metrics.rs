//! `/metrics` as Prometheus reads it: the real binary after real traffic (webhooks, API requests,
//! outbound deliveries to real receivers), its exposition parsed by the Python `prometheus_client`
//! parser and linted by `promtool check metrics`, and every counter and histogram bucket checked
//! against the traffic sent (CONTRACT.md section 3).
//!
//! The parser is `pip install prometheus_client`; promtool is Debian's `prometheus` package.
//! `.ci/run` installs both and sets HUBHOOK_REQUIRE_PROM_PARSER=1, so in CI a missing one fails;
//! elsewhere the test says SKIPPED.

use std::{
    collections::BTreeMap,
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::{
    helpers::{Hotel, order},
    receiver::{Receiver, eventually},
    restart::{Server, cli, post_order},
};

/// Whether `program args` runs successfully. When it does not: a failure if the environment asks
/// for the Prometheus tools (CI), else `false` and a SKIPPED line.
pub(crate) fn prom_tool(what: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("HUBHOOK_REQUIRE_PROM_PARSER").as_deref() != Ok("1"),
            "{what} is required (HUBHOOK_REQUIRE_PROM_PARSER=1) but `{program}` does not run"
        );
        eprintln!("SKIPPED: {what} is not installed");
    }
    ok
}

/// Runs `program args` with `input` on stdin; returns (success, stdout and stderr).
pub(crate) fn run_with_input(program: &str, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One sample as the parser read it.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One metric family as the parser read it.
#[derive(Debug, Clone)]
struct Family {
    kind: String,
    help: String,
    samples: Vec<Sample>,
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "help": f.documentation,
                   "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;

/// `text` parsed by the Python `prometheus_client` parser, by family name.
fn parse(text: &str) -> BTreeMap<String, Family> {
    let (ok, out) = run_with_input("python3", &["-c", PARSE], text);
    assert!(
        ok,
        "the Prometheus parser refused the exposition: {out}\n{text}"
    );
    let parsed: BTreeMap<String, Value> = serde_json::from_str(&out).expect("parser output");
    parsed
        .into_iter()
        .map(|(name, f)| {
            let samples = f["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|s| Sample {
                    name: s[0].as_str().expect("sample name").to_owned(),
                    labels: serde_json::from_value(s[1].clone()).expect("labels"),
                    value: s[2].as_f64().expect("value"),
                })
                .collect();
            let family = Family {
                kind: f["type"].as_str().unwrap_or_default().to_owned(),
                help: f["help"].as_str().unwrap_or_default().to_owned(),
                samples,
            };
            (name, family)
        })
        .collect()
}

/// The value of the sample `name` whose labels are exactly `labels`.
fn value(f: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    f.values()
        .flat_map(|fam| &fam.samples)
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}

/// A histogram series: its buckets (upper bound, cumulative count), count and sum.
#[derive(Debug)]
struct Hist {
    buckets: Vec<(f64, f64)>,
    count: f64,
    sum: f64,
}

/// The series of histogram `family` with `labels`, checked for consistency: typed `histogram`,
/// buckets in increasing order of bound, cumulative (never decreasing), ending at `+Inf` equal to
/// the count.
fn histogram(f: &BTreeMap<String, Family>, family: &str, labels: &[(&str, &str)]) -> Hist {
    let fam = f
        .get(family)
        .unwrap_or_else(|| panic!("{family} is not exposed"));
    assert_eq!(fam.kind, "histogram", "{family}");
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut buckets = Vec::new();
    for s in &fam.samples {
        if s.name != format!("{family}_bucket") {
            continue;
        }
        let mut rest = s.labels.clone();
        let le = rest.remove("le").expect("a bucket has le");
        if rest == want {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("le is a number")
            };
            buckets.push((bound, s.value));
        }
    }
    let count = value(f, &format!("{family}_count"), labels)
        .unwrap_or_else(|| panic!("{family}{labels:?} has no _count"));
    let sum = value(f, &format!("{family}_sum"), labels)
        .unwrap_or_else(|| panic!("{family}{labels:?} has no _sum"));
    assert!(!buckets.is_empty(), "{family}{labels:?} has no buckets");
    for w in buckets.windows(2) {
        assert!(w[0].0 < w[1].0, "{family}{labels:?}: bounds out of order");
        assert!(
            w[0].1 <= w[1].1,
            "{family}{labels:?}: buckets not cumulative"
        );
    }
    let last = buckets.last().copied().unwrap_or_default();
    assert_eq!(last.0, f64::INFINITY, "{family}{labels:?} ends at +Inf");
    assert_eq!(last.1, count, "{family}{labels:?}: +Inf bucket = count");
    Hist {
        buckets,
        count,
        sum,
    }
}

async fn scrape(client: &reqwest::Client, server: &Server) -> String {
    let res = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_count_the_traffic_sent() {
    if !prom_tool(
        "the Python prometheus_client parser",
        "python3",
        &["-c", "import prometheus_client.parser"],
    ) {
        return;
    }
    let promtool = prom_tool("promtool", "promtool", &["--version"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, d) = (dir.path().join("m.db"), dir.path());
    let created = cli(
        &db,
        d,
        &["hotel", "create", "--name", "M", "--id", "metrics"],
    );
    let hotel = Hotel {
        id: "metrics".into(),
        access: created["accessToken"].as_str().unwrap().to_owned(),
        password: created["passwordToken"].as_str().unwrap().to_owned(),
    };
    cli(&db, d, &["rooms", "add", "metrics", "101", "102"]);
    // Each order of these tests is meant to make its tasks: no merging of repeated requests.
    cli(&db, d, &["hotel", "set", "metrics", "--merge-window", "0"]);
    let key = cli(
        &db,
        d,
        &["apikey", "create", "metrics", "--role", "manager"],
    )["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    // One receiver answers 503 once, then 200; the other is down (500) for good.
    let ok = Receiver::scripted(&[503], 200).await;
    let down = Receiver::scripted(&[], 500).await;
    for url in [&ok.url, &down.url] {
        let args = [
            "webhooks",
            "add",
            "metrics",
            "--url",
            url,
            "--events",
            "task.created",
        ];
        cli(&db, d, &args);
    }
    // A retry 100 ms after the first failure, the next one an hour later: the down receiver's
    // deliveries stay pending (two attempts each).
    let env = [
        ("HUBHOOK_RETRY_SCHEDULE", "100ms,1h"),
        ("HUBHOOK_OUTBOUND_ALLOW", "127.0.0.0/8"),
    ];
    let mut server = Server::start_with(&db, d, &env);
    let client = hubhook::http_client()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    server.wait_healthy(&client).await;

    // Six webhooks: three created, one duplicate, one with a wrong token, one for an unknown room.
    let url = server.url("/webhooks/duve");
    for i in 0..3 {
        let body = order(&format!("o-{i}"), "101", &["4"]);
        let (s, answer) = post_order(&client, &url, &hotel, &body).await.unwrap();
        assert_eq!(s, 201, "{answer}");
    }
    let (s, _) = post_order(&client, &url, &hotel, &order("o-0", "101", &["4"]))
        .await
        .unwrap();
    assert_eq!(s, 200);
    let wrong = Hotel {
        password: "hhpt_wrong".into(),
        ..hotel.clone()
    };
    let (s, answer) = post_order(&client, &url, &wrong, &order("o-9", "101", &["4"]))
        .await
        .unwrap();
    assert_eq!(answer["code"], "WEB_HUK_INVALID_CREDS", "{s} {answer}");
    let (s, answer) = post_order(&client, &url, &hotel, &order("o-8", "999", &["4"]))
        .await
        .unwrap();
    assert_eq!(answer["code"], "WEB_HUK_HUBOS_REQUEST_FAIL", "{s} {answer}");

    // Four API requests: two lists, an unknown task, a list without a key.
    let get = |path: &str, key: Option<&str>| {
        let mut req = client.get(server.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    for _ in 0..2 {
        assert_eq!(
            get("/api/v1/tasks", Some(&key)).await.unwrap().status(),
            200
        );
    }
    let missing = get("/api/v1/tasks/tsk_nope", Some(&key)).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(get("/api/v1/tasks", None).await.unwrap().status(), 401);

    // Deliveries: 3 + 1 retry to the first receiver, 3 x 2 to the one that is down.
    ok.wait_for(4).await;
    down.wait_for(6).await;
    let attempts = |f: &BTreeMap<String, Family>| -> f64 {
        ["delivered", "retry", "failed"]
            .iter()
            .filter_map(|r| value(f, "hubhook_outbox_attempts_total", &[("result", r)]))
            .sum()
    };
    let text = eventually(
        "all ten attempts counted, none in flight",
        || scrape(&client, &server),
        |t| {
            let f = parse(t);
            attempts(&f) == 10.0 && value(&f, "hubhook_outbox_in_flight", &[]) == Some(0.0)
        },
    )
    .await;
    let f = parse(&text);

    // Every metric that existed before keeps its name and type.
    for (family, kind) in [
        ("hubhook_webhooks", "counter"),
        ("hubhook_webhook_duration_seconds", "histogram"),
        ("hubhook_api_requests", "counter"),
        ("hubhook_api_request_duration_seconds", "histogram"),
        ("hubhook_db_write_batches", "counter"),
        ("hubhook_db_write_jobs", "counter"),
        ("hubhook_db_write_batch_size", "histogram"),
        ("hubhook_outbox_attempts", "counter"),
        ("hubhook_outbox_answers", "counter"),
        ("hubhook_outbox_attempt_duration_seconds", "histogram"),
        ("hubhook_outbox_in_flight", "gauge"),
        ("hubhook_outbox_pending", "gauge"),
        ("hubhook_outbox_oldest_pending_age_seconds", "gauge"),
        ("hubhook_retention_pruned", "counter"),
        ("hubhook_database_up", "gauge"),
    ] {
        let fam = f
            .get(family)
            .unwrap_or_else(|| panic!("{family} is missing:\n{text}"));
        assert_eq!(fam.kind, kind, "{family}");
        assert!(!fam.help.is_empty(), "{family} has no HELP");
    }

    // Webhooks: by code, and a histogram of all six.
    for (code, n) in [
        ("created", 3.0),
        ("duplicate", 1.0),
        ("WEB_HUK_INVALID_CREDS", 1.0),
        ("WEB_HUK_HUBOS_REQUEST_FAIL", 1.0),
        ("WEB_HUK_UNAVAILABLE", 0.0),
    ] {
        let got = value(&f, "hubhook_webhooks_total", &[("code", code)]);
        assert_eq!(got, Some(n), "webhooks {code}");
    }
    let wh = histogram(&f, "hubhook_webhook_duration_seconds", &[]);
    assert_eq!(wh.count, 6.0);
    assert!(wh.sum > 0.0, "{wh:?}");
    let bounds: Vec<f64> = wh.buckets.iter().map(|b| b.0).collect();
    let mut expected = hubhook::metrics::REQUEST_BUCKETS.to_vec();
    expected.push(f64::INFINITY);
    assert_eq!(bounds, expected);
    // The sum lies within what the buckets allow: at least the lower bound of each answer's bucket.
    let lower: f64 = wh
        .buckets
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) * w[0].0)
        .sum();
    assert!(wh.sum >= lower, "{wh:?}");

    // API: by route template and status class, never by path.
    let api = |route, status| {
        histogram(
            &f,
            "hubhook_api_request_duration_seconds",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
        .count
    };
    assert_eq!(api("/api/v1/tasks", "2xx"), 2.0);
    assert_eq!(api("/api/v1/tasks", "4xx"), 1.0);
    assert_eq!(api("/api/v1/tasks/{id}", "4xx"), 1.0);
    let api_series = f["hubhook_api_request_duration_seconds"]
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_count"))
        .count();
    assert_eq!(api_series, 3, "{text}");
    assert!(!text.contains("tsk_nope"));
    assert_eq!(
        value(&f, "hubhook_api_requests_total", &[]),
        Some(3.0),
        "authenticated: the two lists and the unknown task"
    );

    // Outbound: what each attempt led to, the receivers' answers, the latency by result.
    for (result, n) in [("delivered", 3.0), ("retry", 7.0), ("failed", 0.0)] {
        let got = value(&f, "hubhook_outbox_attempts_total", &[("result", result)]);
        assert_eq!(got, Some(n), "attempts {result}");
        let h = histogram(
            &f,
            "hubhook_outbox_attempt_duration_seconds",
            &[("result", result)],
        );
        assert_eq!(h.count, n, "attempt durations {result}");
    }
    for (answer, n) in [("2xx", 3.0), ("5xx", 7.0), ("4xx", 0.0), ("none", 0.0)] {
        let got = value(&f, "hubhook_outbox_answers_total", &[("answer", answer)]);
        assert_eq!(got, Some(n), "answers {answer}");
    }
    // The backlog, read from the database: the down receiver's three deliveries.
    assert_eq!(value(&f, "hubhook_outbox_pending", &[]), Some(3.0));
    let age = value(&f, "hubhook_outbox_oldest_pending_age_seconds", &[]).unwrap();
    assert!(age > 0.0 && age < 120.0, "oldest pending {age} s");
    assert_eq!(value(&f, "hubhook_database_up", &[]), Some(1.0));

    // The writer: its batch size histogram agrees with its two counters.
    let batches = value(&f, "hubhook_db_write_batches_total", &[]).unwrap();
    let jobs = value(&f, "hubhook_db_write_jobs_total", &[]).unwrap();
    let sizes = histogram(&f, "hubhook_db_write_batch_size", &[]);
    assert_eq!(sizes.count, batches);
    assert_eq!(sizes.sum, jobs);
    assert!(jobs >= 3.0, "at least the three new orders: {jobs}");
    for table in ["inbound", "delivery_attempts"] {
        let got = value(&f, "hubhook_retention_pruned_total", &[("table", table)]);
        assert_eq!(got, Some(0.0), "{table}");
    }

    // Prometheus's own parser and linter.
    if promtool {
        let (ok, out) = run_with_input("promtool", &["check", "metrics"], &text);
        assert!(ok && out.trim().is_empty(), "promtool check metrics: {out}");
    }
}
