#!/usr/bin/env bash
# Set everything up (tools/install.sh, idempotent), lint (flake8, isort) and
# run the test suite, in one tested lane (docs/development.md, "Test lanes"):
#   bash tools/run_tests.sh [pytest args]                 # the default lane
#   bash tools/run_tests.sh --lane torch2.1 [pytest args] # torch 2.1.2
#   bash tools/run_tests.sh --lane latest [pytest args]   # the newest torch
#   bash tools/run_tests.sh --lane torch2.1 tests/test_models  # a part
# A lane installs its own virtual environment (.venv-<lane>) through
# tools/install.sh; the mmcv wheel cache is shared. The lite lanes
# (torch2.1-lite, latest-lite: that torch with mmcv-lite, no mm libraries)
# run the tests that need no more: the backbone's, and installing mmhatnet
# into such an environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LANE=default
case "${1:-}" in
  --lane)
    [ $# -ge 2 ] || { echo "error: --lane needs a name (default, torch2.1, torch2.1-lite, latest, latest-lite)" >&2; exit 2; }
    LANE="$2"; shift 2 ;;
  --lane=*) LANE="${1#--lane=}"; shift ;;
esac
case "$LANE" in
  default) VENV_NAME=.venv ;;
  torch2.1|torch2.1-lite|latest|latest-lite) VENV_NAME=".venv-$LANE" ;;
  *) echo "error: unknown lane '$LANE'; choose default, torch2.1, torch2.1-lite, latest or latest-lite" >&2; exit 2 ;;
esac
export MMHATNET_LANE="$LANE"
export MMHATNET_VENV="${MMHATNET_VENV:-$ROOT/$VENV_NAME}"
bash "$ROOT/tools/install.sh" --lane "$LANE"
cd "$ROOT"
BIN="$MMHATNET_VENV/bin"
if [ "$LANE" = default ]; then
  # lint first, with the settings of setup.cfg: a style error fails the run
  LINTED=(mmhatnet tools tests configs setup.py)
  "$BIN/flake8" "${LINTED[@]}" || { echo "flake8 failed (see above)" >&2; exit 1; }
  "$BIN/isort" --check-only --diff "${LINTED[@]}" ||
    { echo "isort failed: run $BIN/isort ${LINTED[*]}" >&2; exit 1; }
fi
if [ "${LANE%-lite}" != "$LANE" ]; then
  # what an environment without mmcv's ops and the mm libraries can run
  exec "$BIN/python" -m pytest -rs tests/test_models \
    tests/test_packaging/test_existing_env.py "$@"
fi
# a selection of tests given (paths under tests/) runs instead of the suite
SELECTED=0
for arg in "$@"; do case "$arg" in tests/*) SELECTED=1 ;; esac; done
[ "$SELECTED" = 1 ] && exec "$BIN/python" -m pytest -rs "$@"
exec "$BIN/python" -m pytest tests -rs "$@"
