#!/usr/bin/env bash
# Set everything up (tools/install.sh, idempotent) and run the test suite.
#   bash tools/run_tests.sh [pytest args]
# The default suite leaves out the tests marked `slow` (end-to-end runs of
# minutes each: ONNX export of every task, --amp training);
# MMHATNET_TESTS=all runs them too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
SELECT=(-m "not slow")
if [ "${MMHATNET_TESTS:-}" = all ]; then SELECT=(); fi
exec "${MMHATNET_VENV:-$ROOT/.venv}/bin/python" -m pytest tests "${SELECT[@]}" "$@"
