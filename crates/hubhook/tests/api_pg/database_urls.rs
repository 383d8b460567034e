//! A database password never reaches the output: the real binary, `serve` (text and JSON logs, at
//! level trace) and a command (with `--json`), given URLs carrying a password that cannot connect
//! (nothing listens, the server refuses the account, a scheme hubhook does not know), prints the
//! URL with the password masked and the password nowhere.

use std::process::{Command, Stdio};

use crate::helpers::postgres;

const PASSWORD: &str = "S3cretPw";

/// `hubhook ARGS` with `url` as its database; its exit status and everything it printed.
fn run(url: &str, args: &[&str], env: Option<(&str, &str)>) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(args)
        .env("HUBHOOK_DATABASE_URL", url)
        .env("HUBHOOK_LOG", "trace")
        .env_remove("HUBHOOK_CONFIG")
        .env_remove("HUBHOOK_LISTEN")
        .envs(env)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("hubhook runs");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned()
        + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), printed)
}

/// The local server's address, with an account it does not have and [`PASSWORD`].
fn refused_by_the_server() -> String {
    let mut url = url::Url::parse(&postgres::admin_url()).expect("the admin URL");
    url.set_username("hubhook_no_such_role").expect("user");
    url.set_password(Some(PASSWORD)).expect("password");
    url.to_string()
}

#[test]
fn a_database_password_is_masked_in_every_error_and_log_line() {
    let cases = [
        // Nothing listens there.
        (
            format!("postgresql://user@127.0.0.1:1/x?sslmode=disable&password={PASSWORD}"),
            "password=***",
        ),
        (
            format!("postgres://user:{PASSWORD}@127.0.0.1:1/x"),
            "postgres://user:***@127.0.0.1:1/x",
        ),
        // A password with an unescaped `/` (not a valid URL: refused before connecting).
        (
            format!("postgres://user:{PASSWORD}/x@127.0.0.1:1/x"),
            "postgres://user:***@127.0.0.1:1/x",
        ),
        // A scheme hubhook does not know.
        (
            format!("mysql://root:{PASSWORD}@127.0.0.1:1/x"),
            "mysql://root:***@127.0.0.1:1/x",
        ),
        // The server refuses the account.
        (refused_by_the_server(), "hubhook_no_such_role:***@"),
    ];
    for (url, masked) in &cases {
        let serve = ["serve", "--listen", "127.0.0.1:0"];
        let runs = [
            (&["hotel", "list", "--json"][..], None),
            (&["hotel", "create", "--name", "A"][..], None),
            (&serve[..], None),
            (&serve[..], Some(("HUBHOOK_LOG_FORMAT", "json"))),
        ];
        for (args, env) in runs {
            let (ok, printed) = run(url, args, env);
            assert!(!ok, "{args:?} on {masked} should fail: {printed}");
            assert!(
                !printed.contains(PASSWORD),
                "{args:?} printed the password: {printed}"
            );
            assert!(
                printed.contains(masked),
                "{args:?} names the database ({masked}): {printed}"
            );
        }
    }
}
