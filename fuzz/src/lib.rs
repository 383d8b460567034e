//! Fuzz checks for hubhook. The targets in `fuzz_targets/` call these; the stable tests
//! `crates/duve/tests/fuzz_corpus.rs` and `crates/hubhook/tests/fuzz_corpus.rs` include the same
//! files to replay the committed corpus without cargo-fuzz.

pub mod duve_checks;
#[cfg(feature = "intake")]
pub mod intake_checks;
