#!/usr/bin/env bash
# PostgreSQL 15, Redis 7 and NATS on loopback, data under $NUBO_STATE_DIR/infra.
# Usage: infra.sh start | stop | status | env | ensure-db NAME
# start and stop are idempotent. `env` prints the NUBO_* URLs the services need.
source "$(dirname "$0")/lib.sh"

pg_ctl_() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$INFRA_DIR/pg" "$@"; }
psql_() { runuser -u postgres -- psql -h "$INFRA_DIR/run" -p "$NUBO_PG_PORT" -v ON_ERROR_STOP=1 -qtA "$@"; }

start_pg() {
  mkdir -p "$INFRA_DIR/run"
  chown postgres: "$INFRA_DIR/run"
  if [ ! -f "$INFRA_DIR/pg/PG_VERSION" ]; then
    log "initdb $INFRA_DIR/pg"
    mkdir -p "$INFRA_DIR/pg"; chown postgres: "$INFRA_DIR/pg"; chmod 700 "$INFRA_DIR/pg"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$INFRA_DIR/pg" -U postgres --auth-local=peer \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! pg_ctl_ status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$NUBO_PG_PORT"
    pg_ctl_ -w -t 60 -l "$INFRA_DIR/run/postgresql.log" start \
      -o "-p $NUBO_PG_PORT -k $INFRA_DIR/run -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${NUBO_PG_FSYNC:-on}" >/dev/null
  fi
  local password; password=$(secret db-password)
  if [ -z "$(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname='nubo'")" ]; then
    psql_ -c "CREATE ROLE nubo LOGIN CREATEDB PASSWORD '$password'" >/dev/null
  fi
}

ensure_db() { # name
  [[ $1 =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name $1"
  if [ -z "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname='$1'")" ]; then
    psql_ -c "CREATE DATABASE $1 OWNER nubo" >/dev/null
  fi
}

start_redis() {
  mkdir -p "$INFRA_DIR/redis"
  if pid_alive "$INFRA_DIR/redis.pid"; then return; fi
  log "starting Redis on 127.0.0.1:$NUBO_REDIS_PORT"
  # appendonly: a job acknowledged to a client survives a Redis restart; noeviction: BullMQ needs it.
  redis-server --bind 127.0.0.1 --port "$NUBO_REDIS_PORT" --dir "$INFRA_DIR/redis" --daemonize yes \
    --pidfile "$INFRA_DIR/redis.pid" --logfile "$INFRA_DIR/redis.log" --appendonly yes \
    --maxmemory-policy noeviction --save ''
  wait_for_port 127.0.0.1 "$NUBO_REDIS_PORT" Redis
}

start_nats() {
  if pid_alive "$INFRA_DIR/nats.pid"; then return; fi
  log "starting NATS on 127.0.0.1:$NUBO_NATS_PORT"
  setsid nats-server -a 127.0.0.1 -p "$NUBO_NATS_PORT" -P "$INFRA_DIR/nats.pid" \
    -l "$INFRA_DIR/nats.log" </dev/null >/dev/null 2>&1 &
  wait_for_port 127.0.0.1 "$NUBO_NATS_PORT" NATS
}

stop_pid() { # pidfile name
  if pid_alive "$1"; then
    log "stopping $2"
    local pid; pid=$(cat "$1"); kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1"
}

print_env() {
  local password; password=$(cat "$NUBO_STATE_DIR/secrets/db-password")
  echo "NUBO_DATABASE_URL=postgres://nubo:$password@127.0.0.1:$NUBO_PG_PORT/${1:-nubo}"
  echo "NUBO_REDIS_URL=redis://127.0.0.1:$NUBO_REDIS_PORT"
  echo "NUBO_NATS_URL=nats://127.0.0.1:$NUBO_NATS_PORT"
}

case "${1:-}" in
  start)
    require_root; ensure_system_packages; mkdir -p "$INFRA_DIR"; chmod 755 "$NUBO_STATE_DIR" "$INFRA_DIR"
    start_pg; start_redis; start_nats ;;
  stop)
    [ -d "$INFRA_DIR/pg" ] && pg_ctl_ status >/dev/null 2>&1 && { log "stopping PostgreSQL"; pg_ctl_ -m fast -w stop >/dev/null; }
    stop_pid "$INFRA_DIR/redis.pid" Redis
    stop_pid "$INFRA_DIR/nats.pid" NATS ;;
  status)
    pg_ctl_ status >/dev/null 2>&1 && echo "postgresql: up (127.0.0.1:$NUBO_PG_PORT)" || echo "postgresql: down"
    pid_alive "$INFRA_DIR/redis.pid" && echo "redis: up (127.0.0.1:$NUBO_REDIS_PORT)" || echo "redis: down"
    pid_alive "$INFRA_DIR/nats.pid" && echo "nats: up (127.0.0.1:$NUBO_NATS_PORT)" || echo "nats: down" ;;
  ensure-db) ensure_db "${2:?database name}" ;;
  drop-db)
    [[ ${2:-} =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name"
    psql_ -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null ;;
  env) print_env "${2:-nubo}" ;;
  *) echo "usage: $0 start|stop|status|env [db]|ensure-db NAME|drop-db NAME" >&2; exit 2 ;;
esac
