//! No secret reaches a log: a full run of the real binary (`serve` at log level `trace`, text and
//! JSON) and its command line, collecting every secret the run created or used: hotel tokens (and
//! their rotation), wrong tokens, an API key and a wrong one, a password and a wrong one, the session
//! cookie and the CSRF tokens, signing secrets (and their rotation from the API and the CLI), a Duve
//! Connect Bearer token, a custom header's value. None may appear in the server's standard output or
//! error, nor in the command line's standard error (its standard output shows new secrets once, by
//! design).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hubhook::domain::secret::new_token;
use serde_json::{Value, json};

use crate::{
    helpers::{Hotel, LOCAL_RECEIVERS, OUTBOUND_ALLOW_ENV, database_url, order},
    receiver::{Receiver, eventually},
    ui_support::{UiClient, csrf_of},
};

/// The secrets of the run, by what they are, and everything the command line wrote to stderr.
#[derive(Default)]
pub struct Run {
    secrets: Vec<(&'static str, String)>,
    cli_stderr: String,
}

impl Run {
    fn keep(&mut self, what: &'static str, secret: &str) {
        assert!(secret.len() >= 16, "{what} is not a secret: {secret:?}");
        self.secrets.push((what, secret.to_owned()));
    }

    /// `hubhook <args> --json` at log level trace; its stdout as JSON.
    pub async fn cli(&mut self, dir: &Path, args: &[&str], stdin: Option<&str>) -> Value {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
        cmd.args(args)
            .arg("--json")
            .env("HUBHOOK_DATABASE_URL", database_url(&dir.join("x.db")))
            .env("HUBHOOK_LOG", "trace")
            .env_remove("HUBHOOK_CONFIG")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = stdin.map(|s| format!("{s}\n"));
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().expect("the hubhook binary runs");
            if let Some(input) = input {
                use std::io::Write;
                let mut pipe = child.stdin.take().expect("stdin");
                pipe.write_all(input.as_bytes()).expect("write stdin");
            }
            drop(child.stdin.take());
            child.wait_with_output().expect("output")
        })
        .await
        .expect("join");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        self.cli_stderr.push_str(&stderr);
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    }
}

