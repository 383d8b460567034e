//! The soak run's samples: the server's /proc readings (RSS, open descriptors, CPU time) and the
//! load's and the receiver's counts, one table row each.

use std::{path::Path, sync::atomic::Ordering, time::Instant};

use crate::{load::Load, receiver::Recv};

/// The process's resident set size (`VmRSS`), in KiB; 0 when it cannot be read.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Open file descriptors, and how many of them are sockets (connections come and go with the
/// client's concurrency; files, pipes and the rest should not move at all).
pub fn open_fds(pid: u32) -> (u64, u64) {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let (mut all, mut sockets) = (0, 0);
    for e in dir.filter_map(Result::ok) {
        all += 1;
        if std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")) {
            sockets += 1;
        }
    }
    (all, sockets)
}

/// utime + stime in clock ticks (USER_HZ, 100 on Linux).
pub fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// One row of the table: the server's readings and the run's counts at time `t`.
#[derive(Clone)]
pub struct Sample {
    pub t: f64,
    pub rss_kb: u64,
    pub fds: u64,
    pub sockets: u64,
    pub sent: u64,
    pub ok: u64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    delivered: u64,
    refused: u64,
    owed: u64,
    cpu_pct: f64,
    wal_mb: f64,
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The table's header row.
pub const HEADER: &str = "| t s | RSS MB | FDs (sockets) | WAL MB | sent | 2xx | errors | p50 ms | p99 ms | delivered | refused attempts | owed | server CPU |";
/// The Markdown rule under the header.
pub const RULE: &str = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

impl Sample {
    /// Reads the server and the counters now; `ticks` is the CPU reading the last sample took.
    pub fn take(
        pid: u32,
        t: f64,
        load: &Load,
        recv: &Recv,
        ticks: &mut (u64, Instant),
        wal: Option<&Path>,
    ) -> Self {
        let mut lat = std::mem::take(&mut *load.window.lock().unwrap());
        lat.sort_unstable();
        let now_ticks = cpu_ticks(pid);
        let cpu_pct =
            (now_ticks.saturating_sub(ticks.0)) as f64 / ticks.1.elapsed().as_secs_f64().max(1e-3);
        *ticks = (now_ticks, Instant::now());
        let delivered = recv.delivered();
        let (fds, sockets) = open_fds(pid);
        Self {
            t,
            rss_kb: rss_kb(pid),
            fds,
            sockets,
            sent: load.sent.load(Ordering::Relaxed),
            ok: load.ok.load(Ordering::Relaxed),
            errors: load.errors.load(Ordering::Relaxed),
            p50_ms: pct(&lat, 0.5),
            p99_ms: pct(&lat, 0.99),
            delivered,
            refused: recv.refused.load(Ordering::Relaxed),
            owed: load.owed().saturating_sub(delivered),
            cpu_pct,
            wal_mb: wal
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0)),
        }
    }

    /// The sample as a Markdown table row.
    pub fn row(&self) -> String {
        format!(
            "| {:.0} | {:.1} | {} ({}) | {:.0} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {:.0}% |",
            self.t,
            self.rss_kb as f64 / 1024.0,
            self.fds,
            self.sockets,
            self.wal_mb,
            self.sent,
            self.ok,
            self.errors,
            self.p50_ms,
            self.p99_ms,
            self.delivered,
            self.refused,
            self.owed,
            self.cpu_pct,
        )
    }
}
