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

/// A schema of its own in the PostgreSQL database the bench is pointed at, dropped at the end.
pub mod pg {
    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    pub struct Schema {
        admin: String,
        name: String,
        /// The admin URL with `search_path` set to the schema (hubhook creates it on first use).
        pub url: String,
    }

    fn sql<T>(
        url: &str,
        f: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, BoxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            Ok(f(&client).await?)
        })
    }

    impl Schema {
        /// `kind` names the bench in the schema's name (`hubhook_<kind>_<pid>_<time>`).
        pub fn fresh(admin: &str, kind: &str) -> Result<Self, BoxError> {
            let name = format!(
                "hubhook_{kind}_{}_{}",
                std::process::id(),
                jiff::Timestamp::now().as_second()
            );
            let sep = if admin.contains('?') { '&' } else { '?' };
            let url = format!("{admin}{sep}options=-csearch_path%3D{name}");
            // hubhook's own settings (pool_size, ...) are for hubhook, not for this connection.
            let admin = hubhook::store::postgres::pool_settings(admin)
                .map_err(|e| e.to_string())?
                .url;
            // Check the server answers before starting anything.
            sql(&admin, async |c| {
                c.simple_query("SELECT 1").await.map(|_| ())
            })?;
            Ok(Self { admin, url, name })
        }

        pub fn count_tasks(&self) -> Result<u64, BoxError> {
            let q = format!("SELECT count(*) FROM \"{}\".tasks", self.name);
            let n: i64 = sql(&self.admin, async |c| c.query_one(&q, &[]).await)?.get(0);
            Ok(n as u64)
        }
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let q = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
            let _ = sql(&self.admin, async |c| c.batch_execute(&q).await);
        }
    }
}

/// The load generators' raw HTTP/1.1 client: one request at a time on a keep-alive connection.
pub mod http1 {
    use tokio::net::TcpStream;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    // tokio's `io-util` feature is not enabled in this crate, so reads and writes go through readiness.

    /// Reads what is there, waiting for readiness.
    pub async fn read_some(stream: &TcpStream, chunk: &mut [u8]) -> std::io::Result<usize> {
        loop {
            stream.readable().await?;
            match stream.try_read(chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Writes every byte (tokio's `io-util` is off in this crate).
    pub async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            match stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => stream.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads one response (a `content-length` body); returns its status code.
    pub async fn read_response(stream: &TcpStream, buf: &mut Vec<u8>) -> Result<u16, BoxError> {
        buf.clear();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = read_some(stream, &mut chunk).await?;
            if n == 0 {
                return Err("connection closed by the server".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&buf[..head_end])?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no status code")?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or("no content-length in the answer")?;
        while buf.len() < head_end + len {
            let n = read_some(stream, &mut chunk).await?;
            if n == 0 {
                return Err("connection closed mid-body".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(status)
    }
}
