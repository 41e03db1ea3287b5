#!/usr/bin/env bash
# The main job, HAT-Net's whole pipeline in miniature on toy data:
#   1. toy ImageNet- and COCO-style sets (tools/dataset_converters/make_toy_data.py);
#   2. pretrain a HAT-Net-Tiny classifier on the toy ImageNet set with the
#      ImageNet recipe (configs/toy/hatnet_tiny_in1k_toy.py);
#   3. fine-tune a HAT-Net-Tiny RetinaNet on the toy COCO set from that
#      checkpoint (configs/toy/retinanet_hatnet_tiny_toy_finetune.py), as a
#      COCO run starts from the released ImageNet weights;
#   4. evaluate it with the COCO metric (per-class AP too) and draw the
#      predictions; print a summary and write a contact sheet of several
#      validation images, ground truth against predictions.
#
#   bash tools/run_main_job.sh [--crowns] [--seed N] [--amp] [--no-install]
#                              [--quick] [--cfg-options KEY=VALUE ...]
#
# --crowns runs the real job instead, on human-labelled aerial photographs
#   (docs/crowns.md): 1. the deepforest wheel's tree crowns, tiled into a COCO
#   set (tools/dataset_converters/real_data.py crowns data/crowns); 2. train
#   RetinaNet with HAT-Net-Tiny from random weights
#   (configs/crowns/retinanet_hatnet_tiny_crowns.py); 3. evaluate it on the
#   held-out photograph's tiles and draw them, as step 4 above.
# --seed N (default 0) seeds the training stages; the data stay the same.
# --amp trains both stages and tests in mixed precision (bf16 autocast on a
#   CPU, see docs/user_guides/mixed_precision.md).
# --no-install skips tools/install.sh (for an environment that has everything).
# --quick runs the same pipeline on a few tiny images for a few iterations (a
#   one-minute check of a set-up; its metric means nothing).
# --cfg-options KEY=VALUE ... (last; everything after it) goes to the
#   detector's tools/train.py --cfg-options.
# --help prints this text. Any other argument is refused (one error: line,
#   exit status 2) before anything is installed or written.
# Outputs go to data/toy_{imagenet,coco}/ and work_dirs/main_job/ (with
# --crowns: data/crowns/ and work_dirs/crowns_job/; override the work dir
# with MAIN_JOB_WORK_DIR), all relative to the repository root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SEED=0
INSTALL=1
QUICK=0
CROWNS=0
AMP=()
EXTRA=()
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --seed)
      [ $# -ge 2 ] || { echo "error: --seed needs a value, e.g. --seed 1" >&2; exit 2; }
      SEED="$2"; shift 2 ;;
    --seed=*) SEED="${1#--seed=}"; shift ;;
    --crowns) CROWNS=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    --quick) QUICK=1; shift ;;
    --amp) AMP=(--amp); shift ;;
    --cfg-options)
      shift
      [ $# -ge 1 ] || { echo "error: --cfg-options needs KEY=VALUE pairs, e.g. --cfg-options train_cfg.max_epochs=2" >&2; exit 2; }
      EXTRA=("$@"); break ;;
    *)
      echo "error: unrecognized argument '$1' (bash tools/run_main_job.sh [--crowns] [--seed N] [--amp] [--no-install] [--quick] [--cfg-options KEY=VALUE ...]; --help for more)" >&2
      exit 2 ;;
  esac
done
case "$SEED" in
  ''|*[!0-9]*) echo "error: --seed must be a non-negative integer, got '$SEED'" >&2; exit 2 ;;
esac

if [ "$INSTALL" = 1 ]; then bash "$ROOT/tools/install.sh"; fi
cd "$ROOT"
PY="${MMHATNET_VENV:-$ROOT/.venv}/bin/python"
START=$(date +%s)
DET_OPTIONS=()
TEST_OPTIONS=()
if [ "$QUICK" = 1 ]; then
  # a detector trained for two iterations scores every box below 0.05
  TEST_OPTIONS=(--cfg-options model.test_cfg.score_thr=0.0)
fi

