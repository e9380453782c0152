#!/usr/bin/env bash
# The whole test suite on a fresh machine (this is `npm test`): set up, bring the real clusters
# up, run every suite, tear the clusters down. A suite whose cluster does not come up fails
# with the reason; nothing is skipped silently. Exit code: 0 only when every suite passed.
# Each suite's output is also kept in a log; the summary at the end repeats the last lines of
# every failed suite after it, so the reason shows where CI output is cut to its tail.
#
# To stay inside CI's time on 2 CPUs, independent work runs side by side: the test clusters come
# up (one after the other: each installs its own Debian packages) while the suites that need only
# Docker and Temporal run; then the cluster suites run in two lanes; the faults suite,
# which restarts shared daemons, runs last and alone.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"

LOG_DIR=${REPRISE_TEST_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/reprise-test-logs.XXXXXX")}
mkdir -p "$LOG_DIR"
RESULTS=$LOG_DIR/results
: >"$RESULTS"

if ! bash scripts/setup.sh 2>&1 | tee "$LOG_DIR/setup.log"; then
  echo "=== setup failed; its last lines:"; tail -n 30 "$LOG_DIR/setup.log"; exit 1
fi

# The image tests start their own registries (Debian's docker-registry, htpasswd credentials);
# the lab and dashboard tests drive Debian's headless Chromium. Installed before the clusters'
# set-up starts in the background, so only one apt-get runs at a time.
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "[test-all] installing docker-registry apache2-utils openssl chromium"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker-registry apache2-utils openssl chromium >/dev/null
fi

# Real DVC (and its S3 remote) is the external client of the data tests: from PyPI, a test tool only.
if ! PATH="$HOME/.local/bin:$PATH" dvc --version >/dev/null 2>&1; then
  echo "[test-all] installing dvc dvc-s3 (pip)"
  pkgs=(dvc==3.67.1 dvc-s3==3.3.0)   # the same fallbacks as the Temporal CLI in setup.sh
  python3 -m pip install -q --user "${pkgs[@]}" 2>/dev/null || python3 -m pip install -q "${pkgs[@]}" 2>/dev/null \
    || python3 -m pip install -q --user --break-system-packages "${pkgs[@]}" || { echo "pip install dvc failed"; exit 1; }
fi

# A real SMTP server (aiosmtpd) receives the notification tests' email: from PyPI, a test tool only.
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "[test-all] installing aiosmtpd (pip)"
  pkgs=(aiosmtpd==1.4.6)
  python3 -m pip install -q --user "${pkgs[@]}" 2>/dev/null || python3 -m pip install -q "${pkgs[@]}" 2>/dev/null \
    || python3 -m pip install -q --user --break-system-packages "${pkgs[@]}" || { echo "pip install aiosmtpd failed"; exit 1; }
fi

# Each suite has a time limit well above what it takes (its minutes below): a suite that hangs
# then fails alone, with a picture of what the machine was doing, instead of taking CI's whole time
# and leaving no trace of where it hung.
limit_of() {
  case $1 in
    lint|typecheck) echo 600 ;; unit|slurm-apptainer) echo 900 ;; integration|data-store) echo 1200 ;;
    e2e|slurm|kubernetes) echo 2700 ;; lab-vscode*) echo 1800 ;; faults) echo 1500 ;; *) echo 1800 ;;
  esac
}
# machine_picture: processes (oldest first), memory, disk and containers, for a suite past its limit.
machine_picture() {
  echo "--- processes"; ps -eo pid,ppid,etimes,pcpu,rss,args --sort=-etimes | cut -c1-240 | head -n 120
  echo "--- memory"; free -m; echo "--- disk"; df -h / /tmp
  echo "--- containers"; docker ps -a --format '{{.Names}}  {{.Image}}  {{.Status}}' 2>&1 | head -n 40
}
# limited NAME COMMAND...: COMMAND under NAME's limit. `timeout` puts it in its own process group
# and stops the whole group; the picture is taken ten seconds before, into a file (a watcher
# writing to the suite's output would hold its pipe open after the suite ends).
limited() {
  local name=$1 limit; shift; limit=$(limit_of "$name")
  local picture=$LOG_DIR/$name.picture
  rm -f "$picture"
  ( sleep $((limit - 10)) && machine_picture ) >"$picture" 2>&1 </dev/null &
  local watcher=$! code=0
  timeout -k 30 "$limit" bash -c '"$@"' "$name" "$@" || code=$?   # bash: COMMAND may be a function
  pkill -P "$watcher" sleep 2>/dev/null; kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
  if [ "$code" = 124 ]; then
    echo "[test-all] $name stopped: over its limit of $limit s; what the machine was doing ten seconds before:" >&2
    cat "$picture" >&2
  fi
  return "$code"
}
# suite NAME COMMAND...: runs it, output to the terminal and $LOG_DIR/NAME.log, one result line.
suite() {
  local name=$1 start=$SECONDS; shift
  echo "::: $name"
  if limited "$name" "$@" 2>&1 | tee "$LOG_DIR/$name.log"; then echo "PASS  $name ($((SECONDS - start)) s)" >>"$RESULTS"
  else echo "FAIL  $name ($((SECONDS - start)) s)" >>"$RESULTS"; fi
}
# quiet_suite NAME COMMAND...: the same with output only in its log (for suites run side by side),
# printed whole once it ends so the CI log stays readable.
quiet_suite() {
  local name=$1 start=$SECONDS; shift
  if limited "$name" "$@" >"$LOG_DIR/$name.log" 2>&1; then echo "PASS  $name ($((SECONDS - start)) s)" >>"$RESULTS"
  else echo "FAIL  $name ($((SECONDS - start)) s)" >>"$RESULTS"; fi
  echo "::: $name (ran side by side; its output)"; cat "$LOG_DIR/$name.log"
}

