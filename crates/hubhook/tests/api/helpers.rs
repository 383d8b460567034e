//! `spawn_app()` and typed request helpers shared by every test module.

#![allow(dead_code)]

use std::{path::PathBuf, process::Command, sync::Arc};

use hubhook::{
    Application,
    config::{Config, ServeSettings},
    domain::{
        HotelId, Role,
        secret::{hash_token, new_token},
    },
    outbox::dispatcher::OutboxConfig,
    store::{ApiKey, NewHotel, Room, Store},
};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub db_path: PathBuf,
    pub dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

#[derive(Debug, Clone)]
pub struct Hotel {
    pub id: String,
    pub access: String,
    pub password: String,
}

/// The database a test binary runs its suite on: `tests/api/main.rs` says SQLite,
/// `tests/api_pg/main.rs` (the same modules) says PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKEND: Backend = crate::BACKEND;

/// The variable naming the PostgreSQL database the PostgreSQL suite runs in (each test in a schema
/// of its own).
pub const POSTGRES_ENV: &str = "HUBHOOK_TEST_POSTGRES_URL";

/// The address ranges the suite's receivers listen on, exempted from the outbound destination
/// rule as an operator with an on-premise receiver would (`HUBHOOK_OUTBOUND_ALLOW`). Every server a
/// test runs that delivers to a local receiver runs with it: in-process through
/// [`outbox_settings`], the real binary through [`OUTBOUND_ALLOW_ENV`].
pub const LOCAL_RECEIVERS: &str = "127.0.0.0/8";

/// The variable that carries [`LOCAL_RECEIVERS`] to a spawned `hubhook serve`.
pub const OUTBOUND_ALLOW_ENV: &str = "HUBHOOK_OUTBOUND_ALLOW";

/// The outbox configuration of `settings` (as `hubhook serve` would read them), with
/// [`LOCAL_RECEIVERS`] allowed unless `settings` names its own allowed ranges.
pub fn outbox_settings(settings: ServeSettings) -> OutboxConfig {
    let allow = settings
        .outbound_allow
        .clone()
        .unwrap_or_else(|| LOCAL_RECEIVERS.parse().expect("a list"));
    ServeSettings {
        outbound_allow: Some(allow),
        ..settings
    }
    .outbox()
    .expect("valid outbox settings")
}

/// The URL of the test database that belongs to `path`: the SQLite file itself, or on PostgreSQL a
/// schema of its own, the same for the same path (so a restart finds its data), created by hubhook
/// on first use.
pub fn database_url(path: &std::path::Path) -> String {
    match BACKEND {
        Backend::Sqlite => format!("sqlite://{}", path.display()),
        Backend::Postgres => postgres::url_for(path),
    }
}

/// Everything the test database at `path` stores, as bytes to search: SQLite's file and its WAL,
/// shared-memory and journal companions; on PostgreSQL, a `pg_dump` of the test's schema.
///
/// On SQLite, only for a database that no connection in this process has open: closing any
/// descriptor of a file drops every POSIX lock this process holds on it, so reading the files of a
/// database that an in-process server uses would silently take its locks away.
pub fn stored_bytes(path: &std::path::Path) -> Vec<u8> {
    match BACKEND {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                if let Ok(b) = std::fs::read(&p) {
                    bytes.extend(b);
                }
            }
            bytes
        }
        Backend::Postgres => postgres::dump(path),
    }
}

pub mod postgres {
    //! Per-test schemas in the database `HUBHOOK_TEST_POSTGRES_URL` names.

    use std::{
        collections::HashMap,
        path::{Path, PathBuf},
        sync::{Mutex, OnceLock},
    };

