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
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
