# Shared helpers for deploy scripts. Sourced, not run.
# Settings (environment, with defaults for the all-in-one cloud):
#   NUBO_STATE_DIR   where everything lives               /var/lib/nubo
#   NUBO_PG_PORT / NUBO_REDIS_PORT / NUBO_NATS_PORT      55432 / 56379 / 54222
set -euo pipefail

NUBO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NUBO_STATE_DIR=${NUBO_STATE_DIR:-/var/lib/nubo}
NUBO_PG_PORT=${NUBO_PG_PORT:-55432}
NUBO_REDIS_PORT=${NUBO_REDIS_PORT:-56379}
NUBO_NATS_PORT=${NUBO_NATS_PORT:-54222}
INFRA_DIR=$NUBO_STATE_DIR/infra
PG_BIN=/usr/lib/postgresql/15/bin

log() { printf '[nubo] %s\n' "$*" >&2; }
die() { printf '[nubo] error: %s\n' "$*" >&2; exit 1; }

require_root() { [ "$(id -u)" = 0 ] || die "run as root (namespaces, QEMU and PostgreSQL's system user need it)"; }

# Installs the Debian packages whose commands are missing (apt-get update once, first).
APT_UPDATED=
ensure_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    if [ "${cmd#/}" != "$cmd" ]; then [ -e "$cmd" ] || missing+=("$pkg")
    else command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt-get)"
  if [ -z "$APT_UPDATED" ]; then apt-get update -q >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_system_packages() {
  ensure_packages "$PG_BIN/postgres:postgresql-15" psql:postgresql-client-15 redis-server:redis-server \
    redis-cli:redis-tools nats-server:nats-server qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
    nft:nftables ip:iproute2 runuser:util-linux curl:curl openstack:python3-openstackclient \
    virt-xml-validate:libvirt-clients xmllint:libxml2-utils \
    /usr/sbin/dnsmasq:dnsmasq-base /usr/bin/tcpdump:tcpdump /usr/bin/ping:iputils-ping
  ensure_qemu_user
}

# The unprivileged user agents run QEMU as (NUBO_AGENT_QEMU_USER). Idempotent, and safe when two
# scripts race: a useradd that lost the race is fine if the user exists afterwards. The kvm group
# (Debian's /dev/kvm is root:kvm 0660) lets its QEMUs use KVM where the host has the group.
ensure_qemu_user() {
  if ! getent passwd nubo-qemu >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nubo-qemu 2>/dev/null ||
      getent passwd nubo-qemu >/dev/null || die "cannot create the system user nubo-qemu"
  fi
  if getent group kvm >/dev/null && ! id -nG nubo-qemu | tr ' ' '\n' | grep -qx kvm; then
    usermod -aG kvm nubo-qemu
  fi
}

# npm ci when node_modules is missing or older than the lock file.
ensure_node_modules() {
  if [ ! -f "$NUBO_ROOT/node_modules/.package-lock.json" ] || \
     [ "$NUBO_ROOT/package-lock.json" -nt "$NUBO_ROOT/node_modules/.package-lock.json" ]; then
    log "npm ci"
    (cd "$NUBO_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_build() {
  [ -n "${NUBO_SKIP_BUILD:-}" ] && return 0
  log "building (tsc)"
  (cd "$NUBO_ROOT" && npm run --silent build)
}

wait_for_port() { # host port what seconds
  local i
  for ((i = 0; i < ${4:-30} * 10; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  die "$3 did not open $1:$2"
}

# A zombie (killed, not yet reaped by pid 1) is not alive: a host powered off is started again at once.
pid_alive() {
  local pid
  [ -f "$1" ] && pid=$(cat "$1") && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# A random secret kept in a root-only file; created once.
secret() { # name
  local f="$NUBO_STATE_DIR/secrets/$1"
  mkdir -p "$NUBO_STATE_DIR/secrets"; chmod 700 "$NUBO_STATE_DIR/secrets"
  [ -s "$f" ] || (umask 077; head -c 36 /dev/urandom | base64 | tr -d '/+=' > "$f")
  cat "$f"
}
