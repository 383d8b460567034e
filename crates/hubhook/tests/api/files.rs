//! The SQLite database's files are readable by the service's own user only (CONTRACT.md section 8):
//! the real binary, run under `umask 022` (which leaves new files world-readable), creates the
//! database, its `-wal` and its `-shm` with mode 0600, and tightens older files at open.
//!
//! SQLite only: listed in `tests/api/main.rs`, not in the PostgreSQL suite.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `hubhook ARGS` on `db` under `umask 022`, in `dir`.
fn hubhook(dir: &Path, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "umask 022 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_hubhook"),
    ])
    .args(args)
    .env("HUBHOOK_DATABASE_URL", format!("sqlite://{}", db.display()))
    .env_remove("HUBHOOK_CONFIG")
    .env_remove("HUBHOOK_LISTEN")
    .current_dir(dir);
    cmd
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// `hubhook serve` on `db` (under umask 022), its log in `dir/serve.log`; killed when dropped.
struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Serve {
    async fn start(dir: &Path, db: &Path) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("serve.log");
        let child = hubhook(
            dir,
            db,
            &["serve", "--listen", &format!("127.0.0.1:{port}")],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start hubhook serve");
        let serve = Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = hubhook::http_client().build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(res) = client.get(format!("{}/healthz", serve.base)).send().await
                && res.status().is_success()
            {
                return serve;
            }
            assert!(
                Instant::now() < deadline,
                "hubhook serve never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_new_database_and_its_wal_and_shared_memory_are_the_owners_only() {
    let dir = tempfile::tempdir().expect("temp dir");

    // A command line that creates the database.
    let db = dir.path().join("cli.db");
    let out = hubhook(
        dir.path(),
        &db,
        &["hotel", "create", "--name", "A", "--json"],
    )
    .output()
    .expect("hubhook runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&db), 0o600, "the database file");
    for suffix in ["-wal", "-shm", "-journal"] {
        let p = companion(&db, suffix);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }

    // `serve` on a new database, in a directory it makes, while it runs and writes.
    let db = dir.path().join("data").join("serve.db");
    let serve = Serve::start(dir.path(), &db).await;
    let out = hubhook(
        dir.path(),
        &db,
        &["hotel", "create", "--name", "B", "--json"],
    )
    .output()
    .expect("hubhook runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&db), 0o600, "the database file");
    for suffix in ["-wal", "-shm"] {
        assert_eq!(mode(&companion(&db, suffix)), 0o600, "{suffix}");
    }
    assert_eq!(
        mode(&dir.path().join("data")),
        0o700,
        "the directory made for it"
    );
    drop(serve);
}

#[tokio::test]
async fn an_older_database_readable_by_others_is_tightened_at_open_and_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    let out = hubhook(
        dir.path(),
        &db,
        &["hotel", "create", "--name", "A", "--json"],
    )
    .output()
    .expect("hubhook runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // As an earlier version left them.
    let wal = companion(&db, "-wal");
    if !wal.exists() {
        std::fs::write(&wal, b"").expect("wal");
    }
    for p in [&db, &wal] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let serve = Serve::start(dir.path(), &db).await;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&companion(&db, "-shm")), 0o600);
    let log = serve.log();
    assert!(
        log.contains("its mode is 600 now") && log.contains("old.db"),
        "the tightening is logged: {log}"
    );
    drop(serve);
}
