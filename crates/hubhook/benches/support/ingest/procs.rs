//! The ingest bench's child processes, killed on drop (also when the bench panics), and what it
//! reads of them: /proc (memory, CPU, I/O), `/metrics`, the machine's CPU.

use std::{
    io::Write as _,
    net::SocketAddr,
    time::{Duration, Instant},
};

use crate::BoxError;

/// A child process serving on `addr`, killed on drop.
pub struct Server {
    pub name: &'static str,
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl Server {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> Result<SocketAddr, BoxError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Waits (up to 30 s) until `server` accepts connections; an error if it exits first.
pub fn wait_listening(server: &mut Server) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(server.addr).is_ok() {
            return Ok(());
        }
        if let Some(status) = server.child.try_wait()? {
            return Err(format!("{} exited early: {status}", server.name).into());
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not listen on {}", server.name, server.addr).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `GET /metrics` over a fresh connection; the value of each `name value` line asked for.
fn metrics(addr: SocketAddr, names: &[&str]) -> Option<Vec<f64>> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    names
        .iter()
        .map(|n| {
            text.lines()
                .find_map(|l| l.strip_prefix(n)?.strip_prefix(' ')?.trim().parse().ok())
        })
        .collect()
}

/// hubhook's writer: group commits so far and the jobs they carried.
pub fn writer_stats(addr: SocketAddr) -> Option<(f64, f64)> {
    let v = metrics(
        addr,
        &[
            "hubhook_db_write_batches_total",
            "hubhook_db_write_jobs_total",
        ],
    )?;
    Some((v[0], v[1]))
}

/// `wchar` (bytes handed to write calls) and `syscw` (write calls) from `/proc/<pid>/io`.
pub fn proc_io(pid: u32) -> Option<(u64, u64)> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| -> Option<u64> {
        io.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    Some((field("wchar:")?, field("syscw:")?))
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux).
pub fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// utime + stime of every process named `postgres` (the server and its backends), in clock ticks.
pub fn postgres_cpu_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .filter_map(proc_cpu_ticks)
        .sum()
}

/// The CPU's model name, from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
