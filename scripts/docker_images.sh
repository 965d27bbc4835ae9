#!/usr/bin/env bash
# Build every image the service's Docker Compose deployment runs, locally (no image registry is reachable):
#
#   scripts/docker_images.sh [STEP ...]      (make docker-images)
#   scripts/docker_images.sh --tags          the images the generated deployments name, one a line (no engine needed)
#
# STEPs (default: all, in this order; each is skipped when its image exists built from the same inputs):
#   base        local/debian-debootstrap:<release>: `debootstrap --variant=minbase` from Debian's archive,
#               `docker import`ed; local/debian-minbase:<release> on it trusts the host's CA bundle (docker/base/)
#   runtime     valory/open-autonomy:<version>: Debian's Python 3.11 + the pinned open-autonomy/open-aea
#   tendermint  valory/open-autonomy-tendermint:<version>: .tools/bin/tendermint (0.34.19, built with Go) under
#               open-autonomy's node control app (docker/tendermint/)
#   deps        local/smpc-mnist-deps:<inputs>: the agent's Python dependencies (`aea freeze`), pinned, installed
#               from wheels `pip download`ed on the host into .tools/wheels (kept: a rebuild downloads nothing)
#   agent       valory/oar-smpc_mnist:<agent hash>: `autonomy build-image --dockerfile docker/agent/Dockerfile`
#               on top of `deps`, with exactly this repository's ./packages
#   busybox     busybox:<version>: Debian's busybox on `base`, for the init container of the Kubernetes manifests
# Image tags are the ones `autonomy deploy build` writes into docker-compose.yaml (and, with --kubernetes, build.yaml).
# Needs a running engine (scripts/docker_engine.sh start) and `make sync` (the third-party packages in ./packages).
# Output: one line per step; full output in .tools/docker/images.log.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

log() { printf '[docker_images] %s\n' "$*"; }
die() { printf '[docker_images] ERROR: %s\n' "$*" >&2; exit 1; }

STEPS=()
LIST_TAGS=false
for arg in "$@"; do
  case "$arg" in
    base | runtime | tendermint | deps | agent | busybox) STEPS+=("$arg") ;;
    --tags) LIST_TAGS=true ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
[ "${#STEPS[@]}" -gt 0 ] || STEPS=(base runtime tendermint deps agent busybox)

cd "$REPO_ROOT"
BUILD_DIR="$REPO_ROOT/build/docker"
HOST_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"
DEBIAN_RELEASE="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
AGENT_PUBLIC_ID="valory/smpc_mnist:0.1.0"
INPUTS_LABEL="smpc.inputs"
# Image names and versions as open-autonomy's generator writes them (autonomy.constants).
# The busybox tag is written only in the Kubernetes manifest template (the init container copying a node's config).
read -r AUTONOMY_VERSION AEA_VERSION RUNTIME_IMAGE TENDERMINT_IMAGE BUSYBOX_IMAGE < <(python - <<'EOF'
import re
from aea import __version__ as aea_version
from autonomy.constants import AUTONOMY_IMAGE_NAME, AUTONOMY_IMAGE_VERSION, TENDERMINT_IMAGE_NAME, TENDERMINT_IMAGE_VERSION
from autonomy.deploy.generators.kubernetes.templates import AGENT_NODE_TEMPLATE
busybox = re.search(r'image: "?(busybox:[^"\s]+)', AGENT_NODE_TEMPLATE).group(1)
print(AUTONOMY_IMAGE_VERSION, aea_version, f"{AUTONOMY_IMAGE_NAME}:{AUTONOMY_IMAGE_VERSION}", f"{TENDERMINT_IMAGE_NAME}:{TENDERMINT_IMAGE_VERSION}", busybox)
EOF
)
ROOTFS_IMAGE="local/debian-debootstrap:$DEBIAN_RELEASE"
BASE_IMAGE="local/debian-minbase:$DEBIAN_RELEASE"
DEPS_IMAGE_NAME="local/smpc-mnist-deps"
WHEELS_DIR="$TOOLS_DIR/wheels" # the deps image's wheels, downloaded once on the host (git-ignored)
# The deps image's one layer, installed offline from the wheels bind-mounted at /wheels (mounts are not committed).
DEPS_INSTALL=(pip install --progress-bar off --no-index --find-links /wheels -c /opt/constraints.txt -r /wheels/agent-requirements.txt)
IMAGE_AUTHOR="valory" # the agent image's author; devnet/compose.py passes the same to `autonomy deploy build`

digest() { sha256sum | cut -c1-16; }                     # short digest of stdin
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
image_inputs() { docker image inspect --format "{{ index .Config.Labels \"$INPUTS_LABEL\" }}" "$1" 2>/dev/null; }
up_to_date() { [ "$(image_inputs "$1")" = "$2" ]; }       # image $1 exists and was built from inputs $2

# A fresh build context folder holding the given files (and folders).
context() {
  local dir="$BUILD_DIR/$1"
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r "$@" "$dir/"
  echo "$dir"
}

