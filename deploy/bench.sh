#!/usr/bin/env bash
# `npm run bench:<name>`: boots a private all-in-one cloud (nubo-bench, own ports and state),
# runs test/bench/<name>.bench.ts against it, and tears it down. Progress goes to stderr; the
# benchmark's one JSON line is the only thing on stdout.
name=${1:?benchmark name}
if [ "$name" = placement ]; then
  # The scheduler's placement path alone: its own infra (state dir, ports), a fresh database, no cloud.
  export NUBO_STATE_DIR=${NUBO_BENCH_STATE_DIR:-/tmp/nubo-bench-placement}
  export NUBO_PG_PORT=55435 NUBO_REDIS_PORT=56382 NUBO_NATS_PORT=54225
else
  export NUBO_STATE_DIR=${NUBO_BENCH_STATE_DIR:-/tmp/nubo-bench}
  export NUBO_PG_PORT=55434 NUBO_REDIS_PORT=56381 NUBO_NATS_PORT=54224
fi
# NUBO_BENCH_CLOUD_NAME: another name for the bench's cloud (namespaces, agents' host ids).
export NUBO_CLOUD_NAME=${NUBO_BENCH_CLOUD_NAME:-nubo-bench} NUBO_API_PORT=28080 NUBO_HEALTH_PORT_BASE=28780 NUBO_LOG_LEVEL=warn
source "$(dirname "$0")/lib.sh"
# The API benchmark measures the control plane, not VM boots: its hosts run the fake driver.
case "$name" in api) export NUBO_AGENT_DRIVER=${NUBO_AGENT_DRIVER:-fake} NUBO_HOST_VCPUS=16 ;; esac
require_root
if [ "$name" = network ]; then
  # A compute host's tenant data plane alone, in namespaces of its own: no infra, no cloud.
  { ensure_system_packages; ensure_node_modules; ensure_build; } 1>&2
  node "$NUBO_ROOT/dist/test/bench/network.bench.js"
  exit
fi
if [ "$name" = placement ]; then
  {
    ensure_system_packages
    ensure_node_modules
    ensure_build
    export NUBO_PG_FSYNC=${NUBO_PG_FSYNC:-on}
    bash "$NUBO_ROOT/deploy/infra.sh" start
    bash "$NUBO_ROOT/deploy/infra.sh" drop-db nubo_bench_placement
    bash "$NUBO_ROOT/deploy/infra.sh" ensure-db nubo_bench_placement
  } 1>&2
  trap '{ bash "$NUBO_ROOT/deploy/infra.sh" drop-db nubo_bench_placement; bash "$NUBO_ROOT/deploy/infra.sh" stop; } 1>&2' EXIT
  set -a; eval "$(bash "$NUBO_ROOT/deploy/infra.sh" env nubo_bench_placement)"; set +a
  node "$NUBO_ROOT/dist/test/bench/placement.bench.js"
  exit
fi
{
  ensure_system_packages
  ensure_node_modules
  ensure_build
  export NUBO_PG_FSYNC=${NUBO_PG_FSYNC:-on}
  bash "$NUBO_ROOT/deploy/infra.sh" start
  NUBO_SKIP_BUILD=1 bash "$NUBO_ROOT/deploy/cloud.sh" up --no-demo
} 1>&2
cleanup() {
  { NUBO_SKIP_BUILD=1 bash "$NUBO_ROOT/deploy/cloud.sh" down --purge; bash "$NUBO_ROOT/deploy/infra.sh" stop; } 1>&2
}
trap cleanup EXIT
set -a; eval "$(grep -v '^#' "$NUBO_STATE_DIR/cloud.env")"; source <(grep '^export' "$NUBO_STATE_DIR/openrc" | sed 's/^export //'); set +a
if [ "$name" = migration ]; then
  # It starts QEMUs of its own: when interrupted, the bench stops them (its SIGTERM handler), then
  # the EXIT trap takes the cloud down (bash runs traps only between commands: node in background).
  node "$NUBO_ROOT/dist/test/bench/migration.bench.js" & bench_pid=$!
  trap 'kill -TERM $bench_pid 2>/dev/null; wait $bench_pid; exit 130' INT TERM
  wait $bench_pid
  exit
fi
node "$NUBO_ROOT/dist/test/bench/$name.bench.js"
