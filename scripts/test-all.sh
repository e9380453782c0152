#!/usr/bin/env bash
# The whole test suite on a fresh machine (this is `npm test`): set up, bring the real clusters
# up, run every suite, tear the clusters down. A suite whose cluster does not come up fails
# with the reason; nothing is skipped silently. Exit code: 0 only when every suite passed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"

bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }

declare -a results=()
failed=0
suite() { # name, command...
  local name=$1 start=$SECONDS; shift
  echo "::: $name"
  if "$@"; then results+=("PASS  $name ($((SECONDS - start)) s)")
  else results+=("FAIL  $name ($((SECONDS - start)) s)"); failed=1; fi
}

started_clusters=()
cleanup() { for c in "${started_clusters[@]}"; do "test/infra/$c" down >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

# A cluster suite: bring the cluster up (failing the suite with the reason if it cannot), run it.
cluster_suite() { # cluster
  local c=$1
  started_clusters+=("$c")
  if ! "test/infra/$c" up; then echo "test/infra/$c up failed: see the messages above" >&2; return 1; fi
  npm run --silent "test:$c"
}

suite lint npm run --silent lint
suite typecheck npm run --silent typecheck
suite unit npm run --silent test:unit
suite integration npm run --silent test:integration
suite slurm cluster_suite slurm
suite kubernetes cluster_suite kubernetes
suite e2e npm run --silent test:e2e

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
exit $failed
