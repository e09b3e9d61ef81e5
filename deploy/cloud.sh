#!/usr/bin/env bash
# The all-in-one cloud: infrastructure, control plane and N compute hosts on one machine.
# Usage: cloud.sh up [--no-demo] | down [--purge] | status | start-agent N | host-up N | stop-agent N [--kill] | start-scheduler N | stop-scheduler N [--kill] | env
#
# Each host N has its data plane in network namespace ${NUBO_CLOUD_NAME}-hN (QEMU runs there); the
# hosts' underlay interfaces (ul0, 10.77.0.(10+N)/24) meet on a bridge in ${NUBO_CLOUD_NAME}-fab.
# Agents run in the root namespace (they reach NATS on loopback) and start QEMU inside theirs.
# Settings (environment): NUBO_STATE_DIR, NUBO_CLOUD_NAME (nubo), NUBO_HOSTS (3), NUBO_API_PORT
# (8080), NUBO_HEALTH_PORT_BASE (8780), the infra ports (see lib.sh), NUBO_UPLOAD_TEST_IMAGE (1 to
# upload the test guest as image nubo-test; default 1 with the demo, 0 with --no-demo).
# NUBO_AGENT_KSM (on: the agents turn the kernel's samepage merging on; the agent's own default is off).
source "$(dirname "$0")/lib.sh"