/// `hubhook serve` at log level trace, its stdout and stderr in files; stopped with SIGTERM.
pub struct Server {
    child: Child,
    pub base: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    /// On `<dir>/x.db`, with `args` after `serve --listen …` and `env` added.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let stdout = dir.join("serve.out");
        let stderr = dir.join("serve.err");
        let child = Command::new(env!("CARGO_BIN_EXE_hubhook"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env(OUTBOUND_ALLOW_ENV, LOCAL_RECEIVERS)
            .args(args)
            .env("HUBHOOK_DATABASE_URL", database_url(&dir.join("x.db")))
            .env("HUBHOOK_LOG", "trace")
            .env("HUBHOOK_RETRY_SCHEDULE", "100ms,100ms")
            .env_remove("HUBHOOK_CONFIG")
            .env_remove("HUBHOOK_LISTEN")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start hubhook serve");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// What the server has written to stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).expect("stderr")
    }

    /// The server's process id (its `/proc/PID/status` tells its memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end by itself (a setting it refused); its status and stderr.
    pub fn exits(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (
                    status,
                    std::fs::read_to_string(&self.stderr).expect("stderr"),
                );
            }
            assert!(Instant::now() < deadline, "hubhook serve kept running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("hubhook serve exited early: {status}");
            }
            if let Ok(res) = client.get(self.url("/healthz")).send().await
                && res.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "hubhook serve never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits (a graceful stop logs its last lines); the logs, stdout then stderr.
    pub async fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let mut child =
            std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"));
        tokio::task::spawn_blocking(move || child.wait().expect("wait"))
            .await
            .expect("join");
        let out = std::fs::read_to_string(&self.stdout).expect("stdout");
        let err = std::fs::read_to_string(&self.stderr).expect("stderr");
        out + &err
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn post_webhook(
    client: &reqwest::Client,
    server: &Server,
    hotel: &Hotel,
    body: &Value,
) -> (u16, Value) {
    let res = client
        .post(server.url("/webhooks/duve"))
        .header("content-type", "application/json")
        .header("custom_hotel_id", &hotel.id)
        .header("custom_access_token", &hotel.access)
        .header("custom_password_token", &hotel.password)
        .body(body.to_string())
        .send()
        .await
        .expect("webhook");
    crate::helpers::json_of(res).await
}

async fn api(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let req = match body {
        Some(b) => client.post(server.url(path)).json(b),
        None => client.get(server.url(path)),
    };
    let res = req.bearer_auth(key).send().await.expect("api");
    crate::helpers::json_of(res).await
}

pub fn hotel_of(v: &Value, id: &str) -> Hotel {
    Hotel {
        id: id.to_owned(),
        access: v["accessToken"].as_str().expect("accessToken").to_owned(),
        password: v["passwordToken"]
            .as_str()
            .expect("passwordToken")
            .to_owned(),
    }
}

async fn full_run(format: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let mut run = Run::default();
    let client = hubhook::http_client().build().expect("client");

    let created = run
        .cli(
            dir,
            &["hotel", "create", "--name", "Quiet", "--id", "quiet"],
            None,
        )
        .await;
    let mut hotel = hotel_of(&created, "quiet");
    run.keep("access token", &hotel.access);
    run.keep("password token", &hotel.password);
    run.cli(dir, &["rooms", "add", "quiet", "101"], None).await;
    // Each order of this run is meant to make its task: no merging of repeated requests.
    run.cli(dir, &["hotel", "set", "quiet", "--merge-window", "0"], None)
        .await;
    let key = run
        .cli(
            dir,
            &["apikey", "create", "quiet", "--role", "manager"],
            None,
        )
        .await["apiKey"]
        .as_str()
        .expect("apiKey")
        .to_owned();
    run.keep("API key", &key);
    let password = new_token("pw-");
    run.keep("password", &password);
    run.cli(
        dir,
        &[
            "user",
            "add",
            "quiet",
            "--email",
            "ana@quiet.test",
            "--role",
            "manager",
            "--password-stdin",
        ],
        Some(&password),
    )
    .await;

    let mut server = Server::start(dir, &["--log-format", format], &[]);
    server.wait_healthy(&client).await;
    let receiver = Receiver::start().await;

    // Sign in: a wrong password first, then the right one.
    let mut ui = UiClient::at(&server.base);
    let wrong_password = new_token("wrong-");
    run.keep("wrong password", &wrong_password);
    assert_eq!(
        ui.login("ana@quiet.test", &wrong_password).await.status,
        401
    );
    let login_csrf = ui
        .cookies
        .get("hubhook_login")
        .expect("login cookie")
        .clone();
    run.keep("login CSRF token", &login_csrf);
    assert_eq!(ui.login("ana@quiet.test", &password).await.status, 303);
    let session = ui.cookies.get("hubhook_session").expect("session").clone();
    run.keep("session token", &session);
    let board = ui.get("/board").await;
    assert_eq!(board.status, 200);
    run.keep("session CSRF token", &csrf_of(&board.body));

    // Subscriptions: a signed webhook with a secret header, rotated from the API and the CLI, and a
    // Duve Connect one with a Bearer token.
    let header_secret = new_token("hdr-");
    run.keep("custom header value", &header_secret);
    let (status, sub) = api(
        &client,
        &server,
        &key,
        "/api/v1/webhooks",
        Some(&json!({
            "url": receiver.url,
            "events": ["task.created"],
            "headers": [format!("X-Receiver-Key: {header_secret}")],
        })),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    run.keep("signing secret", sub["secret"].as_str().expect("secret"));
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    let (status, rotated) = api(
        &client,
        &server,
        &key,
        &format!("/api/v1/webhooks/{sub_id}/rotate-secret"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    run.keep(
        "rotated signing secret",
        rotated["secret"].as_str().expect("secret"),
    );
    let from_cli = run
        .cli(dir, &["webhooks", "rotate-secret", &sub_id], None)
        .await;
    run.keep(
        "signing secret rotated by the CLI",
        from_cli["secret"].as_str().expect("secret"),
    );
    let bearer = new_token("duve-");
    run.keep("Duve Connect bearer", &bearer);
    let (status, connect) = api(
        &client,
        &server,
        &key,
        "/api/v1/webhooks",
        Some(&json!({
            "url": receiver.url,
            "kind": "duve-connect",
            "events": ["task.created"],
            "bearer": bearer,
        })),
    )
    .await;
    assert_eq!(status, 201, "{connect}");

    // Webhooks: good, wrong, after a rotation with the old and the new tokens.
    let (status, body) = post_webhook(&client, &server, &hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{body}");
    let wrong = Hotel {
        access: new_token("hhat_"),
        ..hotel.clone()
    };
    run.keep("wrong access token", &wrong.access);
    let (status, _) = post_webhook(&client, &server, &wrong, &order("o-2", "101", &["4"])).await;
    assert_eq!(status, 400);
    let old = hotel.clone();
    let rotated = run
        .cli(dir, &["hotel", "rotate-tokens", "quiet"], None)
        .await;
    hotel = hotel_of(&rotated, "quiet");
    run.keep("rotated access token", &hotel.access);
    run.keep("rotated password token", &hotel.password);
    let (status, _) = post_webhook(&client, &server, &old, &order("o-3", "101", &["4"])).await;
    assert_eq!(status, 400, "the old tokens no longer work");
    let (status, body) = post_webhook(&client, &server, &hotel, &order("o-4", "101", &["4"])).await;
    assert_eq!(status, 201, "{body}");
    let wrong_key = new_token("hhk_");
    run.keep("wrong API key", &wrong_key);
    assert_eq!(
        api(&client, &server, &wrong_key, "/api/v1/tasks", None)
            .await
            .0,
        401
    );

    // Both tasks reach both subscriptions, with the secrets in use.
    let got = receiver.wait_for(4).await;
    assert!(
        got.iter()
            .any(|r| r.header("authorization") == format!("Bearer {bearer}"))
    );
    assert!(
        got.iter()
            .any(|r| r.header("x-receiver-key") == header_secret)
    );
    eventually(
        "every delivery recorded as delivered",
        || {
            api(
                &client,
                &server,
                &key,
                "/api/v1/deliveries?status=delivered",
                None,
            )
        },
        |(_, v)| v["deliveries"].as_array().is_some_and(|d| d.len() == 4),
    )
    .await;

    let logs = server.stop().await;
    // The run was logged, at the levels asked for: a missing secret means something.
    for expected in [
        "hubhook is listening",
        "failed login",
        "signed in",
        "delivery attempt",
    ] {
        assert!(
            logs.contains(expected),
            "no {expected:?} in the logs:\n{logs}"
        );
    }
    assert!(
        logs.contains("quiet"),
        "the hotel's id is logged, its secrets are not"
    );
    if format == "json" {
        let first = logs.lines().next().expect("a line");
        serde_json::from_str::<Value>(first).expect("JSON lines");
    }
    for (what, secret) in &run.secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the {what} is in the server's logs:\n{logs}"
        );
        assert!(
            !run.cli_stderr.contains(secret.as_str()),
            "the {what} is in the command line's stderr:\n{}",
            run.cli_stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_text_logs_of_a_full_run_at_trace_level() {
    full_run("text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_json_logs_of_a_full_run_at_trace_level() {
    full_run("json").await;
}
