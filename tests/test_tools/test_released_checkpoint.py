"""A released HAT-Net ImageNet checkpoint evaluates with our in1k config as
downloaded: tools/test.py converts it on the fly, backbone and classifier."""
import os
import subprocess
import sys

import pytest
import torch
from common import ROOT
from mmengine.config import Config

from mmhatnet.apis import load_released_classifier, released_state_dict
from mmhatnet.models import load_state_dict


def _micro_model_cfg(micro_arch, g1, g2):
    """configs/hatnet_tiny_in1k.py's model with the golden micro arch."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'hatnet_tiny_in1k.py'))
    cfg.model.backbone.update(arch=micro_arch['arch'], g1=g1, g2=g2)
    cfg.model.head.update(num_classes=micro_arch['num_classes'],
                          in_channels=micro_arch['arch']['embed_dims'][-1])
    return cfg


def test_released_checkpoint_in_in1k_config_gives_official_logits(
        micro_arch, micro_checkpoint, micro_io):
    pytest.importorskip('mmpretrain')
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    case = next(c for c in micro_io if c['name'] == 'imagenet_224')
    cfg = _micro_model_cfg(micro_arch, tuple(case['grid_sizes'][:-1]),
                           tuple(case['ds_ratios'][:-1]))
    model = MODELS.build(cfg.model).eval()
    released = released_state_dict(micro_checkpoint)
    assert released is not None
    load_released_classifier(model, released, micro_checkpoint)
    with torch.no_grad():
        logits = model(case['input'])
    assert (logits - case['logits']).abs().max().item() <= 1e-5


def test_mmengine_checkpoint_is_not_taken_for_a_released_one(
        tmp_path, micro_checkpoint):
    ours = {'meta': {'epoch': 1},
            'state_dict': {'backbone.stem.conv1.weight': torch.zeros(1)}}
    torch.save(ours, tmp_path / 'epoch_1.pth')
    assert released_state_dict(str(tmp_path / 'epoch_1.pth')) is None
    # the official file, wrapped as the release wraps it, is recognised
    wrapped = {'model': {f'module.{k}': v for k, v in
                         load_state_dict(micro_checkpoint).items()}}
    torch.save(wrapped, tmp_path / 'release.pth')
    assert released_state_dict(str(tmp_path / 'release.pth')) is not None


def _run_test_py(config, checkpoint, *options, work_dir):
    return subprocess.run(
        [sys.executable, 'tools/test.py', str(config), str(checkpoint),
         '--work-dir', str(work_dir), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_test_py_evaluates_a_released_checkpoint(tmp_path, micro_arch,
                                                 micro_checkpoint):
    data = tmp_path / 'imagenet'
    subprocess.run([
        sys.executable, 'tools/dataset_converters/make_toy_data.py',
        'imagenet', str(data), '--train', '4', '--val', '4', '--size', '64'
    ], cwd=ROOT, check=True, capture_output=True)
    # the toy classifier config with the micro model the checkpoint holds
    config = tmp_path / 'micro_in1k_toy.py'
    config.write_text(
        f"_base_ = {os.path.join(ROOT, 'configs/toy/hatnet_tiny_in1k_toy.py')!r}\n"
        f"model = dict(backbone=dict(arch=dict(_delete_=True, "
        f"**{micro_arch['arch']!r})),\n"
        f"             head=dict(num_classes={micro_arch['num_classes']},\n"
        f"                       in_channels={micro_arch['arch']['embed_dims'][-1]}))\n"
        # the micro model has 10 classes; the toy images use the first 4
        f"data_preprocessor = dict(num_classes={micro_arch['num_classes']})\n"
        f"test_dataloader = dict(dataset=dict(metainfo=dict(\n"
        f"    classes=[f'class{{i}}' for i in range({micro_arch['num_classes']})])))\n")
    out = _run_test_py(
        config, micro_checkpoint, '--cfg-options',
        f'test_dataloader.dataset.data_root={data}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', work_dir=tmp_path / 'w')
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert 'loaded the released HAT-Net checkpoint' in log
    assert 'accuracy/top1:' in log


def test_released_checkpoint_with_a_detector_config_says_what_to_do(
        tmp_path, micro_checkpoint):
    out = _run_test_py(
        os.path.join(ROOT, 'configs/toy/retinanet_hatnet_tiny_toy.py'),
        micro_checkpoint, work_dir=tmp_path / 'w')
    assert out.returncode != 0
    assert 'released HAT-Net ImageNet checkpoint' in out.stderr
    assert 'hatnet_*_in1k config' in out.stderr