step_base() {
  local inputs dir
  inputs="$(echo "minbase $DEBIAN_RELEASE $DEBIAN_MIRROR" | digest)"
  if up_to_date "$ROOTFS_IMAGE" "$inputs"; then
    log "base: $ROOTFS_IMAGE up to date"
  else
    command -v debootstrap >/dev/null || die "debootstrap not installed: run scripts/install_docker.sh engine"
    local rootfs="$BUILD_DIR/rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    log "base: debootstrap --variant=minbase $DEBIAN_RELEASE from $DEBIAN_MIRROR"
    debootstrap --variant=minbase "$DEBIAN_RELEASE" "$rootfs" "$DEBIAN_MIRROR"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    log "base: docker import as $ROOTFS_IMAGE"
    tar -C "$rootfs" -c . | docker import --change "LABEL $INPUTS_LABEL=$inputs" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$ROOTFS_IMAGE"
    rm -rf "$rootfs"
  fi
  inputs="$( (image_id "$ROOTFS_IMAGE"; cat docker/base/Dockerfile "$HOST_CA_BUNDLE") | digest)"
  if up_to_date "$BASE_IMAGE" "$inputs"; then
    log "base: $BASE_IMAGE up to date, skipping"
    return
  fi
  dir="$(context base docker/base/Dockerfile)"
  cp "$HOST_CA_BUNDLE" "$dir/host-ca-bundle.crt"
  docker build --label "$INPUTS_LABEL=$inputs" --build-arg "ROOTFS_IMAGE=$ROOTFS_IMAGE" --tag "$BASE_IMAGE" "$dir"
  log "base: $BASE_IMAGE built"
}

step_runtime() {
  local inputs dir
  inputs="$( (image_id "$BASE_IMAGE"; cat docker/runtime/Dockerfile constraints.txt; echo "$AUTONOMY_VERSION $AEA_VERSION") | digest)"
  if up_to_date "$RUNTIME_IMAGE" "$inputs"; then
    log "runtime: $RUNTIME_IMAGE up to date, skipping"
    return
  fi
  dir="$(context runtime docker/runtime/Dockerfile constraints.txt)"
  log "runtime: building $RUNTIME_IMAGE"
  docker build --label "$INPUTS_LABEL=$inputs" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "AUTONOMY_VERSION=$AUTONOMY_VERSION" --build-arg "AEA_VERSION=$AEA_VERSION" \
    --tag "$RUNTIME_IMAGE" "$dir"
  log "runtime: $RUNTIME_IMAGE built"
}

step_tendermint() {
  local inputs dir
  [ "$("$GOBIN/tendermint" version 2>/dev/null)" = 0.34.19 ] || die "no tendermint 0.34.19 in .tools/bin: run scripts/install.sh tendermint"
  inputs="$( (image_id "$RUNTIME_IMAGE"; cat docker/tendermint/* "$GOBIN/tendermint") | digest)"
  if up_to_date "$TENDERMINT_IMAGE" "$inputs"; then
    log "tendermint: $TENDERMINT_IMAGE up to date, skipping"
    return
  fi
  dir="$(context tendermint docker/tendermint/. "$GOBIN/tendermint")"
  log "tendermint: building $TENDERMINT_IMAGE"
  docker build --label "$INPUTS_LABEL=$inputs" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
    --tag "$TENDERMINT_IMAGE" "$dir"
  log "tendermint: $TENDERMINT_IMAGE built"
}

# The agent's Python dependencies, as `aea freeze` lists them for the agent fetched from ./packages.
agent_requirements() {
  local dir="$BUILD_DIR/freeze"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && autonomy --registry-path "$REPO_ROOT/packages" fetch --local --agent "$AGENT_PUBLIC_ID" --alias agent >/dev/null &&
    cd agent && aea -s freeze) | sort
  rm -rf "$dir"
}

deps_image() { # the deps image built from the current inputs
  local requirements="$BUILD_DIR/agent-requirements.txt"
  mkdir -p "$BUILD_DIR"
  agent_requirements >"$requirements"
  echo "$DEPS_IMAGE_NAME:$( (image_id "$RUNTIME_IMAGE"; echo "${DEPS_INSTALL[*]}"; cat "$requirements") | digest)"
}

