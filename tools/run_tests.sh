#!/usr/bin/env bash
# Set everything up (tools/install.sh, idempotent), lint (flake8, isort) and
# run the test suite.
#   bash tools/run_tests.sh [pytest args]
# The default suite leaves out the tests marked `slow` (end-to-end runs of
# minutes each: ONNX export of every task); MMHATNET_TESTS=all runs them too.
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
SELECT=(-m "not slow")
if [ "${MMHATNET_TESTS:-}" = all ]; then SELECT=(); fi
exec "$BIN/python" -m pytest tests "${SELECT[@]}" "$@"
