# shellcheck shell=bash
# The one place for the project's tool paths. Source it, do not run it:
#   source scripts/env.sh
# Tools are installed by scripts/install.sh under the repo root, in git-ignored folders:
#   .venv/        Python 3.11 virtualenv (requirements.txt)
#   .tools/bin/   tendermint, ipfs (kubo), anvil (symlink into .tools/node)
#   .tools/go/    Go module cache (GOPATH), .tools/go-build/ Go build cache
#   .tools/node/  npm prefix holding the anvil binary package
#   .tools/solc/  npm prefix holding solc-js (the Solidity compiler the install compiles contracts/ with)
#   .tools/docker/ the Docker CLI's config folder (DOCKER_CONFIG): the compose v2 plugin in cli-plugins/ when not root
#                 (as root it goes to Docker's system-wide /usr/local/lib/docker/cli-plugins/),
#                 the engine's log and pid files when the project started it (scripts/docker_engine.sh)
# Safe under `set -euo pipefail` and safe to source more than once.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$REPO_ROOT/.tools"
VENV_DIR="$REPO_ROOT/.venv"
export REPO_ROOT TOOLS_DIR VENV_DIR

# Go: everything (module cache, build cache, installed binaries) stays under .tools/.
export GOPATH="$TOOLS_DIR/go"
export GOMODCACHE="$TOOLS_DIR/go/pkg/mod"
export GOCACHE="$TOOLS_DIR/go-build"
export GOBIN="$TOOLS_DIR/bin"
export GOFLAGS="-modcacherw -buildvcs=false"
export GOWORK=off

# Docker: the CLI finds the compose v2 plugin built by scripts/install_docker.sh in $DOCKER_CONFIG/cli-plugins or,
# installed as root, in its system-wide folder.
export DOCKER_CONFIG="$TOOLS_DIR/docker"
export DOCKER_CLI_PLUGINS="$DOCKER_CONFIG/cli-plugins"

# The repo root is importable: scripts and tests share package modules (devnet/, packages/) without sys.path edits.
case ":${PYTHONPATH:-}:" in
  *":$REPO_ROOT:"*) ;;
  *) PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
export PYTHONPATH

case ":${PATH:-}:" in
  *":$TOOLS_DIR/bin:"*) ;;
  *) PATH="$TOOLS_DIR/bin:$VENV_DIR/bin${PATH:+:$PATH}" ;;
esac
export PATH
