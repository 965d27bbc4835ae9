#!/usr/bin/env bash
# The Docker engine `make deploy` and its test use: started by the project when none runs.
#
#   scripts/docker_engine.sh start   use the running engine, or start dockerd (root, cgroups needed)
#   scripts/docker_engine.sh stop    stop dockerd if this script started it (its pid file), else do nothing
#
# dockerd runs without systemd, in the background, logging to .tools/docker/dockerd.log; its pid is in
# .tools/docker/dockerd.pid. It refuses, saying why, when it cannot start one: not root, no cgroup
# hierarchy mounted, or no dockerd installed (scripts/install_docker.sh installs Debian's docker.io).
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

ENGINE_DIR="$TOOLS_DIR/docker"
PID_FILE="$ENGINE_DIR/dockerd.pid"
ENGINE_LOG="$ENGINE_DIR/dockerd.log"
READY_SECONDS=60

log() { printf '[docker_engine] %s\n' "$*"; }
die() { printf '[docker_engine] ERROR: %s\n' "$*" >&2; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

started_pid() { # the pid of the dockerd this script started, if it still runs
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

close_inherited_fds() { # close every descriptor above stderr in this (sub)shell
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

cgroups_mounted() {
  [ -f /sys/fs/cgroup/cgroup.controllers ] || [ -d /sys/fs/cgroup/memory ] || [ -d /sys/fs/cgroup/cpu ]
}

start() {
  if engine_answers; then
    log "engine already running: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
    return
  fi
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and starting dockerd needs root (uid $(id -u)); start one yourself or use 'make run' (no Docker)"
  cgroups_mounted || die "no cgroup hierarchy under /sys/fs/cgroup: containers cannot run here; use 'make run' (no Docker)"
  command -v dockerd >/dev/null || die "dockerd not installed: run scripts/install_docker.sh engine"
  mkdir -p "$ENGINE_DIR"
  log "starting dockerd (log: $ENGINE_LOG)"
  # dockerd outlives this script: it must not inherit its caller's descriptors beyond stdio (a `flock LOCK make
  # test-deploy` would otherwise stay locked for as long as the engine runs).
  (close_inherited_fds && exec setsid dockerd >"$ENGINE_LOG" 2>&1 </dev/null) &
  echo "$!" >"$PID_FILE"
  local waited=0
  until engine_answers; do
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || die "dockerd exited; its log:$(printf '\n')$(tail -n 30 "$ENGINE_LOG")"
    [ "$waited" -lt $((READY_SECONDS * 5)) ] || die "dockerd did not answer within ${READY_SECONDS}s; see $ENGINE_LOG"
    sleep 0.2
    waited=$((waited + 1))
  done
  log "dockerd $(docker version --format '{{.Server.Version}}') running, pid $(cat "$PID_FILE")"
}

stop() {
  local pid
  if ! pid="$(started_pid)"; then
    log "no dockerd started by this project is running; nothing to stop"
    return
  fi
  log "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  rm -f "$PID_FILE"
  log "dockerd stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
