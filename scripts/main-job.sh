#!/usr/bin/env bash
# The main job: set up the machine, create the example project, run it on local Docker through
# the embedded Temporal agent, and print the activity feed.
#   bash scripts/main-job.sh [PROJECT_DIR]      (default: ./random-walk-demo)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${1:-random-walk-demo}")"
bash "$repo/scripts/setup.sh"
export PATH="$HOME/.local/bin:$PATH"
reprise() { node "$repo/bin/run.js" "$@"; }

# No registry on some machines: use the locally built base there, a public image elsewhere.
base="${REPRISE_DEFAULT_BASE:-local/debian-python:bookworm}"

if [ ! -f "$dir/.reprise/project.yaml" ]; then
  reprise init "$dir" --name random-walk --base "$base"
  cp -R "$repo/examples/random-walk/code/." "$dir/code/"
  # numpy and matplotlib from PyPI, as a user installs them; the build trusts the CAs this machine
  # trusts, so it works behind a TLS-inspecting proxy too (build.caFile in the user config).
  (cd "$dir" && reprise env add apt python3-pip && reprise env add pip numpy==1.26.4 && reprise env add pip matplotlib==3.9.2)
fi
cd "$dir"
echo "== reprise env show"
reprise env show
echo "== reprise run -- python3 code/analysis.py --n 3"
reprise run -- python3 code/analysis.py --n 3
echo "== reprise log"
reprise log
echo "== outputs"
ls -l output/
echo "Project: $dir   (agent: reprise agent status; web UI: http://127.0.0.1:8233)"
