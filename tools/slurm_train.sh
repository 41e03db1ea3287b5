#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU:
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#       [tools/train.py options...]
#
# PYTHON picks the interpreter (default: python on PATH).
#
# Preemption and requeue: on SIGTERM (what Slurm sends to every task before
# it kills a preempted, cancelled or timed-out job) tools/train.py finishes
# the running iteration, saves WORK_DIR/iter_N.pth, points
# WORK_DIR/last_checkpoint at it and exits with status 143 (128 + SIGTERM).
# Run it from a batch job that Slurm may requeue, with --resume and no path,
# so that the requeued job continues from the last checkpoint (and a first
# run, with no checkpoint yet, starts from scratch):
#
#   sbatch -p PARTITION --nodes=1 --ntasks=8 --gres=gpu:8 --cpus-per-task=5 \
#       --requeue --signal=TERM@120 --wrap \
#       "bash tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR --resume"
#
# (the allocation must hold what srun asks for: GPUS tasks, GPUS_PER_NODE
# GPUs per node, CPUS_PER_TASK cpus each; defaults 8, 8, 5)
#
# --requeue lets Slurm put a preempted job back in the queue (PreemptMode=
# REQUEUE); --signal=TERM@120 sends SIGTERM 120 s before the time limit, so
# a job that runs out of time saves too. Sites that requeue by exit code
# list 143 in slurm.conf's RequeueExit. The save must end within KillWait
# (30 s by default) after the signal, or the signal must come earlier.
set -euo pipefail

if [ "$#" -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR" \
         "[tools/train.py options...]" >&2
    exit 2
fi
# shellcheck source=tools/launch_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
srun_tool "$1" "$2" tools/train.py "$3" --work-dir="$4" --launcher slurm \
    "${@:5}"
