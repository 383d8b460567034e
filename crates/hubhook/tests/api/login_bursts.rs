//! Login bursts against the real binary (docs/security.md, "Login bursts and the login limiter"):
//! 60 wrong-password logins sent at once, for one account and then spread over 60 accounts (and 60
//! client addresses behind a trusted proxy). Each attempt is counted before its password is checked,
//! and the argon2 checks in flight (about 19 MiB each) are bounded by the cores, so at most the
//! account's limit of them are checked and the server's peak memory (`VmHWM` of its process)
//! stays far below what 60 checks at once would take.

use std::{path::Path, process::Stdio, sync::Arc};

use reqwest::StatusCode;
use tokio::sync::Barrier;

use crate::{
    helpers::database_url,
    secrets::{Run, Server},
    ui_support::{PASSWORD, UiClient, csrf_of},
};

const BURST: usize = 60;
/// The default `login_account_failures`.
const ACCOUNT_LIMIT: usize = 5;
/// What the whole server may reach at its peak, checks included: 200 MiB on the 2-core machines
/// hubhook is sized for (and up to 4 cores); a larger machine runs one check per core at once, so
/// each core past four adds the 19 MiB of one more check (and some slack).
fn peak_limit_kb() -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    200 * 1024 + cores.saturating_sub(4) * 24 * 1024
}

/// The server's peak resident memory so far, in KiB.
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// `hubhook user add` for each email, a few at a time (each hashes its password).
async fn add_users(dir: &Path, emails: &[String]) {
    for batch in emails.chunks(4) {
        let mut running = tokio::task::JoinSet::new();
        for email in batch {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubhook"));
            cmd.args(["user", "add", "h1", "--email", email, "--role", "staff"])
                .arg("--password-stdin")
                .env("HUBHOOK_DATABASE_URL", database_url(&dir.join("x.db")))
                .env_remove("HUBHOOK_CONFIG")
                .current_dir(dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            running.spawn_blocking(move || {
                use std::io::Write;
                let mut child = cmd.spawn().expect("hubhook user add");
                let mut stdin = child.stdin.take().expect("stdin");
                stdin
                    .write_all(format!("{PASSWORD}\n").as_bytes())
                    .expect("password");
                drop(stdin);
                let out = child.wait_with_output().expect("wait");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            });
        }
        while let Some(done) = running.join_next().await {
            done.expect("user add");
        }
    }
}

/// A server on a fresh database with hotel `h1` and these accounts.
async fn server_with(
    dir: &Path,
    emails: &[String],
    env: &[(&str, &str)],
    client: &reqwest::Client,
) -> Server {
    Run::default()
        .cli(
            dir,
            &["hotel", "create", "--name", "H1", "--id", "h1"],
            None,
        )
        .await;
    add_users(dir, emails).await;
    let mut server = Server::start(dir, &[], env);
    server.wait_healthy(client).await;
    server
}

/// Sends one wrong-password login per `(email, forwarded_for)` at the same moment (each with its
/// own login form and cookie, fetched first); the statuses.
async fn burst(server: &Server, who: Vec<(String, Option<String>)>) -> Vec<StatusCode> {
    let start = Arc::new(Barrier::new(who.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (email, forwarded_for) in who {
        let mut c = UiClient::at(&server.base);
        if let Some(ip) = forwarded_for {
            c.extra_headers.push(("x-forwarded-for".into(), ip));
        }
        let form = c.get("/login").await;
        assert_eq!(form.status, 200);
        let csrf = csrf_of(&form.body);
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            let res = c
                .post(
                    "/login",
                    &[
                        ("email", email.as_str()),
                        ("password", "not the password"),
                        ("csrf", &csrf),
                    ],
                )
                .await;
            if res.status == StatusCode::UNAUTHORIZED {
                assert!(
                    res.body.contains("Wrong email or password."),
                    "{}",
                    res.body
                );
            } else {
                assert!(
                    res.headers.contains_key("retry-after"),
                    "{}: {}",
                    res.status,
                    res.body
                );
            }
            res.status
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.expect("login task"));
    }
    statuses
}

fn count(statuses: &[StatusCode], s: StatusCode) -> usize {
    statuses.iter().filter(|x| **x == s).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_logins_at_once_for_one_account_check_at_most_its_limit() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let client = hubhook::http_client().build().expect("client");
    let email = "ana@h1.test".to_owned();
    let server = server_with(tmp.path(), std::slice::from_ref(&email), &[], &client).await;
    let before = peak_kb(server.pid());

    let statuses = burst(&server, vec![(email.clone(), None); BURST]).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    let refused = count(&statuses, StatusCode::TOO_MANY_REQUESTS)
        + count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    let peak = peak_kb(server.pid());
    eprintln!(
        "one account: {checked} checked, {refused} refused (429/503); peak RSS {} MiB (before the burst {} MiB)",
        peak / 1024,
        before / 1024
    );
    assert_eq!(checked + refused, BURST, "{statuses:?}");
    assert!(
        checked <= ACCOUNT_LIMIT + 1,
        "{checked} wrong passwords were checked past a limit of {ACCOUNT_LIMIT}"
    );
    assert!(
        peak < peak_limit_kb(),
        "peak RSS {} MiB during the burst",
        peak / 1024
    );
    // The account is now blocked, even for its right password.
    let mut c = UiClient::at(&server.base);
    assert_eq!(c.login(&email, PASSWORD).await.status, 429);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_logins_at_once_over_sixty_accounts_and_addresses_stay_bounded_in_memory() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let client = hubhook::http_client().build().expect("client");
    let emails: Vec<String> = (0..BURST).map(|i| format!("u{i}@h1.test")).collect();
    // Every attempt from its own address (as a botnet would): no per-address limit applies.
    let server = server_with(
        tmp.path(),
        &emails,
        &[("HUBHOOK_TRUSTED_PROXIES", "127.0.0.1")],
        &client,
    )
    .await;
    let before = peak_kb(server.pid());

    let who = emails
        .iter()
        .enumerate()
        .map(|(i, e)| (e.clone(), Some(format!("198.51.100.{}", i + 1))))
        .collect();
    let statuses = burst(&server, who).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    let busy = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    let peak = peak_kb(server.pid());
    eprintln!(
        "60 accounts: {checked} checked, {busy} answered 503; peak RSS {} MiB (before the burst {} MiB)",
        peak / 1024,
        before / 1024
    );
    assert_eq!(checked + busy, BURST, "{statuses:?}");
    assert!(checked >= 1, "{statuses:?}");
    assert!(
        peak < peak_limit_kb(),
        "peak RSS {} MiB during the burst",
        peak / 1024
    );
    // Once the burst is over, an account signs in at once: nothing stayed queued or counted
    // against the accounts the busy server did not check.
    let mut c = UiClient::at(&server.base);
    c.extra_headers
        .push(("x-forwarded-for".into(), "198.51.100.200".into()));
    assert_eq!(c.login(&emails[BURST - 1], PASSWORD).await.status, 303);
    server.stop().await;
}
