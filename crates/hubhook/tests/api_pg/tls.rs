//! TLS to PostgreSQL (`sslmode`, `sslrootcert`; docs/deploy.md): the real binary through a TLS
//! front made in the test. The front answers PostgreSQL's `SSLRequest` with `S`, ends TLS with a
//! certificate signed by a CA made here (the `openssl` command line), and pipes the plaintext to
//! the test server; in its plaintext-only form it answers `N`, as a server without TLS does. So the
//! tests do not depend on how the local server is set up.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::helpers::postgres;

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A CA and a certificate for `localhost` (only) signed by it, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command line runs (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_pki(dir: &Path, name: &str) -> Pki {
    let cnf = dir.join(format!("{name}.cnf"));
    std::fs::write(
        &cnf,
        format!(
            "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n\
             [dn]\nCN = hubhook test CA {name}\n\
             [ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier = hash\n"
        ),
    )
    .expect("openssl config");
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        "subjectAltName = DNS:localhost\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .expect("extensions");
    let f = |s: &str| format!("{name}-{s}");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca_args = vec!["req", "-x509", "-new", "-days", "2", "-config"];
    let cnf = cnf.to_string_lossy().into_owned();
    let (ca_key, ca_crt) = (f("ca.key"), f("ca.crt"));
    ca_args.extend([cnf.as_str()]);
    ca_args.extend(ec);
    ca_args.extend(["-keyout", &ca_key, "-out", &ca_crt]);
    openssl(dir, &ca_args);
    let (key, csr, crt) = (f("server.key"), f("server.csr"), f("server.crt"));
    let mut csr_args = vec!["req", "-new", "-subj", "/CN=localhost", "-config", &cnf];
    csr_args.extend(ec);
    csr_args.extend(["-keyout", &key, "-out", &csr]);
    openssl(dir, &csr_args);
    let ext = ext.to_string_lossy().into_owned();
    openssl(
        dir,
        &[
            "x509", "-req", "-in", &csr, "-CA", &ca_crt, "-CAkey", &ca_key, "-CAcreateserial",
            "-days", "2", "-extfile", &ext, "-out", &crt,
        ],
    );
    Pki {
        ca: dir.join(ca_crt),
        cert: dir.join(crt),
        key: dir.join(key),
    }
}

/// What the front saw.
#[derive(Default)]
struct Seen {
    /// TLS sessions it completed.
    tls: AtomicUsize,
    /// Connections that asked for TLS and were told `N`.
    refused_tls: AtomicUsize,
    /// Connections that began in plaintext (no `SSLRequest`).
    plaintext: AtomicUsize,
}

/// A TLS front for the test server on its own thread and runtime, so the test may block on the
/// command line meanwhile. `tls: None` is a front without TLS.
fn start_front(tls: Option<&Pki>) -> (SocketAddr, Arc<Seen>) {
    let acceptor = tls.map(|pki| {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        let certs = CertificateDer::pem_file_iter(&pki.cert)
            .expect("cert")
            .collect::<Result<Vec<_>, _>>()
            .expect("cert PEM");
        let key = PrivateKeyDer::from_pem_file(&pki.key).expect("key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let admin = url::Url::parse(&postgres::admin_url()).expect("admin URL");
    let upstream = format!(
        "{}:{}",
        admin.host_str().unwrap_or("127.0.0.1"),
        admin.port().unwrap_or(5432)
    );
    let seen = Arc::new(Seen::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let counts = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("address"))
                .expect("send");
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, upstream, seen) = (acceptor.clone(), upstream.clone(), counts.clone());
                tokio::spawn(async move {
                    let _ = serve_one(client, acceptor, &upstream, &seen).await;
                });
            }
        });
    });
    (rx.recv().expect("the front's address"), seen)
}

async fn serve_one(
    mut client: TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    upstream: &str,
    seen: &Seen,
) -> std::io::Result<()> {
    let mut first = [0u8; 8];
    client.read_exact(&mut first).await?;
    let mut server = TcpStream::connect(upstream).await?;
    if first != SSL_REQUEST {
        seen.plaintext.fetch_add(1, Ordering::SeqCst);
        server.write_all(&first).await?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        return Ok(());
    }
    match acceptor {
        Some(acceptor) => {
            client.write_all(b"S").await?;
            let mut tls = acceptor.accept(client).await?;
            seen.tls.fetch_add(1, Ordering::SeqCst);
            tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
        }
        None => {
            seen.refused_tls.fetch_add(1, Ordering::SeqCst);
            client.write_all(b"N").await?;
            tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        }
    }
    Ok(())
}

