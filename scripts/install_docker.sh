#!/usr/bin/env bash
# Install what `make deploy` needs to run the service in Docker, cached, idempotent (a second run is a no-op):
#
#   scripts/install_docker.sh [STEP ...]
#
# STEPs (default: all, in this order):
#   engine   Debian's docker.io (dockerd, containerd, runc), iptables and debootstrap (apt-get, as root)
#   compose  the Docker Compose v2 CLI plugin, built with `go build` from its Go module
#            (github.com/docker/compose/v2, through the Go module proxy) into .tools/docker/cli-plugins/
#
# No image registry is reachable here, so the images themselves are built by scripts/docker_images.sh
# (`make docker-images`), and the engine is started by scripts/docker_engine.sh.
# Output: one line per step; full output in .tools/install_docker.log.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

COMPOSE_VERSION="2.29.7" # go.mod needs go >= 1.21, no replace directives; talks to Engine API 1.41 (docker.io 20.10)

log() { printf '[install_docker] %s\n' "$*"; }
die() { printf '[install_docker] ERROR: %s\n' "$*" >&2; exit 1; }

STEPS=()
for arg in "$@"; do
  case "$arg" in
    engine | compose) STEPS+=("$arg") ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
[ "${#STEPS[@]}" -gt 0 ] || STEPS=(engine compose)

step_engine() {
  if command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v debootstrap >/dev/null &&
    command -v iptables >/dev/null; then
    log "engine: $(dockerd --version), debootstrap and iptables already installed, skipping"
    return
  fi
  [ "$(id -u)" = 0 ] || die "installing docker.io needs root (apt-get); run as root or install docker.io and debootstrap yourself"
  command -v apt-get >/dev/null || die "apt-get not found: install docker.io (dockerd 20.10+), debootstrap and iptables yourself"
  log "engine: apt-get install docker.io debootstrap iptables"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io debootstrap iptables
  command -v dockerd >/dev/null || die "dockerd not on PATH after apt-get install"
}

step_compose() {
  local plugin="$DOCKER_CLI_PLUGINS/docker-compose"
  if [ -x "$plugin" ] && "$plugin" version --short 2>/dev/null | grep -qx "v\{0,1\}$COMPOSE_VERSION"; then
    log "compose: docker compose v$COMPOSE_VERSION already in .tools/docker/cli-plugins, skipping"
    return
  fi
  command -v go >/dev/null || die "go not found"
  log "compose: downloading github.com/docker/compose/v2@v$COMPOSE_VERSION"
  local dir
  dir="$(cd "$TOOLS_DIR" && go mod download -json "github.com/docker/compose/v2@v$COMPOSE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$dir" ] || [ ! -f "$dir/go.sum" ]; then die "compose module directory not found"; fi
  log "compose: building ./cmd in $dir"
  mkdir -p "$DOCKER_CLI_PLUGINS"
  (cd "$dir" && go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=v$COMPOSE_VERSION" \
    -o "$plugin" ./cmd)
  "$plugin" version --short | grep -qx "v\{0,1\}$COMPOSE_VERSION" || die "docker compose version is not $COMPOSE_VERSION"
  log "compose: docker compose v$COMPOSE_VERSION built"
}

mkdir -p "$TOOLS_DIR"
INSTALL_LOG="$TOOLS_DIR/install_docker.log"
: >"$INSTALL_LOG"
for step in "${STEPS[@]}"; do
  start=$SECONDS
  mark="$(wc -l <"$INSTALL_LOG")"
  printf '[install_docker] %s ... ' "$step"
  ("step_$step") >>"$INSTALL_LOG" 2>&1 &
  if ! wait "$!"; then
    printf 'FAILED after %ss; its output (full log: %s):\n' "$((SECONDS - start))" "$INSTALL_LOG"
    tail -n "+$((mark + 1))" "$INSTALL_LOG" | tail -n 60
    exit 1
  fi
  outcome="$(tail -n "+$((mark + 1))" "$INSTALL_LOG" | sed -n "s/^\[install_docker\] $step: //p" | tail -n 1)"
  printf '%s (%ss)\n' "${outcome:-done}" "$((SECONDS - start))"
done
