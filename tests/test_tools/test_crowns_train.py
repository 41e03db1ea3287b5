"""The crown detector's path in small, on the real photographs: tiles of the
deepforest wheel (tools/dataset_converters/real_data.py) -> tools/train.py
with configs/crowns/retinanet_hatnet_tiny_crowns.py (shallow HAT-Net, a few
iterations on a few tiles, validation with the COCO metric) -> tools/test.py
on the checkpoint (the metric file and one picture per tile)."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
from common import ROOT, load_tool
from PIL import Image
from toy_options import data_options, shallow_config

CONFIG = osp.join(ROOT, 'configs', 'crowns', 'retinanet_hatnet_tiny_crowns.py')
TRAIN_TILES, VAL_TILES = 8, 2

tool = load_tool('dataset_converters/real_data.py')


def run(*args, timeout=600):
    out = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


def _keep(path, count):
    """Keep the first ``count`` tiles with crowns of a COCO json."""
    with open(path) as f:
        data = json.load(f)
    with_crowns = {a['image_id'] for a in data['annotations']}
    images = [i for i in data['images'] if i['id'] in with_crowns][:count]
    ids = {i['id'] for i in images}
    data['images'] = images
    data['annotations'] = [a for a in data['annotations']
                           if a['image_id'] in ids]
    with open(path, 'w') as f:
        json.dump(data, f)
    return len(data['annotations'])


@pytest.fixture(scope='module')
def few_tiles(tmp_path_factory):
    root = tmp_path_factory.mktemp('crowns') / 'set'
    tool.make_crowns(str(root))  # the wheel: downloaded once into the cache
    ann = root / 'annotations'
    crowns = (_keep(ann / 'instances_train.json', TRAIN_TILES),
              _keep(ann / 'instances_val.json', VAL_TILES))
    assert min(crowns) > 10
    return root


def test_train_then_test_on_real_tiles(few_tiles, tmp_path):
    config = tmp_path / 'shallow_crowns.py'
    config.write_text(shallow_config(CONFIG))
    val_ann = few_tiles / 'annotations' / 'instances_val.json'
    options = data_options(few_tiles) + [
        f'val_evaluator.ann_file={val_ann}',
        f'test_evaluator.ann_file={val_ann}',
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
        # a detector of 4 iterations scores low everywhere; keep its boxes
        # so that the COCO metric has something to evaluate
        'model.test_cfg.score_thr=0.0'
    ]
    work = tmp_path / 'work'
    log = run('tools/train.py', config, '--work-dir', work, '--cfg-options',
              *options)
    # 8 tiles at batch 4: two iterations an epoch, finite losses
    assert re.search(r'Epoch\(train\)\s+\[2\]\[2/2\]', log), log[-3000:]
    losses = [float(x) for x in re.findall(r' loss: ([-\d.e+naif]+)', log)]
    assert len(losses) == 4 and all(0 < x < 100 for x in losses), losses
    assert re.search(r'coco/bbox_mAP_50: \d', log), log[-3000:]
    ckpt = work / (work / 'last_checkpoint').read_text().strip().split('/')[-1]
    assert ckpt.is_file()

    test_dir = tmp_path / 'test'
    log = run('tools/test.py', config, ckpt, '--work-dir', test_dir,
              '--show-dir', 'vis', '--cfg-options', *options)
    results = sorted(test_dir.glob('*/*.json'))
    assert results, log[-3000:]
    scores = json.loads(results[-1].read_text())
    for metric in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_s'):
        assert 0.0 <= scores[metric] <= 1.0, (metric, scores)
    pictures = sorted(p for p in (test_dir / 'vis').rglob('*.png'))
    assert len(pictures) == VAL_TILES, pictures
    with Image.open(pictures[0]) as im:
        # the ground truth and the prediction side by side
        assert im.size == (2 * 320, 320)
