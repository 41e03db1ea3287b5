# Sourced by tools/dist_{train,test}.sh and tools/slurm_{train,test}.sh (not
# run on its own): the one place that starts a tool on several processes.
#
#   torchrun_tool GPUS TOOL ARGS...   torchrun, GPUS processes per node;
#                                     NNODES, NODE_RANK, MASTER_ADDR, PORT
#   srun_tool PARTITION JOB_NAME TOOL ARGS...
#                                     srun, one task per GPU; GPUS,
#                                     GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS
#
# TOOL is a path below the repository root (tools/train.py); PYTHON picks
# the interpreter (default: python on PATH). Both put the root first on
# PYTHONPATH, so that the tool imports this checkout's mmhatnet, and exec.

LAUNCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

torchrun_tool() {
    local gpus=$1 tool=$2
    shift 2
    PYTHONPATH="$LAUNCH_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    exec "${PYTHON:-python}" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$gpus" \
        "$LAUNCH_ROOT/$tool" "$@"
}

srun_tool() {
    local partition=$1 job_name=$2 tool=$3
    shift 3
    local gpus_per_node=${GPUS_PER_NODE:-8}
    # SRUN_ARGS is split on spaces on purpose: it holds several srun options
    # shellcheck disable=SC2086
    PYTHONPATH="$LAUNCH_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    exec srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "${PYTHON:-python}" -u "$LAUNCH_ROOT/$tool" "$@"
}