# `down` stops only what `up` started, so calling it for a cluster that never came up is harmless.
cleanup() { for c in slurm kubernetes s3; do "test/infra/$c" down >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

# cluster_up NAME: bring a test cluster up; a failed start is retried once from scratch (`down`,
# then `up`), and says so. Leaves $LOG_DIR/NAME.up (ok|failed) for its suites.
cluster_up() {
  local c=$1 start=$SECONDS
  if "test/infra/$c" up || { echo "test/infra/$c up failed; stopping what it started and trying once more" >&2; "test/infra/$c" down || true; "test/infra/$c" up; }; then
    echo ok >"$LOG_DIR/$c.up"; echo "[test-all] $c up in $((SECONDS - start)) s"
  else
    echo failed >"$LOG_DIR/$c.up"; echo "test/infra/$c up failed twice: see the messages above" >&2
  fi
}
# cluster_suite CLUSTER SCRIPT: an npm test script that needs CLUSTER; fails with the reason when
# the cluster did not come up.
cluster_suite() {
  local c=$1; shift
  if [ "$(cat "$LOG_DIR/$c.up" 2>/dev/null)" != ok ]; then echo "test/infra/$c did not come up: read $LOG_DIR/clusters.log" >&2; return 1; fi
  npm run --silent "$@"
}
export -f cluster_suite
export LOG_DIR

# The SLURM cluster comes up with Apptainer too (built from the Go module proxy: about 7.5 min
# on 2 CPUs), so both container runtimes are proven on it.
export SLURM_APPTAINER=1
( cluster_up slurm; cluster_up kubernetes ) >"$LOG_DIR/clusters.log" 2>&1 &
clusters=$!
# The object store (SeaweedFS, built from the Go module proxy, no Debian packages) beside them.
cluster_up s3 >"$LOG_DIR/s3-up.log" 2>&1 &
store=$!

suite lint npm run --silent lint
suite typecheck npm run --silent typecheck
suite unit npm run --silent test:unit
suite integration npm run --silent test:integration
suite e2e npm run --silent test:e2e

echo "::: waiting for the test clusters"
wait "$clusters" "$store"
cat "$LOG_DIR/clusters.log" "$LOG_DIR/s3-up.log"

# Two lanes side by side (suites run their files one by one, so at most two files at once).
# VS Code in the lab first builds its lab image (~10 minutes cold: code-server's native modules)
# on Docker, so it opens lane 1 and the cluster sessions that reuse the image come after: lane 1
# is VS Code on Docker, the SLURM suites, VS Code on SLURM (Charliecloud); lane 2 is Kubernetes,
# the object store's suite (which also runs on both clusters), VS Code on Kubernetes (its first
# session pushes ~1 GB of lab image layers to the cluster's registry). VS Code under Apptainer
# (its SIF build alone takes ~6.5 minutes) is on demand: npm run test:lab-vscode runs all four.
vscode() { npx vitest run --project lab-vscode "test/e2e/lab-vscode$1.test.ts"; }
export -f vscode
( quiet_suite lab-vscode vscode ''
  quiet_suite slurm cluster_suite slurm test:slurm; quiet_suite slurm-apptainer cluster_suite slurm test:slurm-apptainer
  quiet_suite lab-vscode-slurm vscode -slurm ) &
slurm=$!
( quiet_suite kubernetes cluster_suite kubernetes test:kubernetes; quiet_suite data-store cluster_suite s3 test:data-store
  quiet_suite lab-vscode-kubernetes vscode -kubernetes ) &
wait "$slurm" $!
# The faults suite's short form (one trial per fault and backend; REPRISE_FAULT_TRIALS=20 on demand):
# last, both clusters still up and dist/ built by e2e; alone, so the trials that restart shared
# daemons (dockerd, kube-apiserver) do not pull them from under other suites.
suite faults env REPRISE_FAULT_EXCLUSIVE=1 REPRISE_FAULT_REPORT="$LOG_DIR/faults-report.md" npx vitest run --project faults

strip_ansi() { sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g'; }
echo
echo "=== summary"
cat "$RESULTS"
failed=0
# Last: why each failed suite failed (its error lines, then its last lines).
for name in $(awk '$1 == "FAIL" { print $2 }' "$RESULTS"); do
  failed=1
  echo "=== $name failed (whole log: $LOG_DIR/$name.log)"
  strip_ansi <"$LOG_DIR/$name.log" | grep -E 'ERROR|Error|FAIL|failed|×' | tail -n 8 | sed 's/^/  ! /'
  strip_ansi <"$LOG_DIR/$name.log" | grep -v '^[[:space:]]*$' | tail -n 8 | sed 's/^/  | /'
done
exit $failed
