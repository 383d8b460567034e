//! The real `hubhook` binary (CONTRACT.md §2): hotels, rooms, catalog, API keys, `send`, and
//! changes made while `serve` runs on the same database. Here: running the binary and reading what
//! it prints, shared by the modules below.

mod hotels;
mod live;
mod rooms_catalog;
mod send;

use std::{path::Path, process::Command};

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{Hotel, database_url};

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    /// stdout must be exactly one JSON document (whitespace around it aside).
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn success(self) -> Self {
        assert!(
            self.ok,
            "the command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn failure(self) -> Self {
        assert!(
            !self.ok,
            "the command should have failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the binary off the async runtime, so that a server in the same test keeps answering.
async fn run(mut cmd: Command, args: &[&str]) -> Out {
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("the hubhook binary runs");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// The binary on `<dir>/x.db`, with no settings file or listen address from the environment.
fn cli_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.env("HUBHOOK_DATABASE_URL", database_url(&dir.join("x.db")))
        .env_remove("HUBHOOK_CONFIG")
        .env_remove("HUBHOOK_LISTEN")
        .current_dir(dir);
    cmd
}

fn temp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn create_hotel(cmd: Command, extra: &[&str]) -> Hotel {
    let mut args = vec!["hotel", "create", "--json"];
    args.extend_from_slice(extra);
    let v = run(cmd, &args).await.success().json();
    Hotel {
        id: v["hotelId"].as_str().expect("hotelId").to_owned(),
        access: v["accessToken"].as_str().expect("accessToken").to_owned(),
        password: v["passwordToken"]
            .as_str()
            .expect("passwordToken")
            .to_owned(),
    }
}

fn assert_long_random(token: &str) {
    // 128 bits in base64 is at least 22 characters, in hex 32.
    assert!(token.len() >= 32, "token too short: {token:?}");
    let distinct: std::collections::HashSet<char> = token.chars().collect();
    assert!(
        distinct.len() >= 12,
        "token does not look random: {token:?}"
    );
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c)),
        "token is not header-safe: {token:?}"
    );
}
