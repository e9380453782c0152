#!/usr/bin/env bash
# The whole test suite on a fresh machine (this is `npm test`): set up, bring the real clusters
# up, run every suite, tear the clusters down. A suite whose cluster does not come up fails
# with the reason; nothing is skipped silently. Exit code: 0 only when every suite passed.
# Each suite's output is also kept in a log; the summary at the end repeats the last lines of
# every failed suite after it, so the reason shows where CI output is cut to its tail.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"

LOG_DIR=${REPRISE_TEST_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/reprise-test-logs.XXXXXX")}
mkdir -p "$LOG_DIR"

if ! bash scripts/setup.sh 2>&1 | tee "$LOG_DIR/setup.log"; then
  echo "=== setup failed; its last lines:"; tail -n 30 "$LOG_DIR/setup.log"; exit 1
fi

# The image tests start their own registries (Debian's docker-registry, htpasswd credentials);
# the lab tests look at JupyterLab through the tunnel with Debian's headless Chromium.
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "[test-all] installing docker-registry apache2-utils openssl chromium"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker-registry apache2-utils openssl chromium >/dev/null
fi

declare -a results=() failures=()
failed=0
suite() { # name, command...
  local name=$1 start=$SECONDS; shift
  echo "::: $name"
  if "$@" 2>&1 | tee "$LOG_DIR/$name.log"; then results+=("PASS  $name ($((SECONDS - start)) s)")
  else results+=("FAIL  $name ($((SECONDS - start)) s)"); failures+=("$name"); failed=1; fi
}

# `down` stops only what `up` started, so calling it for a cluster that never came up is harmless.
cleanup() { for c in slurm kubernetes; do "test/infra/$c" down >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

# A cluster suite: bring the cluster up (failing the suite with the reason if it cannot), run it.
# A failed start is retried once from scratch (`down`, then `up`), and says so.
cluster_suite() { # cluster
  local c=$1
  if ! "test/infra/$c" up; then
    echo "test/infra/$c up failed; stopping what it started and trying once more" >&2
    "test/infra/$c" down || true
    if ! "test/infra/$c" up; then echo "test/infra/$c up failed twice: see the messages above" >&2; return 1; fi
  fi
  npm run --silent "test:$c"
}

suite lint npm run --silent lint
suite typecheck npm run --silent typecheck
suite unit npm run --silent test:unit
suite integration npm run --silent test:integration
# The SLURM cluster comes up with Apptainer too (built from the Go module proxy: about 7.5 min
# on 2 CPUs at load 1-4), so both container runtimes are proven on it.
export SLURM_APPTAINER=1
suite slurm cluster_suite slurm
suite slurm-apptainer npm run --silent test:slurm-apptainer
suite kubernetes cluster_suite kubernetes
suite e2e npm run --silent test:e2e
# The faults suite's short form (one trial per fault and backend; REPRISE_FAULT_TRIALS=20 on demand):
# after e2e, so both clusters are still up and dist/ is built. This machine runs nothing else, so
# the trials that restart shared daemons (dockerd, kube-apiserver) do not wait for others' tests.
suite faults env REPRISE_FAULT_EXCLUSIVE=1 REPRISE_FAULT_REPORT="$LOG_DIR/faults-report.md" npx vitest run --project faults

strip_ansi() { sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g'; }
echo
echo "=== summary"
printf '%s\n' "${results[@]}"
# Last: why each failed suite failed (its error lines, then its last lines).
for name in "${failures[@]}"; do
  echo "=== $name failed (whole log: $LOG_DIR/$name.log)"
  strip_ansi <"$LOG_DIR/$name.log" | grep -E 'ERROR|Error|FAIL|failed|×' | tail -n 8 | sed 's/^/  ! /'
  strip_ansi <"$LOG_DIR/$name.log" | grep -v '^[[:space:]]*$' | tail -n 8 | sed 's/^/  | /'
done
exit $failed
