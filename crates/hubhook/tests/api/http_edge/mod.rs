//! The HTTP edge under hostile clients (slowloris, stalled bodies, header floods, thousands of
//! malformed requests against the real binary) and at shutdown (SIGTERM to the real binary with
//! requests in flight and clients that never finish). Here: raw answers read off a socket, and the
//! real binary (`Served`, its CLI), shared by the modules below and by `page_sizes.rs`.

mod malformed;
mod shutdown;
mod slow_clients;

use std::{
    io::Read,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::helpers::{Hotel, LOCAL_RECEIVERS, OUTBOUND_ALLOW_ENV, database_url};

/// A raw answer: the status line's code (None when the server closed without answering), the
/// head's lines, and the body (as far as it came before the connection closed or went quiet).
#[derive(Debug)]
struct RawAnswer {
    status: Option<u16>,
    head: String,
    body: String,
}

/// Reads whatever the server sends until it closes the connection or `quiet` passes without a
/// byte; a connection reset counts as a close.
fn read_answer(stream: &mut TcpStream, quiet: Duration) -> RawAnswer {
    stream.set_read_timeout(Some(quiet)).expect("read timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok());
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn webhook_head(hotel: &Hotel, content_length: usize) -> String {
    format!(
        "POST /webhooks/duve HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         custom_hotel_id: {}\r\ncustom_access_token: {}\r\ncustom_password_token: {}\r\n\
         Content-Length: {content_length}\r\n\r\n",
        hotel.id, hotel.access, hotel.password
    )
}

async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(res) => res.status().as_u16() == 200,
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary.

/// A `hubhook serve` child process with its log in a file, killed (and reaped) when dropped.
pub(crate) struct Served {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Served {
    pub(crate) fn start(db: &Path, dir: &Path, env: &[(&str, &str)]) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join(format!("serve-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env(OUTBOUND_ALLOW_ENV, LOCAL_RECEIVERS)
            .env("HUBHOOK_DATABASE_URL", database_url(db))
            // The abuse limits have their own tests (limits.rs); these drive the parsers and the
            // shutdown with more requests per second than the defaults let one address send.
            .env("HUBHOOK_WEBHOOK_IP_RATE", "0")
            .env("HUBHOOK_WEBHOOK_HOTEL_RATE", "0")
            .env("HUBHOOK_WEBHOOK_AUTH_FAILURES", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("HUBHOOK_CONFIG")
            .env_remove("HUBHOOK_LISTEN")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(std::fs::File::create(dir.join(format!("serve-{port}.err"))).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Served {
            child: cmd.spawn().expect("start hubhook serve"),
            addr: format!("127.0.0.1:{port}"),
            log,
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process logged (stdout and stderr).
    pub(crate) fn logs(&self) -> String {
        let err = self.log.with_extension("err");
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(err).unwrap_or_default());
        text
    }

    pub(crate) async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("hubhook serve exited early: {status}\n{}", self.logs());
            }
            if healthy(client, &self.base()).await {
                return;
            }
            assert!(Instant::now() < deadline, "never healthy:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM")
            .success();
        assert!(ok, "kill -TERM failed");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn cli(db: &Path, dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(args)
        .arg("--json")
        .env("HUBHOOK_DATABASE_URL", database_url(db))
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run hubhook");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// A hotel with rooms 101 and 102 and a manager API key, made with the CLI.
pub(crate) fn cli_hotel(db: &Path, dir: &Path) -> (Hotel, String) {
    let created = cli(
        db,
        dir,
        &["hotel", "create", "--name", "Edge", "--id", "edge"],
    );
    cli(db, dir, &["rooms", "add", "edge", "101", "102"]);
    // Each order of these tests is meant to make its tasks: no merging of repeated requests.
    cli(db, dir, &["hotel", "set", "edge", "--merge-window", "0"]);
    let key = cli(db, dir, &["apikey", "create", "edge", "--role", "manager"])["apiKey"]
        .as_str()
        .expect("api key")
        .to_owned();
    let hotel = Hotel {
        id: "edge".into(),
        access: created["accessToken"].as_str().unwrap().to_owned(),
        password: created["passwordToken"].as_str().unwrap().to_owned(),
    };
    (hotel, key)
}
