#!/usr/bin/env bash
# Set everything up (tools/install.sh, idempotent), lint (flake8, isort) and
# run the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
BIN="${MMHATNET_VENV:-$ROOT/.venv}/bin"
# lint first, with the settings of setup.cfg: a style error fails the run
LINTED=(mmhatnet tools tests configs setup.py)
"$BIN/flake8" "${LINTED[@]}" || { echo "flake8 failed (see above)" >&2; exit 1; }
"$BIN/isort" --check-only --diff "${LINTED[@]}" ||
  { echo "isort failed: run $BIN/isort ${LINTED[*]}" >&2; exit 1; }
exec "$BIN/python" -m pytest tests "$@"