    /// `hh_<pid>_<random>_`: schemas of processes that are gone are dropped by the next run.
    fn prefix() -> &'static str {
        static PREFIX: OnceLock<String> = OnceLock::new();
        PREFIX.get_or_init(|| {
            let mut r = [0u8; 4];
            hubhook::domain::secret::fill_random(&mut r);
            let prefix = format!("hh_{}_{:08x}_", std::process::id(), u32::from_le_bytes(r));
            drop_schemas_of_dead_processes();
            prefix
        })
    }

    pub fn admin_url() -> String {
        match std::env::var(super::POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "{} is not set: the PostgreSQL suite needs a database (see README)",
                super::POSTGRES_ENV
            ),
        }
    }

    /// `url` with `options=-csearch_path=<schema>` added (percent-encoded).
    pub fn with_schema(url: &str, schema: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    }

    pub fn url_for(path: &Path) -> String {
        static SCHEMAS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
        let prefix = prefix();
        let mut map = SCHEMAS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = map.len();
        let schema = map
            .entry(path.to_owned())
            .or_insert_with(|| format!("{prefix}{n}"))
            .clone();
        with_schema(&admin_url(), &schema)
    }

    /// `pg_dump` of the schema that belongs to `path` (data and definitions, as text).
    pub fn dump(path: &Path) -> Vec<u8> {
        let url = url_for(path);
        let schema = url
            .rsplit("search_path%3D")
            .next()
            .unwrap_or_default()
            .to_owned();
        let out = std::process::Command::new("pg_dump")
            .args(["--no-owner", "--schema", &schema, "--dbname", &admin_url()])
            .output()
            .expect("pg_dump runs (postgresql-client)");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs `sql` (simple query protocol) on the admin URL, from any context (its own thread and
    /// runtime, so a test's runtime is not blocked on itself).
    pub fn admin_sql(sql: String) -> Result<Vec<Vec<Option<String>>>, String> {
        let url = admin_url();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("connect to {url}: {e}"))?;
                tokio::spawn(conn);
                let msgs = client.simple_query(&sql).await.map_err(|e| e.to_string())?;
                Ok(msgs
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                        }
                        _ => None,
                    })
                    .collect())
            })
        })
        .join()
        .map_err(|_| "admin thread panicked".to_owned())?
    }

    fn drop_schemas_of_dead_processes() {
        let rows =
            admin_sql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hh\\_%'".to_owned())
                .unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
        let databases =
            admin_sql("SELECT datname FROM pg_database WHERE datname LIKE 'hh\\_%'".to_owned())
                .unwrap_or_default();
        let gone = |name: &str| {
            let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
            pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        for name in rows.into_iter().filter_map(|mut r| r.pop().flatten()) {
            if gone(&name) {
                let _ = admin_sql(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"));
            }
        }
        for name in databases.into_iter().filter_map(|mut r| r.pop().flatten()) {
            if gone(&name) {
                let _ = admin_sql(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

/// The service on a random port with a fresh database (a SQLite file in its own temporary directory,
/// or a PostgreSQL schema of its own).
pub async fn spawn_app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_app_in(dir, |_| {}).await
}

/// The service on a database directory that may already hold data (restart tests), with the
/// configuration adjusted by `tweak` (body limit, field mapping, limits ...).
pub async fn spawn_app_in(dir: Arc<TempDir>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db_path = dir.path().join("hubhook.db");
    let mut config = Config::for_database(database_url(&db_path));
    // The suite sends many webhooks per second from 127.0.0.1 for one hotel, and many with wrong
    // credentials: the webhook limits are off unless a test turns them on (tests/api/limits.rs).
    // The login limits keep their defaults.
    config.limits = config.limits.without_webhook_limits();
    // The suite's receivers listen on loopback.
    config.outbox = outbox_settings(ServeSettings::default());
    tweak(&mut config);
    let store = hubhook::store::open(&config.database_url)
        .await
        .expect("open store");
    let app = Application::with_store(config, store.clone())
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: hubhook::http_client().build().expect("http client"),
        store,
        db_path,
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops the server gracefully (in-flight requests finish) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn database_url(&self) -> String {
        database_url(&self.db_path)
    }

    /// Creates a hotel (rooms 101 and 102, default catalog) the way `hubhook hotel create` does.
    pub async fn create_hotel(&self, id: &str) -> Hotel {
        let hotel_id = HotelId::parse(id).expect("hotel id");
        let access = new_token("hhat_");
        let password = new_token("hhpt_");
        self.store
            .create_hotel(NewHotel {
                id: hotel_id.clone(),
                name: format!("Hotel {id}"),
                timezone: "UTC".into(),
                access_hash: hash_token(&access),
                password_hash: hash_token(&password),
            })
            .await
            .expect("create hotel");
        let rooms = ["101", "102"]
            .iter()
            .map(|r| Room {
                room: (*r).into(),
                floor: Some("1".into()),
            })
            .collect();
        self.store.add_rooms(&hotel_id, rooms).await.expect("rooms");
        Hotel {
            id: id.into(),
            access,
            password,
        }
    }

    pub async fn api_key(&self, hotel: &Hotel, role: Role) -> String {
        let key = new_token("hhk_");
        self.store
            .create_api_key(
                ApiKey {
                    id: format!("key_{}", &key[4..12]),
                    hotel_id: HotelId::parse(&hotel.id).expect("hotel id"),
                    role,
                    created_by: None,
                },
                hash_token(&key),
            )
            .await
            .expect("api key");
        key
    }

    /// POSTs raw bytes to `/webhooks/duve` with the hotel's three headers (underscore form).
    pub async fn post_webhook(
        &self,
        hotel: &Hotel,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/webhooks/duve"))
            .header("content-type", "application/json")
            .header("custom_hotel_id", &hotel.id)
            .header("custom_access_token", &hotel.access)
            .header("custom_password_token", &hotel.password)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// POSTs a JSON webhook and returns the status and the parsed answer.
    pub async fn webhook(&self, hotel: &Hotel, body: &Value) -> (u16, Value) {
        let res = self.post_webhook(hotel, body.to_string()).await;
        json_of(res).await
    }

    pub async fn get_api(&self, key: &str, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        json_of(res).await
    }

    pub async fn post_api(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        json_of(res).await
    }

    /// The real `hubhook` binary, pointed at this app's database, run in its directory.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
        cmd.env("HUBHOOK_DATABASE_URL", self.database_url())
            .env(OUTBOUND_ALLOW_ENV, LOCAL_RECEIVERS)
            .env_remove("HUBHOOK_CONFIG")
            .current_dir(self.dir.path());
        cmd
    }
}

pub async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A fixture payload from `crates/duve/tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../duve/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// An `orderCreated` for room 101 with one product per external ID, each quantity 1.
pub fn order(order_id: &str, room: &str, external_ids: &[&str]) -> Value {
    let products: Vec<Value> = external_ids
        .iter()
        .map(
            |e| serde_json::json!({"name": format!("Service {e}"), "externalId": e, "quantity": 1}),
        )
        .collect();
    serde_json::json!({
        "accountId": "acc",
        "event": "orderCreated",
        "resource": {
            "id": "res-1",
            "verifiedFirstName": "Bobby",
            "verifiedLastName": "Smith",
            "roomNumber": room,
            "order": {"id": order_id, "status": 0, "chargeAmount": 0, "products": products}
        }
    })
}

/// Sends `request` (a whole raw HTTP/1.1 request, written in one go) to the app over a plain TCP
/// socket and returns the status and the parsed body. For what `reqwest` cannot send: header names
/// in mixed case on the wire, chunked bodies, bytes exactly as given. The request should say
/// `Connection: close`.
pub async fn raw_http(app: &TestApp, request: Vec<u8>) -> (u16, Value) {
    let addr = app
        .address
        .strip_prefix("http://")
        .expect("http address")
        .to_owned();
    let raw = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("timeout");
        stream.write_all(&request).expect("write request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read response");
        raw
    })
    .await
    .expect("raw request task");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, value)
}

/// Asserts a contract error answer: the status, and a body with exactly `code`, `message` and
/// `details` (a list of strings).
pub fn expect_webhook_error(got: &(u16, Value), status: u16, code: &str, message: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "details", "message"], "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["message"], message, "{body}");
    let details = body["details"].as_array().expect("details is a list");
    assert!(details.iter().all(Value::is_string), "{body}");
}

/// The hotel's whole inbound log (`GET /api/v1/inbound?limit=500`), newest first.
pub async fn inbound_log(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.get_api(key, "/api/v1/inbound?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().expect("entries").clone()
}

/// The hotel's tasks (`GET /api/v1/tasks?limit=500`), newest first.
pub async fn task_list(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.get_api(key, "/api/v1/tasks?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["tasks"].as_array().expect("tasks").clone()
}