# torch and its CUDA wheels are 3 GB: `pip download` keeps them in .tools/wheels (and takes them from the host's
# pip cache when the host's install downloaded them), and the image installs from there with no index. A container
# with the wheels bind-mounted, committed, instead of `docker build`: the legacy builder (no BuildKit here) can only
# reach files through its context, which would copy the 3 GB into the engine and leave them in a layer.
step_deps() {
  local image container
  image="$(deps_image)"
  if [ -n "$(image_id "$image")" ]; then
    log "deps: $image up to date, skipping"
    return
  fi
  mkdir -p "$WHEELS_DIR"
  cp "$BUILD_DIR/agent-requirements.txt" "$WHEELS_DIR/agent-requirements.txt"
  log "deps: pip download into $WHEELS_DIR ($(wc -l <"$WHEELS_DIR/agent-requirements.txt") requirements)"
  local download=(python -m pip download --progress-bar off -c constraints.txt -r "$WHEELS_DIR/agent-requirements.txt" -d "$WHEELS_DIR")
  "${download[@]}" --no-index --find-links "$WHEELS_DIR" || "${download[@]}" # the index only when a wheel is missing
  container="smpc-deps-build" # a fixed name: a failed build's container is removed by the next one
  docker rm --force "$container" >/dev/null 2>&1 || true
  log "deps: installing offline in $container FROM $RUNTIME_IMAGE"
  docker run --name "$container" --network none --volume "$WHEELS_DIR:/wheels:ro" "$RUNTIME_IMAGE" "${DEPS_INSTALL[@]}"
  # A commit records the container's command as the image's: keep the runtime image's.
  docker commit --change "CMD $(docker image inspect --format '{{json .Config.Cmd}}' "$RUNTIME_IMAGE")" \
    "$container" "$image" >/dev/null
  docker rm "$container" >/dev/null
  log "deps: $image built"
}

agent_hash() { python -c 'import json, sys; print(json.load(open("packages/packages.json"))["dev"][sys.argv[1]])' "agent/${AGENT_PUBLIC_ID%:*}/${AGENT_PUBLIC_ID##*:}"; }
agent_image() { echo "$IMAGE_AUTHOR/oar-smpc_mnist:$(agent_hash)"; }

step_agent() {
  local deps agent_hash image inputs dir
  deps="$(deps_image)"
  [ -n "$(image_id "$deps")" ] || die "no $deps image: run scripts/docker_images.sh deps"
  agent_hash="$(agent_hash)"
  image="$(agent_image)"
  inputs="$( (image_id "$deps"; cat docker/agent/*) | digest)"
  if [ -n "$(image_id "$image")" ] && [ "$(cat "$BUILD_DIR/agent.inputs" 2>/dev/null)" = "$inputs $(image_id "$image")" ]; then
    log "agent: $image up to date, skipping"
    return
  fi
  dir="$(context agent docker/agent/. packages)"
  find "$dir/packages" -name __pycache__ -prune -exec rm -rf {} +
  log "agent: autonomy build-image $AGENT_PUBLIC_ID:$agent_hash FROM $deps"
  (cd "$dir" && AUTONOMY_IMAGE_NAME="${deps%:*}" AUTONOMY_IMAGE_VERSION="${deps##*:}" \
    autonomy build-image "$AGENT_PUBLIC_ID:$agent_hash" --image-author "$IMAGE_AUTHOR" --dockerfile "$dir/Dockerfile")
  echo "$inputs $(image_id "$image")" >"$BUILD_DIR/agent.inputs"
  log "agent: $image built"
}

step_busybox() {
  local inputs dir
  inputs="$( (image_id "$BASE_IMAGE"; cat docker/busybox/Dockerfile) | digest)"
  if up_to_date "$BUSYBOX_IMAGE" "$inputs"; then
    log "busybox: $BUSYBOX_IMAGE up to date, skipping"
    return
  fi
  dir="$(context busybox docker/busybox/Dockerfile)"
  log "busybox: building $BUSYBOX_IMAGE"
  docker build --label "$INPUTS_LABEL=$inputs" --build-arg "BASE_IMAGE=$BASE_IMAGE" --tag "$BUSYBOX_IMAGE" "$dir"
  log "busybox: $BUSYBOX_IMAGE built"
}

if "$LIST_TAGS"; then
  printf '%s\n' "$TENDERMINT_IMAGE" "$(agent_image)" "$BUSYBOX_IMAGE"
  exit 0
fi
docker info >/dev/null 2>&1 || die "no Docker engine answers: run scripts/docker_engine.sh start"
mkdir -p "$BUILD_DIR" "$DOCKER_CONFIG"
IMAGES_LOG="$DOCKER_CONFIG/images.log"
: >"$IMAGES_LOG"
for step in "${STEPS[@]}"; do
  start=$SECONDS
  mark="$(wc -l <"$IMAGES_LOG")"
  printf '[docker_images] %s ... ' "$step"
  ("step_$step") >>"$IMAGES_LOG" 2>&1 &
  if ! wait "$!"; then
    printf 'FAILED after %ss; its output (full log: %s):\n' "$((SECONDS - start))" "$IMAGES_LOG"
    tail -n "+$((mark + 1))" "$IMAGES_LOG" | tail -n 60
    exit 1
  fi
  outcome="$(tail -n "+$((mark + 1))" "$IMAGES_LOG" | sed -n "s/^\[docker_images\] $step: //p" | tail -n 1)"
  printf '%s (%ss)\n' "${outcome:-done}" "$((SECONDS - start))"
done