if [ "$CROWNS" = 1 ]; then
  WORK="${MAIN_JOB_WORK_DIR:-work_dirs/crowns_job}"
  DET_CONFIG=configs/crowns/retinanet_hatnet_tiny_crowns.py
  JOB='tree crowns, '
  STEPS=3
  if [ "$QUICK" = 1 ]; then
    # 8 of the 98 training tiles for one epoch (two iterations)
    DET_OPTIONS=(train_cfg.max_epochs=1 train_cfg.val_interval=1
                 train_dataloader.dataset.indices=8 model.test_cfg.score_thr=0.0)
  fi
  echo "== 1/3 tree crowns -> data/crowns"
  "$PY" tools/dataset_converters/real_data.py crowns data/crowns --overwrite
  rm -rf "$WORK"
  echo "== 2/3 training $DET_CONFIG from random weights (seed $SEED) -> $WORK/retinanet"
else
  WORK="${MAIN_JOB_WORK_DIR:-work_dirs/main_job}"
  PRETRAIN_CONFIG=configs/toy/hatnet_tiny_in1k_toy.py
  DET_CONFIG=configs/toy/retinanet_hatnet_tiny_toy_finetune.py
  JOB=''
  STEPS=4
  # image counts and sizes of the toy sets (the detector's set: objects of
  # 20-50% of the shorter side, see the fine-tuning config); --quick shrinks
  # them and the schedules
  IMAGENET_SIZES=(--train 512 --val 64 --size 128)
  COCO_SIZES=(--train 256 --val 128 --size 160 --object-size 0.2 0.5)
  PRETRAIN_OPTIONS=()
  if [ "$QUICK" = 1 ]; then
    IMAGENET_SIZES=(--train 16 --val 4 --size 64)
    COCO_SIZES=(--train 8 --val 4 --size 96 --object-size 0.2 0.5)
    PRETRAIN_OPTIONS=(train_cfg.max_epochs=3 train_cfg.val_interval=3)  # warm-up ends in epoch 2
    DET_OPTIONS=(train_cfg.max_epochs=1 train_cfg.val_interval=1 param_scheduler.0.end=2 model.test_cfg.score_thr=0.0)
  fi

  echo "== 1/4 toy data -> data/toy_imagenet, data/toy_coco"
  "$PY" tools/dataset_converters/make_toy_data.py imagenet data/toy_imagenet \
    "${IMAGENET_SIZES[@]}" --overwrite
  "$PY" tools/dataset_converters/make_toy_data.py coco data/toy_coco \
    "${COCO_SIZES[@]}" --overwrite

  rm -rf "$WORK"
  echo "== 2/4 pretraining $PRETRAIN_CONFIG (seed $SEED) -> $WORK/pretrain"
  "$PY" tools/train.py "$PRETRAIN_CONFIG" --work-dir "$WORK/pretrain" "${AMP[@]}" \
    --cfg-options randomness.seed="$SEED" "${PRETRAIN_OPTIONS[@]}"
  PRETRAINED="$WORK/pretrain/$(xargs basename < "$WORK/pretrain/last_checkpoint")"
  # the detector's backbone starts from the pretrained classifier
  DET_OPTIONS=(model.backbone.init_cfg.checkpoint="$PRETRAINED" "${DET_OPTIONS[@]}")
  echo "== 3/4 fine-tuning $DET_CONFIG from $PRETRAINED (seed $SEED) -> $WORK/retinanet"
fi
"$PY" tools/train.py "$DET_CONFIG" --work-dir "$WORK/retinanet" "${AMP[@]}" \
  --cfg-options randomness.seed="$SEED" "${DET_OPTIONS[@]}" "${EXTRA[@]}"
CKPT="$WORK/retinanet/$(xargs basename < "$WORK/retinanet/last_checkpoint")"

echo "== $STEPS/$STEPS evaluating $CKPT"
"$PY" tools/test.py "$DET_CONFIG" "$CKPT" --work-dir "$WORK/test" --show-dir vis "${AMP[@]}" \
  "${TEST_OPTIONS[@]}"

echo
echo "== Summary (${JOB}seed $SEED${AMP[@]+, mixed precision}, $(( $(date +%s) - START )) s after the install)"
"$PY" tools/analysis/summarize_test.py "$WORK/test" --images 6
if [ "$CROWNS" = 1 ]; then
  echo "data:        data/crowns"
else
  echo "pretraining: $WORK/pretrain (checkpoint $PRETRAINED)"
fi
echo "detector:    $WORK/retinanet (checkpoint $CKPT)"
