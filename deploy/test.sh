#!/usr/bin/env bash
# `npm test`: installs what it needs, builds, starts PostgreSQL, Redis and NATS, then runs every
# test: unit, integration (real PostgreSQL, Redis, NATS, QEMU) and e2e (a whole all-in-one cloud,
# booted by the e2e global setup and torn down after). Extra arguments go to jest.
export NUBO_STATE_DIR=${NUBO_TEST_STATE_DIR:-/tmp/nubo-test}
export NUBO_PG_PORT=${NUBO_TEST_PG_PORT:-55433} NUBO_REDIS_PORT=${NUBO_TEST_REDIS_PORT:-56380} NUBO_NATS_PORT=${NUBO_TEST_NATS_PORT:-54223}
source "$(dirname "$0")/lib.sh"

require_root
ensure_system_packages
ensure_node_modules
ensure_build
export NUBO_PG_FSYNC=off # test data is thrown away; fsync only slows the suite
bash "$NUBO_ROOT/deploy/infra.sh" start
bash "$NUBO_ROOT/deploy/infra.sh" ensure-db nubo_it
# Integration specs read these; the e2e cloud writes its own env under $NUBO_STATE_DIR.
set -a; eval "$(bash "$NUBO_ROOT/deploy/infra.sh" env nubo_it)"; set +a
export NUBO_SKIP_BUILD=1

stop_infra() { [ -n "${NUBO_KEEP_INFRA:-}" ] || bash "$NUBO_ROOT/deploy/infra.sh" stop; }
trap stop_infra EXIT

cd "$NUBO_ROOT"
results=$(mktemp)
set +e
npx jest --runInBand --json --outputFile="$results" "$@"
rc=$?
set -e
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$results" || true
rm -f "$results"
exit $rc
