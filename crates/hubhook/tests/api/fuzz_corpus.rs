//! Replays the committed intake fuzz corpus (`fuzz/corpus/intake`) through the checks the cargo-fuzz
//! `intake` target runs (on stable Rust, without cargo-fuzz), and the Duve corpora through the
//! intake decision too, so inputs the fuzzers found stay regression tests.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use crate::intake_checks;

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

fn replay(target: &str, check: &dyn Fn(&[u8])) {
    let files = corpus(target);
    assert!(files.len() >= 10, "the {target} corpus is missing");
    let failed: Vec<_> = files
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| check(bytes))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} inputs failing: {failed:#?}");
}

#[test]
fn intake_corpus_replays() {
    replay("intake", &intake_checks::intake);
}

#[test]
fn duve_corpora_replay_through_the_intake_decision() {
    let now = jiff::Timestamp::UNIX_EPOCH;
    replay("duve_parse", &|body| intake_checks::webhook(body, now));
}

#[test]
fn the_fuzz_hotel_accepts_a_valid_order() {
    // The invariants only mean something if some inputs get through: a known-good order does.
    let body = br#"{"event":"orderCreated","resource":{"roomNumber":"101","verifiedFirstName":"Bo","order":{"id":"o1","products":[{"name":"Towels","externalId":"4","quantity":2}]}}}"#;
    let env = duve::parse_envelope(body).expect("valid body");
    let map = duve::FieldMap::default();
    let hotel = intake_checks::hotel();
    let hubhook::intake::Plan::Order(plan) = hubhook::intake::classify(&env, body, &map, hotel)
    else {
        panic!("not an order");
    };
    let decision = hubhook::intake::decide_order(&plan, hotel, None, jiff::Timestamp::UNIX_EPOCH);
    assert!(
        matches!(decision, hubhook::intake::OrderDecision::Create { ref drafts, .. } if drafts.len() == 1)
    );
    intake_checks::webhook(body, jiff::Timestamp::UNIX_EPOCH);
}
