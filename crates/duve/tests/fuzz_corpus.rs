//! Replays the committed fuzz corpora (`fuzz/corpus/duve_parse`, `fuzz/corpus/duve_json`) through
//! the very checks the cargo-fuzz targets run, on stable Rust and without cargo-fuzz, so every
//! input the fuzzer once found interesting stays a regression test.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

#[allow(dead_code)]
#[path = "../../../fuzz/src/duve_checks.rs"]
mod duve_checks;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a readable corpus file");
            (path, bytes)
        })
        .collect()
}

/// Runs `check` on every file, and names every file that made it panic.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let files = corpus(target);
    assert!(files.len() >= 10, "the {target} corpus is missing");
    let failed: Vec<_> = files
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| check(bytes))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} inputs failing: {failed:#?}");
    files.len()
}

#[test]
fn duve_parse_corpus_replays() {
    replay("duve_parse", duve_checks::parse_bytes);
    // The corpus is not all rejects: some inputs get through to field extraction.
    let parsed = corpus("duve_parse")
        .iter()
        .filter(|(_, b)| duve::parse_envelope(b).is_ok())
        .count();
    assert!(parsed > 0, "no duve_parse input parses as an envelope");
}

#[test]
fn duve_json_corpus_replays() {
    replay("duve_json", duve_checks::json_shaped);
}