NUBO_CLOUD_NAME=${NUBO_CLOUD_NAME:-nubo}
NUBO_HOSTS=${NUBO_HOSTS:-3}
NUBO_API_PORT=${NUBO_API_PORT:-8080}
NUBO_HEALTH_PORT_BASE=${NUBO_HEALTH_PORT_BASE:-8780}
NUBO_AGENT_ACCEL=${NUBO_AGENT_ACCEL:-auto}
DB_NAME=${NUBO_DB_NAME:-${NUBO_CLOUD_NAME//-/_}}
RUN_DIR=$NUBO_STATE_DIR/run
LOG_DIR=$NUBO_STATE_DIR/logs
FABRIC_NS=$NUBO_CLOUD_NAME-fab
# Host RAM differs per host so that "most free RAM" placement is visible.
HOST_RAM_MB=(0 6144 8192 4096 6144 8192 4096 6144 8192)

host_ns() { echo "$NUBO_CLOUD_NAME-h$1"; }
api_url() { echo "http://127.0.0.1:$NUBO_API_PORT"; }

write_env() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  (umask 077
   { bash "$NUBO_ROOT/deploy/infra.sh" env "$DB_NAME"
     echo "NUBO_CLOUD_NAME=$NUBO_CLOUD_NAME"
     echo "NUBO_LOG_LEVEL=${NUBO_LOG_LEVEL:-log}"
     echo "NUBO_STOP_GRACE_S=${NUBO_STOP_GRACE_S:-60}"
     echo "NUBO_STATE_DIR=$NUBO_STATE_DIR"
     # Signs the api's calls to the image store and the agents' image download URLs.
     echo "NUBO_INTERNAL_SECRET=$(secret internal-secret)"
     echo "NUBO_IMAGE_HTTP_PORT=$((NUBO_HEALTH_PORT_BASE + 5))"
     echo "NUBO_IMAGE_INTERNAL_URL=http://127.0.0.1:$((NUBO_HEALTH_PORT_BASE + 5))"
     echo "NUBO_IMAGE_URL=http://127.0.0.1:$((NUBO_HEALTH_PORT_BASE + 5))"
   } > "$NUBO_STATE_DIR/cloud.env"
   cat > "$NUBO_STATE_DIR/openrc" <<RC
# Nubo all-in-one cloud: source this file, then use the openstack CLI or the API.
export OS_AUTH_URL=$(api_url)/identity/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$(secret admin-password)
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
RC
   sed -e 's/OS_USERNAME=admin/OS_USERNAME=demo/' -e 's/OS_PROJECT_NAME=admin/OS_PROJECT_NAME=demo/' \
       -e "s/OS_PASSWORD=.*/OS_PASSWORD=$(secret demo-password)/" "$NUBO_STATE_DIR/openrc" > "$NUBO_STATE_DIR/openrc-demo")
}

# Runs a node entry point with the cloud's environment plus extra VAR=VALUE words.
run_node() { # script VAR=VALUE...
  local script=$1; shift
  env $(grep -v '^#' "$NUBO_STATE_DIR/cloud.env" | xargs) "$@" node "$NUBO_ROOT/dist/$script"
}

start_service() { # name script VAR=VALUE...
  local name=$1 script=$2; shift 2
  if pid_alive "$RUN_DIR/$name.pid"; then return; fi
  log "starting $name (log: $LOG_DIR/$name.log)"
  env $(grep -v '^#' "$NUBO_STATE_DIR/cloud.env" | xargs) "$@" \
    setsid node "$NUBO_ROOT/dist/$script" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  echo $! > "$RUN_DIR/$name.pid"
}

stop_service() { # name [signal]
  local f="$RUN_DIR/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

fabric_up() {
  local i ns
  ip netns list | grep -qw "$FABRIC_NS" || ip netns add "$FABRIC_NS"
  ip -n "$FABRIC_NS" link show br0 >/dev/null 2>&1 || ip -n "$FABRIC_NS" link add br0 type bridge
  ip -n "$FABRIC_NS" link set lo up
  ip -n "$FABRIC_NS" link set br0 up
  for ((i = 1; i <= NUBO_HOSTS; i++)); do host_link_up "$i"; done
  # The network node (the network service's DHCP data plane) on the same underlay, 10.77.0.2.
  ns=$(net_ns)
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  if ! ip -n "$ns" link show ul0 >/dev/null 2>&1; then
    ip link add ul0 netns "$ns" type veth peer name nn netns "$FABRIC_NS"
    ip -n "$ns" addr add 10.77.0.2/24 dev ul0
  fi
  ip -n "$FABRIC_NS" link set nn master br0 up
  ip -n "$ns" link set ul0 up
  # The internet, played by namespace <cloud>-ext: physical network `ext` is the node's interface
  # extp, whose wire ends there at $EXT_GATEWAY (the external subnet's gateway_ip). Nothing routes on.
  local ext
  ext=$(ext_ns)
  ip netns list | grep -qw "$ext" || ip netns add "$ext"
  ip -n "$ext" link set lo up
  if ! ip -n "$ns" link show extp >/dev/null 2>&1; then
    ip link add extp netns "$ns" type veth peer name ext0 netns "$ext"
    ip -n "$ext" addr add "$EXT_GATEWAY/24" dev ext0
  fi
  ip -n "$ns" link set extp up
  ip -n "$ext" link set ext0 up
  # QEMU opens its taps as nubo-qemu: /dev/net/tun must be open to all (Debian's default mode).
  chmod 0666 /dev/net/tun
}

# Host N's namespace and its underlay veth (ul0 there, hN on the fabric bridge); idempotent.
host_link_up() { # N
  local i=$1 ns
  ns=$(host_ns "$i")
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  if ! ip -n "$ns" link show ul0 >/dev/null 2>&1; then
    # A fabric end whose host namespace was deleted under it (host-up) goes before its new pair.
    ip -n "$FABRIC_NS" link del "h$i" 2>/dev/null || true
    ip link add ul0 netns "$ns" type veth peer name "h$i" netns "$FABRIC_NS"
    ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev ul0
  fi
  ip -n "$FABRIC_NS" link set "h$i" master br0 up
  ip -n "$ns" link set ul0 up
}

# A host back after its namespace vanished (a machine replaced): namespace, underlay, agent.
host_up() { # N
  [[ $1 =~ ^[1-9][0-9]?$ ]] || die "host number expected, got '$1'"
  require_root
  host_link_up "$1"
  start_agent "$1"
}

net_ns() { echo "$NUBO_CLOUD_NAME-net"; }
ext_ns() { echo "$NUBO_CLOUD_NAME-ext"; }
# The ext namespace's address: the external subnet (203.0.113.0/24, TEST-NET-3) has it as gateway_ip.
EXT_GATEWAY=203.0.113.1

fabric_down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NUBO_CLOUD_NAME-(h[0-9]+|fab|net|ext|qdhcp-[0-9a-f]+|qrouter-[0-9a-f-]+)$"); do
    # Power off: whatever still runs in a host namespace (QEMU) is killed before the namespace goes.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
}

agent_env() { # N
  local i=$1
  echo NUBO_HOST_ID="$(host_ns "$i")" NUBO_AGENT_NETNS="$(host_ns "$i")" \
    NUBO_AGENT_STATE_DIR="$NUBO_STATE_DIR/hosts/h$i" NUBO_AGENT_ACCEL="$NUBO_AGENT_ACCEL" \
    NUBO_AGENT_DRIVER="${NUBO_AGENT_DRIVER:-qemu}" \
    NUBO_AGENT_KSM="${NUBO_AGENT_KSM:-on}" \
    NUBO_AGENT_VCPUS="${NUBO_HOST_VCPUS:-4}" NUBO_AGENT_RAM_MB="${HOST_RAM_MB[$i]:-4096}" NUBO_AGENT_DISK_GB=100 \
    NUBO_AGENT_UNDERLAY_IP="10.77.0.$((10 + i))" NUBO_AGENT_HEALTH_PORT="$((NUBO_HEALTH_PORT_BASE + 10 + i))" \
    NUBO_AGENT_SHARED_STORAGE_DIR="$(shared_dir)"
}

# The all-in-one cloud's shared storage: one directory every host mounts at the same path (an
# NFS export on real hosts). Servers of `nubo:storage=shared` flavors keep their disks there.
shared_dir() { echo "$NUBO_STATE_DIR/shared"; }

start_agent() { # N
  mkdir -p "$NUBO_STATE_DIR/hosts/h$1" "$(shared_dir)"
  # shellcheck disable=SC2046
  start_service "agent-h$1" apps/compute-agent/src/main.js $(agent_env "$1")
}

# Scheduler N: 1 is `scheduler` (started by `up`); more (scheduler-N, health port base + 20 + N)
# run beside it with the same settings, as standbys of the failover controller's leader lock.
scheduler_name() { # N
  [[ $1 =~ ^[1-9][0-9]?$ ]] || die "scheduler number expected, got '$1'"
  if [ "$1" = 1 ]; then echo scheduler; else echo "scheduler-$1"; fi
}

start_scheduler() { # N
  local name port=$((NUBO_HEALTH_PORT_BASE + 1))
  name=$(scheduler_name "$1")
  [ "$1" = 1 ] || port=$((NUBO_HEALTH_PORT_BASE + 20 + $1))
  # The all-in-one's hosts are namespaces: fencing one kills everything in it (fencing/netns-fence.driver.ts).
  start_service "$name" apps/scheduler/src/main.js NUBO_HEALTH_PORT="$port" NUBO_FENCE_DRIVER="${NUBO_FENCE_DRIVER:-netns}"
}

wait_healthy() {
  local i body
  for ((i = 0; i < 600; i++)); do
    body=$(curl -s "$(api_url)/healthz" || true)
    if [[ $body == *'"status":"ok"'* ]]; then return 0; fi
    sleep 0.1
  done
  die "api not healthy after 60 s: $body (logs: $LOG_DIR)"
}


openrc_env() { grep '^export' "$NUBO_STATE_DIR/openrc" | sed 's/^export //' | xargs; }

# The bootable test guest (deploy/guest-image) as the public image nubo-test, uploaded once.
# hypervisor_type=qemu makes agents run it under TCG: a Linux guest fails under nested KVM here.
upload_test_image() {
  local path id
  path=$(bash "$NUBO_ROOT/deploy/guest-image/build.sh" "$NUBO_STATE_DIR/guest-image") || die "building the test guest image failed"
  # shellcheck disable=SC2046
  id=$(env $(openrc_env) openstack image list --name nubo-test -f value -c ID) || die "could not list images"
  if [ -n "$id" ]; then log "image nubo-test exists already: $id"; return 0; fi
  log "uploading the test guest as public image nubo-test ($path)"
  # shellcheck disable=SC2046
  id=$(env $(openrc_env) openstack image create --public --disk-format qcow2 --container-format bare \
    --property hypervisor_type=qemu --property os_distro=busybox --file "$path" -f value -c id nubo-test) \
    || die "uploading image nubo-test failed"
  log "image nubo-test: $id"
}

up() {
  require_root
  ensure_system_packages
  ensure_node_modules
  ensure_build
  bash "$NUBO_ROOT/deploy/infra.sh" start
  bash "$NUBO_ROOT/deploy/infra.sh" ensure-db "$DB_NAME"
  write_env
  run_node libs/database/src/cli/migrate.js
  run_node apps/api/src/cli/bootstrap.js NUBO_BOOTSTRAP_ADMIN_PASSWORD="$(secret admin-password)" \
    NUBO_BOOTSTRAP_DEMO_PASSWORD="$(secret demo-password)"
  fabric_up
  local h=$NUBO_HEALTH_PORT_BASE
  start_service api apps/api/src/main.js NUBO_API_PORT="$NUBO_API_PORT"
  start_scheduler 1
  start_service network apps/network/src/main.js NUBO_HEALTH_PORT=$((h + 2)) \
    NUBO_NETWORK_NODE_UNDERLAY_IP=10.77.0.2 NUBO_NETWORK_NODE_NETNS="$(net_ns)" NUBO_NETWORK_NODE_PHYSICAL_INTERFACES=ext:extp NUBO_NETWORK_STATE_DIR="$NUBO_STATE_DIR/network"
  start_service image-store apps/image-store/src/main.js NUBO_HEALTH_PORT=$((h + 3))
  local i
  for ((i = 1; i <= NUBO_HOSTS; i++)); do start_agent "$i"; done
  wait_healthy
  # shellcheck disable=SC2046
  env $(openrc_env) node "$NUBO_ROOT/dist/libs/client/src/cli/hosts-up.js" --wait "$NUBO_HOSTS" \
    || die "hosts did not come up (logs: $LOG_DIR)"
  log "cloud up: API $(api_url), $NUBO_HOSTS hosts, logs in $LOG_DIR"
  log "credentials: source $NUBO_STATE_DIR/openrc (admin) or $NUBO_STATE_DIR/openrc-demo (demo)"
  # Default: with the demo only, so the e2e and bench clouds (--no-demo) upload nothing unasked.
  if [ "${NUBO_UPLOAD_TEST_IMAGE:-$([ "${1:-}" = "--no-demo" ] && echo 0 || echo 1)}" = 1 ]; then
    upload_test_image
  fi
  if [ "${1:-}" != "--no-demo" ]; then
    # shellcheck disable=SC2046
    env $(openrc_env) node "$NUBO_ROOT/dist/libs/client/src/cli/demo.js"
  fi
}

down() {
  local i
  for f in "$RUN_DIR"/agent-h*.pid; do [ -e "$f" ] && stop_service "$(basename "$f" .pid)"; done
  for f in "$RUN_DIR"/scheduler-*.pid; do [ -e "$f" ] && stop_service "$(basename "$f" .pid)"; done
  for name in api scheduler network image-store; do stop_service "$name"; done
  fabric_down
  # QEMU processes outside namespaces (none expected) of this cloud's hosts: by their state dir.
  pkill -KILL -f "qemu-system-x86_64.*$NUBO_STATE_DIR/hosts/" 2>/dev/null || true
  if [ "${1:-}" = "--purge" ]; then
    # The database goes too when the infrastructure was stopped first (a killed test run): a stale
    # one would hand its servers to the next cloud of this name.
    bash "$NUBO_ROOT/deploy/infra.sh" start >/dev/null
    bash "$NUBO_ROOT/deploy/infra.sh" drop-db "$DB_NAME" || log "could not drop database $DB_NAME: the next cloud of this name inherits it"
    rm -rf "$NUBO_STATE_DIR/hosts" "$(shared_dir)" "$RUN_DIR" "$NUBO_STATE_DIR/cloud.env"
  else
    rm -rf "$RUN_DIR"
  fi
  log "cloud $NUBO_CLOUD_NAME stopped (infrastructure: deploy/infra.sh stop)"
}

status() {
  local name
  bash "$NUBO_ROOT/deploy/infra.sh" status
  for name in api scheduler network image-store $(cd "$RUN_DIR" 2>/dev/null && ls scheduler-*.pid agent-h*.pid 2>/dev/null | sed 's/.pid$//'); do
    pid_alive "$RUN_DIR/$name.pid" && echo "$name: up (pid $(cat "$RUN_DIR/$name.pid"))" || echo "$name: down"
  done
  ip netns list | awk '{print $1}' | grep -E "^$NUBO_CLOUD_NAME-" | sed 's/^/netns: /'
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down "${2:-}" ;;
  status) status ;;
  start-agent) start_agent "${2:?host number}" ;;
  host-up) host_up "${2:?host number}" ;;
  stop-agent) stop_service "agent-h${2:?host number}" "$([ "${3:-}" = --kill ] && echo KILL || echo TERM)" ;;
  start-scheduler) start_scheduler "${2:?scheduler number}" ;;
  stop-scheduler) name=$(scheduler_name "${2:?scheduler number}") && stop_service "$name" "$([ "${3:-}" = --kill ] && echo KILL || echo TERM)" ;;
  env) cat "$NUBO_STATE_DIR/openrc" ;;
  *) echo "usage: $0 up [--no-demo] | down [--purge] | status | start-agent N | host-up N | stop-agent N [--kill] | start-scheduler N | stop-scheduler N [--kill] | env" >&2; exit 2 ;;
esac
