//! Builds the PostgreSQL test suite (`tests/api_pg`) only when `HUBHOOK_TEST_POSTGRES_URL` names a
//! database to run it in; without it, that suite is one test that says it was skipped.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=HUBHOOK_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(hubhook_pg_tests)");
    if std::env::var_os("HUBHOOK_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=hubhook_pg_tests");
    }
}
