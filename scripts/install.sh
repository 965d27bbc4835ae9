#!/usr/bin/env bash
# Install every tool the project needs, cached under the repo in git-ignored folders
# (.venv/, .tools/; paths in scripts/env.sh). Idempotent: a second run is a fast no-op.
#
#   scripts/install.sh [--smoke] [STEP ...]
#
# STEPs: python tendermint kubo anvil solc contracts browser (default: these, in that order), and docker
#        (not by default: `make run` needs no Docker): scripts/install_docker.sh, Debian's docker.io and debootstrap
#        and the compose v2 plugin built with Go, for `make deploy` (`make docker-images` runs it).
# --smoke  after installing, start an IPFS daemon and an anvil node on free localhost ports,
#          check they answer (IPFS add + cat, eth_chainId), and stop them.
# Prints one line per step; the full output of every step is in .tools/install.log (shown if a step fails).
#
# Needs: python3.11 (or $PYTHON), go >= 1.26.5 (kubo's go.mod), node/npm, curl (for --smoke), apt-get as root
# (browser step). Reaches only PyPI, the Go module proxy, the npm registry and Debian's archive.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"

PYTHON="${PYTHON:-python3.11}"
TENDERMINT_VERSION="0.34.19" # the exact version open-autonomy checks
# kubo v0.43.1 replaces go-libp2p with a fork the Go proxy does not serve; v0.43.0 has no
# replace directive. Its go.mod has exclude directives, so `go install ...@v0.43.0` refuses
# it: we build from its module directory instead (kubo as the main module, its own go.sum).
KUBO_VERSION="0.43.0"
ANVIL_VERSION="1.7.1"
SOLC_VERSION="0.8.28" # solc-js from npm; must match the pragma of contracts/*.sol

log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

SMOKE=0
STEPS=()
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    python | tendermint | kubo | anvil | solc | contracts | browser | docker) STEPS+=("$arg") ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
[ "${#STEPS[@]}" -gt 0 ] || STEPS=(python tendermint kubo anvil solc contracts browser)

mkdir -p "$GOBIN"
cd "$REPO_ROOT"

# --- Python: .venv + requirements.txt, pinned by constraints.txt (pip freeze of a working install) ---------------------------------------------------------
step_python() {
  if ! "$VENV_DIR/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=/path/to/python3.11)"
    log "creating .venv with $PYTHON"
    "$PYTHON" -m venv --clear "$VENV_DIR"
  fi
  local stamp="$VENV_DIR/.requirements.sha256" want
  want="$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python: requirements.txt and constraints.txt unchanged since last install (sha256 ${want:0:12}), skipping pip"
    return
  fi
  log "python: pip install -r requirements.txt -c constraints.txt into .venv"
  "$VENV_DIR/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    -r requirements.txt -c constraints.txt
  echo "$want" >"$stamp"
}

# --- tendermint: go install through a throwaway module (the proxy refuses @v/list) ------------
step_tendermint() {
  if [ -x "$GOBIN/tendermint" ] && [ "$("$GOBIN/tendermint" version 2>/dev/null)" = "$TENDERMINT_VERSION" ]; then
    log "tendermint: $TENDERMINT_VERSION already in .tools/bin, skipping"
    return
  fi
  command -v go >/dev/null || die "go not found"
  local src="$TOOLS_DIR/src/tendermint"
  mkdir -p "$src"
  if ! grep -qx "require github.com/tendermint/tendermint v$TENDERMINT_VERSION" "$src/go.mod" 2>/dev/null; then
    printf 'module local/tendermint-build\n\ngo 1.18\n\nrequire github.com/tendermint/tendermint v%s\n' \
      "$TENDERMINT_VERSION" >"$src/go.mod"
    rm -f "$src/go.sum"
  fi
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/tendermint/tendermint/cmd/tendermint"\n' >"$src/tools.go"
  log "tendermint: building v$TENDERMINT_VERSION (go mod tidy && go install)"
  (cd "$src" && go mod tidy && go install github.com/tendermint/tendermint/cmd/tendermint)
  [ "$("$GOBIN/tendermint" version)" = "$TENDERMINT_VERSION" ] || die "tendermint version is not $TENDERMINT_VERSION"
}

