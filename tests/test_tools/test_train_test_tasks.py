"""Every task's path in small, as a real run takes it: toy data in the real
layout -> tools/train.py (a few iterations, validation with the real metric,
a checkpoint) -> tools/test.py on that checkpoint (metric file and pictures).

One case per toy config: RetinaNet (the main job's config), Mask R-CNN,
Semantic FPN and the ImageNet classifier, HAT-Net-Tiny everywhere."""
import json
import os
import re
import subprocess
import sys

import pytest
from common import ROOT
from toy_options import data_options

TOY = os.path.join(ROOT, 'configs', 'toy')

# name: (config, toy data kind, extra --cfg-options, metrics, log line of the
# last training iteration)
CASES = {
    'retinanet': (
        'retinanet_hatnet_tiny_toy.py', 'coco', [
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1',
            # an untrained detector scores ~0.01 everywhere; keep its boxes
            # so that the COCO metric has something to evaluate
            'model.test_cfg.score_thr=0.0'
        ], ['coco/bbox_mAP'], r'Epoch\(train\)\s+\[1\]\[2/2\]'),
    'mask_rcnn': (
        'mask_rcnn_hatnet_tiny_toy.py', 'coco', [
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1',
            'model.test_cfg.rcnn.score_thr=0.0'
        ], ['coco/bbox_mAP', 'coco/segm_mAP'], r'Epoch\(train\)\s+\[1\]\[2/2\]'),
    'semantic_fpn': (
        'fpn_hatnet_tiny_toy.py', 'ade', [
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2'
        ], ['mIoU', 'aAcc'], r'Iter\(train\)\s+\[2/2\]'),
    'classifier': (
        'hatnet_tiny_in1k_toy.py', 'imagenet', [
            # 3 epochs of one batch: the warm-up (2 epochs) must end inside
            'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
            'default_hooks.checkpoint.interval=3',
            'train_dataloader.batch_size=8'
        ], ['accuracy/top1'], r'Epoch\(train\)\s+\[3\]\[1/1\]'),
}


def run(*args, timeout=900):
    out = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    """{kind: root} of small toy sets, made once for the module."""
    roots = {}
    for kind in ('coco', 'ade', 'imagenet'):
        roots[kind] = tmp_path_factory.mktemp(f'toy_{kind}')
        run('tools/dataset_converters/make_toy_data.py', kind, roots[kind],
            '--train', 8, '--val', 4, '--size', 96, '--overwrite')
    return roots


def _last_metrics(test_dir):
    results = sorted(test_dir.glob('*/*.json'))
    assert results, 'test.py wrote no metrics file'
    return json.loads(results[-1].read_text())


@pytest.mark.parametrize('case', list(CASES))
def test_train_then_test_on_toy_data(case, toy_data, tmp_path):
    config, kind, extra, metrics, last_iter = CASES[case]
    config = os.path.join(TOY, config)
    options = data_options(toy_data[kind], coco=kind == 'coco')
    options += ['train_dataloader.batch_size=4', 'default_hooks.logger.interval=1']
    options += extra  # after: the classifier's batch size wins
    work = tmp_path / 'work'
    log = run('tools/train.py', config, '--work-dir', work, '--cfg-options',
              *options)
    assert re.search(last_iter, log), log[-3000:]
    for metric in metrics:  # validation ran with the real metric
        assert re.search(rf'{re.escape(metric)}: \d', log), metric
    ckpt = work / (work / 'last_checkpoint').read_text().strip().split('/')[-1]
    assert ckpt.is_file()

    # the checkpoint the runner wrote loads back (torch>=2.6 weights_only)
    test_dir = tmp_path / 'test'
    log = run('tools/test.py', config, ckpt, '--work-dir', test_dir,
              '--show-dir', 'vis', '--cfg-options', *options)
    assert f'Load checkpoint from {ckpt}' in log
    scores = _last_metrics(test_dir)
    for metric in metrics:
        scale = 1 if metric.startswith('coco/') else 100  # mmseg/mmpretrain: %
        assert 0.0 <= scores[metric] <= scale, (metric, scores)
    pictures = [p for p in (test_dir / 'vis').rglob('*')
                if p.suffix in ('.jpg', '.png')]
    assert len(pictures) == 4, pictures  # one per val image
