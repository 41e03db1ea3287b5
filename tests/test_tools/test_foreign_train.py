"""HAT-Net from other OpenMMLab projects: a config outside this repository
that inherits mmdet's (mmseg's) own RetinaNet (Semantic FPN) config, swaps
the backbone and loads mmhatnet only through ``custom_imports``, trains with
mmdet's (mmseg's) OWN tools/train.py and resumes with its ``--resume``.

The resume reads back an mmengine checkpoint with torch >= 2.6's
``weights_only`` default, which works only because ``import mmhatnet`` (here:
``custom_imports``) allowlists what those checkpoints hold.

The config files are the model part of the README's snippets (those are built
and compared with our configs in tests/test_docs); everything that only
makes the run small (toy data, classes, image scale, schedule) comes from
--cfg-options. Both run from ``tmp_path``, not from the repository."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest
import torch
from common import ROOT
from toy_options import coco_data_options, data_options

import mmhatnet  # noqa: F401  (this process reads the checkpoints back too)
from mmhatnet.models import HATNet
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

TINY_WIDTHS = HATNet.arch_zoo['tiny']['embed_dims']  # what the neck takes

MMDET_CONFIG = f"""\
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='HATNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    neck=dict(
        in_channels={TINY_WIDTHS},
        start_level=1,
        add_extra_convs='on_input'))
"""

MMSEG_CONFIG = f"""\
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='HATNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    neck=dict(in_channels={TINY_WIDTHS}))
"""


def _own_train_py(package):
    """The tools/train.py that ``package`` itself ships (in its .mim dir)."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f'{package} is not installed')
    path = os.path.join(list(spec.submodule_search_locations)[0], '.mim',
                        'tools', 'train.py')
    if not os.path.isfile(path):
        pytest.skip(f'{package} ships no .mim/tools/train.py')
    return path


def _toy_data(kind, out):
    subprocess.run([sys.executable, 'tools/dataset_converters/make_toy_data.py',
                    kind, str(out), '--train', '4', '--val', '2', '--size',
                    '96'], cwd=ROOT, check=True, capture_output=True)
    return out


def _train(train_py, config, work, options, *extra, cwd):
    # one OpenMP thread: with two on a busy 2-core machine an iteration of
    # these tiny models took 30x longer (threads spinning for each other)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run(
        [sys.executable, train_py, str(config), '--work-dir', str(work),
         *extra, '--cfg-options', *options],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    return log


def _state_dict(path):
    return torch.load(path, map_location='cpu', weights_only=WEIGHTS_ONLY)['state_dict']


def _assert_hatnet(state_dict):
    assert 'backbone.stem.norm.weight' in state_dict  # HAT-Net's, not ResNet's
    assert not any(k.startswith('backbone.layer1.') for k in state_dict)


def test_mmdet_own_train_py_trains_and_resumes(tmp_path):
    train_py = _own_train_py('mmdet')
    data = _toy_data('coco', tmp_path / 'toy_coco')
    config = tmp_path / 'retinanet_hatnet_tiny_coco.py'
    config.write_text(MMDET_CONFIG)
    classes = '(circle,square,triangle,cross)'
    scale = '(160,128)'  # toy images are 96 high
    options = coco_data_options(data) + [
        f'train_dataloader.dataset.metainfo.classes={classes}',
        f'val_dataloader.dataset.metainfo.classes={classes}',
        f'test_dataloader.dataset.metainfo.classes={classes}',
        'model.bbox_head.num_classes=4',
        f'train_dataloader.dataset.pipeline.2.scale={scale}',
        f'val_dataloader.dataset.pipeline.1.scale={scale}',
        f'test_dataloader.dataset.pipeline.1.scale={scale}',
        'train_dataloader.batch_size=2',  # 4 images: 2 iterations an epoch
        'optim_wrapper.optimizer.lr=0.001',  # SGD from random weights
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1',
        'model.test_cfg.score_thr=0.0',  # an untrained model's boxes count too
    ]
    work = tmp_path / 'work'
    log = _train(train_py, config, work, options + ['train_cfg.max_epochs=1'],
                 cwd=tmp_path)
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-6000:]
    assert re.search(r'coco/bbox_mAP: \d', log), log[-6000:]
    _assert_hatnet(_state_dict(work / 'epoch_1.pth'))

    # the same command with --resume and one more epoch goes on from epoch 1
    log = _train(train_py, config, work, options + ['train_cfg.max_epochs=2'],
                 '--resume', cwd=tmp_path)
    assert 'resumed epoch: 1, iter: 2' in log, log[-6000:]
    assert not re.search(r'Epoch\(train\)\s+\[1\]', log)
    assert re.search(r'Epoch\(train\)\s+\[2\]\[2/2\]', log), log[-6000:]
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        'epoch_2.pth')
    _assert_hatnet(_state_dict(work / 'epoch_2.pth'))


def test_mmseg_own_train_py_trains_and_resumes(tmp_path):
    train_py = _own_train_py('mmseg')
    data = _toy_data('ade', tmp_path / 'toy_ade')
    config = tmp_path / 'fpn_hatnet_tiny_ade20k.py'
    config.write_text(MMSEG_CONFIG)
    # the toy set is in ADE20K's layout and its labels (0 = ignore, then
    # 1..5) fit ADE20KDataset's 150 classes, so the dataset stays as it is
    crop, scale = '(64,64)', '(384,96)'  # toy images are 96 high
    options = data_options(data) + [
        f'model.data_preprocessor.size={crop}',
        f'train_dataloader.dataset.pipeline.2.scale={scale}',
        f'train_dataloader.dataset.pipeline.3.crop_size={crop}',
        f'val_dataloader.dataset.pipeline.1.scale={scale}',
        f'test_dataloader.dataset.pipeline.1.scale={scale}',
        'train_dataloader.batch_size=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1',
    ]
    work = tmp_path / 'work'
    log = _train(train_py, config, work, options + ['train_cfg.max_iters=2'],
                 cwd=tmp_path)
    assert re.search(r'Iter\(train\)\s+\[2/2\]', log), log[-6000:]
    assert re.search(r'mIoU: \d', log), log[-6000:]
    _assert_hatnet(_state_dict(work / 'iter_2.pth'))

    log = _train(train_py, config, work, options + ['train_cfg.max_iters=4'],
                 '--resume', cwd=tmp_path)
    assert 'resumed epoch: 0, iter: 2' in log, log[-6000:]
    assert not re.search(r'Iter\(train\)\s+\[[12]/4\]', log)
    assert re.search(r'Iter\(train\)\s+\[4/4\]', log), log[-6000:]
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        'iter_4.pth')
    _assert_hatnet(_state_dict(work / 'iter_4.pth'))


def test_mmseg_config_needs_pretrained_none(tmp_path):
    """Why the mmseg snippet has ``pretrained=None``: mmseg's FPN base sets
    ``model.pretrained`` to ResNet weights, which EncoderDecoder hands to the
    backbone, and HAT-Net loads its weights through init_cfg instead."""
    pytest.importorskip('mmseg')
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    config = tmp_path / 'fpn.py'
    config.write_text(MMSEG_CONFIG.replace('    pretrained=None,\n', ''))
    cfg = Config.fromfile(str(config))
    assert cfg.model.pretrained == 'open-mmlab://resnet50_v1c'
    with pytest.raises(TypeError, match='pretrained'):
        MODELS.build(cfg.model)

    config.write_text(MMSEG_CONFIG)
    model = MODELS.build(Config.fromfile(str(config)).model)
    assert type(model.backbone).__name__ == 'HATNet'
