#!/usr/bin/env bash
# Build the worker image from deploy/Dockerfile and optionally push it.
#   deploy/build-image.sh [--tag reprise-worker:0.1.0] [--push REGISTRY/REPO[:TAG]]
# Prints the pushed reference (REGISTRY/REPO@sha256:…) when --push is given.
#
# The base is NODE_IMAGE (default node:20-slim). Where it cannot be pulled (a site without Docker
# Hub, like the machines Reprise is tested on) the base is made here instead: Debian bookworm from
# Debian's packages (local/debian-python:bookworm, see scripts/docker-up.sh) plus this machine's
# Node.js binary and npm. `npm ci` in the build trusts this machine's CA bundle (networks that
# re-sign TLS) in a build stage of its own, so the CA is in no layer of the image.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[build-image] %s\n' "$*" >&2; }

tag=reprise-worker:$(node -p 'require("./package.json").version')
push=
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --push) push=$2; shift 2 ;;
    *) log "unknown argument $1 (use --tag NAME:TAG, --push REGISTRY/REPO[:TAG])"; exit 2 ;;
  esac
done

[ -f dist/workflow-bundle.js ] || { log "dist/ is not built: run npm run build first"; exit 2; }

wanted=${NODE_IMAGE:-node:20-slim}
base=$wanted
if ! docker image inspect "$base" >/dev/null 2>&1 && ! docker pull -q "$base" >/dev/null 2>&1; then
  node_bin=$(command -v node)
  version=$(node -p process.versions.node)
  base=local/reprise-node:$version
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    if ldd "$node_bin" | grep -q libnode; then
      log "cannot pull $wanted and this machine's node links libnode (a distribution build): set NODE_IMAGE to a Node.js 20 image you can pull"
      exit 3
    fi
    bash scripts/docker-up.sh # makes local/debian-python:bookworm when missing
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    ctx=$(mktemp -d)
    cp "$node_bin" "$ctx/node"
    cp -r "$npm_dir" "$ctx/npm"
    cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM local/debian-python:bookworm
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home --shell /bin/sh node
DOCKERFILE
    log "cannot pull $wanted: making $base from Debian's packages and this machine's Node.js $version"
    docker build -q -t "$base" "$ctx" >/dev/null
    rm -rf "$ctx"; ctx=
  fi
fi

# A small context of its own: what the image copies, and the CA bundle for npm (deps stage only).
ctx2=$(mktemp -d)
trap 'rm -rf "$ctx2" ${ctx:+"$ctx"}' EXIT
cp package.json package-lock.json "$ctx2/"
cp -r bin dist "$ctx2/"
ca=${REPRISE_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] && cp "$ca" "$ctx2/extra-ca.pem"
log "building $tag FROM $base"
docker build -q -f deploy/Dockerfile --build-arg "NODE_IMAGE=$base" -t "$tag" "$ctx2" >/dev/null

if [ -n "$push" ]; then
  docker tag "$tag" "$push"
  docker push -q "$push" >/dev/null
  docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$push" | grep -F "${push%:*}@" | head -n1
fi
