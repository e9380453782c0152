#!/usr/bin/env bash
# Ensure a running Docker engine and the locally built base images (no registry here).
# Idempotent: a running engine and existing images are left as they are.
set -euo pipefail
log() { printf '[docker-up] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ -S /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null; then as_root rm -f /var/run/docker.sock; fi
  if ! pgrep -x dockerd >/dev/null; then
    log "starting dockerd"
    as_root bash -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/dockerd.log"; exit 3; }
fi

# local/busybox: 2 MB base for fast tests.
if ! docker image inspect local/busybox:latest >/dev/null 2>&1; then
  command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || \
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq busybox-static >/dev/null
  ctx=$(mktemp -d)
  cp /bin/busybox "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /home /etc && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group && touch /etc/hosts /etc/resolv.conf
DOCKERFILE
  log "building local/busybox"
  docker build -q -t local/busybox:latest "$ctx" >/dev/null
  rm -rf "$ctx"
fi

# local/debian-python:bookworm: the base Reprise projects use on machines without a registry.
if ! docker image inspect local/debian-python:bookworm >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || \
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >/dev/null
  mirror=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  rootfs=$(mktemp -d)
  log "debootstrapping debian bookworm + python3 from $mirror (about a minute)"
  as_root debootstrap --variant=minbase --include=python3 bookworm "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /tmp/debootstrap.log"; exit 1; }
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' - local/debian-python:bookworm >/dev/null
  as_root rm -rf "$rootfs"
fi
log "ready: $(docker version --format '{{.Server.Version}}')"
