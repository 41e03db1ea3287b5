#!/usr/bin/env bash
# The main job: set everything up, generate the toy COCO set, train a HAT-Net
# RetinaNet on it with tools/train.py, evaluate it with tools/test.py (COCO
# bbox mAP) and draw its predictions.
#   bash tools/run_main_job.sh [extra --cfg-options for training]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
PY="${MMHATNET_VENV:-$ROOT/.venv}/bin/python"
CONFIG=configs/toy/retinanet_hatnet_tiny_toy.py
DATA=data/toy_coco
WORK=work_dirs/retinanet_hatnet_tiny_toy

echo "== 1/3 toy COCO data -> $DATA"
"$PY" tools/dataset_converters/make_toy_data.py coco "$DATA" --overwrite

echo "== 2/3 training $CONFIG -> $WORK"
rm -rf "$WORK"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK" "$@"
CKPT="$WORK/$(cat "$WORK/last_checkpoint" | xargs basename)"

echo "== 3/3 evaluating $CKPT"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK/test" --show-dir vis

echo
echo "Done."
echo "  data:        $ROOT/$DATA"
echo "  training log and checkpoints: $ROOT/$WORK"
echo "  test metrics (COCO bbox mAP): the 'coco/bbox_mAP' lines above and $ROOT/$WORK/test/*/*.json"
echo "  pictures of the predictions: $ROOT/$WORK/test/vis"
