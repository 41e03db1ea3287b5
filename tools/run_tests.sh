#!/usr/bin/env bash
# Set everything up (tools/install.sh, idempotent) and run the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
exec "${MMHATNET_VENV:-$ROOT/.venv}/bin/python" -m pytest tests "$@"