# --- kubo (ipfs): go build from the downloaded module directory ------------------------------
step_kubo() {
  if [ -x "$GOBIN/ipfs" ] && [ "$("$GOBIN/ipfs" --version 2>/dev/null)" = "ipfs version $KUBO_VERSION" ]; then
    log "kubo: ipfs $KUBO_VERSION already in .tools/bin, skipping"
    return
  fi
  command -v go >/dev/null || die "go not found"
  log "kubo: downloading github.com/ipfs/kubo@v$KUBO_VERSION"
  local dir
  dir="$(cd "$TOOLS_DIR" && go mod download -json "github.com/ipfs/kubo@v$KUBO_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$dir" ] || [ ! -f "$dir/go.sum" ]; then die "kubo module directory not found"; fi
  log "kubo: building ./cmd/ipfs in $dir"
  (cd "$dir" && go build -trimpath -o "$GOBIN/ipfs" ./cmd/ipfs)
  [ "$("$GOBIN/ipfs" --version)" = "ipfs version $KUBO_VERSION" ] || die "ipfs version is not $KUBO_VERSION"
}

anvil_version() { "$GOBIN/anvil" --version 2>/dev/null | sed -n 's/^anvil Version: \([^ ]*\).*/\1/p'; }

# --- anvil: the npm platform package carries the binary (no postinstall download) ------------
step_anvil() {
  if [ -x "$GOBIN/anvil" ] && [ "$(anvil_version)" = "$ANVIL_VERSION" ]; then
    log "anvil: $ANVIL_VERSION already in .tools/bin, skipping"
    return
  fi
  command -v npm >/dev/null || die "npm not found"
  local os arch pkg
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) die "unsupported OS $(uname -s)" ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) die "unsupported arch $(uname -m)" ;; esac
  pkg="@foundry-rs/anvil-$os-$arch"
  log "anvil: npm install $pkg@$ANVIL_VERSION into .tools/node"
  mkdir -p "$TOOLS_DIR/node"
  npm install --prefix "$TOOLS_DIR/node" --ignore-scripts --no-audit --no-fund "$pkg@$ANVIL_VERSION"
  local bin="$TOOLS_DIR/node/node_modules/$pkg/bin/anvil"
  [ -x "$bin" ] || die "anvil binary not found at $bin"
  ln -sfn "../node/node_modules/$pkg/bin/anvil" "$GOBIN/anvil"
  [ "$(anvil_version)" = "$ANVIL_VERSION" ] || die "anvil version is not $ANVIL_VERSION"
}

# --- browser: Debian's chromium and its driver, for the web page test (selenium drives them) -------
step_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    log "browser: $(chromium --version 2>/dev/null) and chromedriver already installed, skipping"
    return
  fi
  command -v apt-get >/dev/null || die "apt-get not found: install chromium and chromedriver by hand"
  log "browser: apt-get install chromium chromium-driver"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
  command -v chromedriver >/dev/null || die "chromedriver not on PATH after apt-get install"
}

# --- docker: the engine, debootstrap and compose v2 (its own script, also run alone by `make docker-images`) ----
step_docker() {
  bash "$REPO_ROOT/scripts/install_docker.sh"
  log "docker: $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), $(dockerd --version)"
}

# --- solc: solc-js (the Solidity compiler as WebAssembly) from npm, in its own prefix ----------
SOLC_DIR="$TOOLS_DIR/solc/node_modules/solc"
solc_version() { node -e "console.log(require('$SOLC_DIR').version())" 2>/dev/null | cut -d+ -f1; }

step_solc() {
  if [ -x "$GOBIN/solcjs" ] && [ "$(solc_version)" = "$SOLC_VERSION" ]; then
    log "solc: solc-js $SOLC_VERSION already in .tools/solc, skipping"
    return
  fi
  command -v npm >/dev/null || die "npm not found"
  log "solc: npm install solc@$SOLC_VERSION into .tools/solc"
  mkdir -p "$TOOLS_DIR/solc"
  npm install --prefix "$TOOLS_DIR/solc" --ignore-scripts --no-audit --no-fund "solc@$SOLC_VERSION"
  [ "$(solc_version)" = "$SOLC_VERSION" ] || die "solc-js version is not $SOLC_VERSION"
  ln -sfn "../solc/node_modules/solc/solc.js" "$GOBIN/solcjs" # the CLI, for the EZKL-generated verifier
}

