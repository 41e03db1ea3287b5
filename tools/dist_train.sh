#!/usr/bin/env bash
# Train on GPUS processes per node with torchrun (torch.distributed.run):
#
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py options...]
#
# Several nodes: run it on each with the same NNODES, MASTER_ADDR and PORT
# and NODE_RANK=0..NNODES-1. PYTHON picks the interpreter (default: python
# on PATH), e.g. PYTHON=.venv/bin/python. On machines without CUDA the
# processes talk over gloo on the CPU (see mmhatnet/apis/runner.py).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py options...]" >&2
    exit 2
fi
# shellcheck source=tools/launch_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
torchrun_tool "$2" tools/train.py "$1" --launcher pytorch "${@:3}"
