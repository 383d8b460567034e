#!/usr/bin/env bash
# The crash test's long form (tests/api/crash.rs): HUBHOOK_CRASH_TRIALS trials (default 20) of
# concurrent Duve deliveries, SIGKILL at a random moment, restart, checks. On SQLite, and on
# PostgreSQL too when HUBHOOK_TEST_POSTGRES_URL is set. Prints each trial's line and a summary per
# backend; HUBHOOK_CRASH_SEED replays a run (a trial's seed is the first seed plus its number).
#
#   scripts/crash-test.sh
#   HUBHOOK_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/test HUBHOOK_CRASH_TRIALS=30 scripts/crash-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HUBHOOK_CRASH_TRIALS="${HUBHOOK_CRASH_TRIALS:-20}"
filter=crash::answered_deliveries_keep_their_tasks_and_confirmations_across_sigkills

echo "== SQLite: $HUBHOOK_CRASH_TRIALS trial(s)"
cargo test -p hubhook --test api "$filter" -- --exact --nocapture 2>&1 \
  | grep -E '^(crash|test result|thread|seed)' || { echo "crash test failed (SQLite)" >&2; exit 1; }

if [ -n "${HUBHOOK_TEST_POSTGRES_URL:-}" ]; then
  echo "== PostgreSQL: $HUBHOOK_CRASH_TRIALS trial(s)"
  cargo test -p hubhook --test api_pg "$filter" -- --exact --nocapture 2>&1 \
    | grep -E '^(crash|test result|thread|seed)' || { echo "crash test failed (PostgreSQL)" >&2; exit 1; }
fi
