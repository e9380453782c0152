#!/usr/bin/env bash
# Build and install Apptainer (unprivileged, no setuid) for the SLURM test cluster, from the Go
# module proxy (its source, github.com/apptainer/apptainer at a release) and Debian's packages
# (its C build dependencies and the tools it runs: squashfs-tools, squashfuse, fuse2fs, uidmap).
# Nothing else is downloaded.
#
#   test/infra/apptainer-install.sh     install if `$PREFIX/bin/apptainer --version` is not
#                                       the pinned version; otherwise do nothing (idempotent)
#
# Called by `test/infra/slurm up` when SLURM_APPTAINER=1. Environment:
#   REPRISE_APPTAINER_PREFIX  install prefix (default /opt/reprise/apptainer-<version>);
#                             /usr/local/bin/apptainer is linked to it
#   REPRISE_INFRA_CACHE       build directory root (default ~/.cache/reprise-infra)
# A cold build takes several minutes of Go compilation (see test/infra/README.md, "Apptainer").
set -euo pipefail

if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi

VERSION=1.4.1
MODULE=github.com/apptainer/apptainer
# The module's hash (go.sum's h1: form). The proxy reached here serves the module but its
# checksum-database mirror answers 404 for it, so the hash is pinned here and checked instead.
MODULE_SUM='h1:rkify3P3kwgkAbD1sEI04ZOPvatROgSH/wqr8EFGwZY='
PREFIX="${REPRISE_APPTAINER_PREFIX:-/opt/reprise/apptainer-$VERSION}"
CACHE="${REPRISE_INFRA_CACHE:-$HOME/.cache/reprise-infra}/apptainer"
BUILD="$CACHE/build-$VERSION"
# build: C parts and config checks; runtime: building SIF images (mksquashfs), mounting them
# unprivileged (squashfuse, fuse2fs, fusermount3), user-namespace id maps (uidmap).
PACKAGES=(build-essential pkg-config libseccomp-dev libsubid-dev cryptsetup-bin fakeroot uidmap squashfs-tools squashfuse fuse2fs fuse3)

log() { printf '[apptainer] %s\n' "$*" >&2; }
die() { printf '[apptainer] ERROR: %s\n' "$*" >&2; exit 1; }

installed() { [ "$("$PREFIX/bin/apptainer" --version 2>/dev/null)" = "apptainer version $VERSION" ]; }

# Unprivileged Apptainer mounts SIF images with squashfuse, which opens /dev/fuse as the job's
# user. On these VMs it is 0600 root (udev, which makes it 0666 on a usual Debian, does not run):
# `apptainer exec` then fails "squashfuse_ll exited: fuse: failed to open /dev/fuse: Permission denied".
link() { ln -sfn "$PREFIX/bin/apptainer" /usr/local/bin/apptainer; [ ! -c /dev/fuse ] || chmod 0666 /dev/fuse; }

if installed; then link; exit 0; fi

start=$SECONDS
mkdir -p "$CACHE"

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
  } >"$CACHE/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed; read $CACHE/apt.log"
fi

command -v go >/dev/null || die "no Go toolchain (apt-get install golang-go; Apptainer $VERSION needs Go >= 1.23.6, which the go command fetches itself with GOTOOLCHAIN=auto)"

# The source through the module proxy. Only this module skips the checksum database (see
# MODULE_SUM); its dependencies are checked against its own go.sum by the build.
log "downloading $MODULE@v$VERSION (Go module proxy)"
json=$(GONOSUMDB=$MODULE GOFLAGS=-mod=mod go mod download -json "$MODULE@v$VERSION") ||
  die "go mod download $MODULE@v$VERSION failed: $json"
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
sum=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -d "$dir" ] || die "go mod download gave no source directory: $json"
[ "$sum" = "$MODULE_SUM" ] || die "$MODULE@v$VERSION has hash $sum, expected $MODULE_SUM"

# A module zip is not a release tarball: it has no VERSION file (mconfig reads the version from
# git or VERSION) and keeps no executable bits (mconfig, makeit and the scripts are run directly).
rm -rf "$BUILD"
cp -r "$dir" "$BUILD"
chmod -R u+w "$BUILD"
echo "$VERSION" >"$BUILD/VERSION"
grep -rlI -m1 '^#!' "$BUILD" | xargs -r chmod +x

log "building Apptainer $VERSION into $PREFIX (several minutes; log: $CACHE/build.log)"
(
  cd "$BUILD"
  # --without-network: no CNI plugins (the backend does not use `--net`), a shorter build.
  ./mconfig -b builddir -p "$PREFIX" --without-suid --without-network
  cd builddir
  # Its own Go build cache: the Makefile runs `go clean -cache` before building the starter,
  # which would otherwise empty the machine's default cache that other builds rely on.
  export GOCACHE="$CACHE/go-build" GONOSUMDB=$MODULE
  nice -n 10 make
  make install
) >"$CACHE/build.log" 2>&1 || die "the build failed; its last lines:
$(tail -n 20 "$CACHE/build.log")"

installed || die "$PREFIX/bin/apptainer --version does not print $VERSION after the install"
link
rm -rf "$BUILD" "$CACHE/go-build"
log "installed $("$PREFIX/bin/apptainer" --version) in $((SECONDS - start)) s"