/// The test database (a schema of its own) reached through `front` as `host`, with `params`.
fn url_through(front: SocketAddr, host: &str, schema_of: &Path, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&postgres::url_for(schema_of)).expect("the test URL");
    url.set_host(Some(host)).expect("host");
    url.set_port(Some(front.port())).expect("port");
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// `hubhook hotel list --json` on `url`: whether it worked, and what it said on stderr.
fn hotel_list(url: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(["hotel", "list", "--json"])
        .env("HUBHOOK_DATABASE_URL", url)
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("hubhook runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_full_and_verify_ca_check_the_servers_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(dir.path(), "good");
    let other = make_pki(dir.path(), "other");
    let (front, seen) = start_front(Some(&pki));
    let db = dir.path().join("tls.db");
    let root = pki.ca.to_string_lossy().into_owned();
    let wrong_root = other.ca.to_string_lossy().into_owned();

    // The right CA and the name in the certificate: works, over TLS.
    let url = url_through(
        front,
        "localhost",
        &db,
        &[("sslmode", "verify-full"), ("sslrootcert", &root)],
    );
    let (ok, err) = hotel_list(&url);
    assert!(ok, "{err}");
    assert!(seen.tls.load(Ordering::SeqCst) >= 1, "the front saw TLS");
    assert_eq!(seen.plaintext.load(Ordering::SeqCst), 0);

    // Another CA's root: refused, and the error says why.
    let url = url_through(
        front,
        "localhost",
        &db,
        &[("sslmode", "verify-full"), ("sslrootcert", &wrong_root)],
    );
    let (ok, err) = hotel_list(&url);
    assert!(!ok, "a certificate of an unknown issuer was accepted");
    assert!(
        err.contains("TLS") && err.contains("certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );

    // The right CA, another name (the certificate is for localhost only): verify-full refuses,
    // verify-ca (the chain only) accepts.
    let url = url_through(
        front,
        "127.0.0.1",
        &db,
        &[("sslmode", "verify-full"), ("sslrootcert", &root)],
    );
    let (ok, err) = hotel_list(&url);
    assert!(!ok, "a certificate for another name was accepted");
    assert!(
        err.contains("certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
    let url = url_through(
        front,
        "127.0.0.1",
        &db,
        &[("sslmode", "verify-ca"), ("sslrootcert", &root)],
    );
    let (ok, err) = hotel_list(&url);
    assert!(ok, "{err}");

    // No root at all for a verifying mode: a clear refusal before any connection.
    let tls_before = seen.tls.load(Ordering::SeqCst);
    let missing = dir.path().join("missing.crt");
    let url = url_through(
        front,
        "localhost",
        &db,
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", &missing.to_string_lossy()),
        ],
    );
    let (ok, err) = hotel_list(&url);
    assert!(!ok);
    assert!(err.contains("sslrootcert") && err.contains("missing.crt"), "{err}");
    assert_eq!(seen.tls.load(Ordering::SeqCst), tls_before);

    // prefer and require check nothing but still encrypt.
    for mode in ["prefer", "require"] {
        let before = seen.tls.load(Ordering::SeqCst);
        let (ok, err) = hotel_list(&url_through(front, "localhost", &db, &[("sslmode", mode)]));
        assert!(ok, "{mode}: {err}");
        assert!(seen.tls.load(Ordering::SeqCst) > before, "{mode} used TLS");
    }
}

#[test]
fn require_refuses_a_server_without_tls_and_disable_and_prefer_use_plaintext() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (front, seen) = start_front(None);
    let db = dir.path().join("plain.db");

    let (ok, err) = hotel_list(&url_through(front, "localhost", &db, &[("sslmode", "require")]));
    assert!(!ok, "require went on without TLS");
    assert!(err.contains("server does not support TLS"), "{err}");
    assert!(seen.refused_tls.load(Ordering::SeqCst) >= 1);

    let (ok, err) = hotel_list(&url_through(front, "localhost", &db, &[("sslmode", "disable")]));
    assert!(ok, "{err}");
    assert!(seen.plaintext.load(Ordering::SeqCst) >= 1, "disable asked for no TLS");

    let refused = seen.refused_tls.load(Ordering::SeqCst);
    let (ok, err) = hotel_list(&url_through(front, "localhost", &db, &[("sslmode", "prefer")]));
    assert!(ok, "{err}");
    assert!(seen.refused_tls.load(Ordering::SeqCst) > refused, "prefer asked first");
    assert_eq!(seen.tls.load(Ordering::SeqCst), 0);
}
