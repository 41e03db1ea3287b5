"""The main job's path, small: toy COCO -> tools/train.py -> tools/test.py
with the real COCO metric, on the config the main job uses."""
import json
import os
import re
import subprocess
import sys

import pytest
from toy_options import coco_data_options

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
CONFIG = os.path.join(ROOT, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')


def run(*args, timeout=600):
    out = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


@pytest.fixture(scope='module')
def toy_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_coco')
    run('tools/dataset_converters/make_toy_data.py', 'coco', root,
        '--train', 8, '--val', 4, '--size', 96, '--overwrite')
    return root


def test_train_then_test_retinanet_on_toy_coco(toy_coco, tmp_path):
    options = coco_data_options(toy_coco) + [
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
        # an untrained RetinaNet scores ~0.01 everywhere; keep its boxes so
        # that the COCO metric has something to evaluate
        'model.test_cfg.score_thr=0.0',
    ]
    work = tmp_path / 'work'
    log = run('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
              *options)
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert 'coco/bbox_mAP' in log
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()

    # the checkpoint the runner wrote loads back (torch>=2.6 weights_only)
    log = run('tools/test.py', CONFIG, ckpt, '--work-dir', tmp_path / 'test',
              '--show-dir', 'vis', '--cfg-options', *options)
    assert 'coco/bbox_mAP' in log
    results = list((tmp_path / 'test').glob('*/*.json'))
    assert results, 'test.py wrote no metrics file'
    metrics = json.loads(results[0].read_text())
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    pictures = list((tmp_path / 'test').glob('*/vis/*.jpg'))
    assert len(pictures) == 4  # one per val image