# --- contracts: the project's Solidity into its contract packages' build JSON (deterministic) --
step_contracts() {
  [ "$(solc_version)" = "$SOLC_VERSION" ] || step_solc
  log "contracts: compiling contracts/ModelRegistry.sol"
  node scripts/compile_contract.js "$SOLC_DIR" contracts/ModelRegistry.sol ModelRegistry \
    packages/valory/contracts/model_registry/build/ModelRegistry.json
}

# --- smoke checks (--smoke) -------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SMOKE_PIDS=()
SMOKE_TMP=""
smoke_cleanup() {
  local pid
  for pid in "${SMOKE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -z "$SMOKE_TMP" ] || rm -rf "$SMOKE_TMP"
}
wait_for() { # wait_for CMD...: retry for up to 15 s
  local _
  for _ in $(seq 75); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
smoke() {
  trap smoke_cleanup EXIT
  SMOKE_TMP="$(mktemp -d)"
  local port cid out rpc

  port="$(free_port)"
  export IPFS_PATH="$SMOKE_TMP/ipfs"
  ipfs init --profile test >/dev/null
  ipfs config Addresses.API "/ip4/127.0.0.1/tcp/$port"
  ipfs config --json Addresses.Gateway '[]'
  ipfs daemon >"$SMOKE_TMP/ipfs.log" 2>&1 &
  SMOKE_PIDS+=("$!")
  wait_for curl -sf -X POST "http://127.0.0.1:$port/api/v0/version" || die "ipfs daemon did not start: $(tail -n 20 "$SMOKE_TMP/ipfs.log")"
  echo "smoke test $$ $(date +%s%N)" >"$SMOKE_TMP/file.txt"
  cid="$(curl -sf -X POST -F "file=@$SMOKE_TMP/file.txt" "http://127.0.0.1:$port/api/v0/add" |
    sed -n 's/.*"Hash":"\([^"]*\)".*/\1/p')"
  [ -n "$cid" ] || die "ipfs add returned no CID"
  out="$(curl -sf -X POST "http://127.0.0.1:$port/api/v0/cat?arg=$cid")"
  [ "$out" = "$(cat "$SMOKE_TMP/file.txt")" ] || die "ipfs cat did not return the added bytes"
  log "smoke: ipfs daemon on :$port added and read back $cid"

  port="$(free_port)"
  anvil --host 127.0.0.1 --port "$port" >"$SMOKE_TMP/anvil.log" 2>&1 &
  SMOKE_PIDS+=("$!")
  rpc=(curl -sf -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "http://127.0.0.1:$port")
  wait_for "${rpc[@]}" || die "anvil did not answer on :$port: $(tail -n 20 "$SMOKE_TMP/anvil.log")"
  log "smoke: anvil on :$port eth_chainId -> $("${rpc[@]}")"

  smoke_cleanup
  SMOKE_PIDS=()
  SMOKE_TMP=""
  trap - EXIT
}

# One progress line per step; each step's full output goes to INSTALL_LOG, shown only if it fails.
# The step runs as a background job and is awaited, so `set -e` still stops it at its first failing command.
INSTALL_LOG="$TOOLS_DIR/install.log"
: >"$INSTALL_LOG"
TIMES=()
for step in "${STEPS[@]}"; do
  start=$SECONDS
  mark="$(wc -l <"$INSTALL_LOG")"
  printf '[install] %s ... ' "$step"
  ("step_$step") >>"$INSTALL_LOG" 2>&1 &
  if ! wait "$!"; then
    printf 'FAILED after %ss; its output (full log: %s):\n' "$((SECONDS - start))" "$INSTALL_LOG"
    tail -n "+$((mark + 1))" "$INSTALL_LOG" | tail -n 60
    exit 1
  fi
  outcome="$(tail -n "+$((mark + 1))" "$INSTALL_LOG" | sed -n "s/^\[install\] $step: //p" | tail -n 1)"
  printf '%s (%ss)\n' "${outcome:-done}" "$((SECONDS - start))"
  TIMES+=("$step $((SECONDS - start))s")
done
[ "$SMOKE" = 0 ] || smoke
summary="$(printf '%s, ' "${TIMES[@]}")"
log "done (${summary%, }); tools in .tools/bin, source scripts/env.sh to use them"
