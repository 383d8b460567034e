//! What the bench binaries share (included with `#[path]`): starting the real `hubhook` binary, its
//! CLI's JSON output, the webhook limits they switch off, the machine's load.

#![allow(dead_code)]

use std::{path::Path, process::Command};

/// The `hubhook` binary on `db_url`, run in `dir` (`BENCH_HUBHOOK_BIN` drives another build).
pub fn hubhook_cmd(db_url: &str, dir: &Path) -> Command {
    let bin = std::env::var_os("BENCH_HUBHOOK_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_hubhook").into());
    let mut cmd = Command::new(bin);
    cmd.env("HUBHOOK_DATABASE_URL", db_url)
        .env_remove("HUBHOOK_CONFIG")
        .env_remove("HUBHOOK_LISTEN")
        .current_dir(dir);
    cmd
}

/// One hotel at hundreds or thousands of webhooks a second from 127.0.0.1 is over the default abuse
/// limits: they are off for `serve`, unless the environment sets them (to measure what they cost).
pub fn limits_off() -> Vec<(&'static str, &'static str)> {
    [
        "HUBHOOK_WEBHOOK_IP_RATE",
        "HUBHOOK_WEBHOOK_HOTEL_RATE",
        "HUBHOOK_WEBHOOK_AUTH_FAILURES",
    ]
    .into_iter()
    .filter(|k| std::env::var_os(k).is_none())
    .map(|k| (k, "0"))
    .collect()
}

/// Runs `hubhook --json ARGS` and parses what it prints.
pub fn cli_json(db_url: &str, dir: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
    let out = hubhook_cmd(db_url, dir)
        .arg("--json")
        .args(args)
        .output()
        .map_err(|e| format!("hubhook {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "hubhook {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("hubhook {}: {e}", args.join(" ")))
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
