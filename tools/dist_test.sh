#!/usr/bin/env bash
# Evaluate a checkpoint on GPUS processes per node with torchrun:
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options...]
#
# NNODES, NODE_RANK, MASTER_ADDR, PORT and PYTHON as in tools/dist_train.sh.
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py options...]" >&2
    exit 2
fi
# shellcheck source=tools/launch_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
torchrun_tool "$3" tools/test.py "$1" "$2" --launcher pytorch "${@:4}"
