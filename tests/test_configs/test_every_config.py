"""Every config in configs/ builds its model, and the model runs a training
forward (finite losses that backpropagate into the backbone) and a test
forward on a small CPU input. Released weights are not loaded (no network
here); everything else is exactly the config."""
import glob
import importlib
import os.path as osp

import pytest
import torch
from common import ROOT
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

from mmhatnet.models import HATNet
from mmhatnet_tools.paper import METHODS, ROWS
from mmhatnet_tools.zoo import config_of

# every config but the parts in _base_ folders, which only others inherit
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep))
H, W = 128, 160  # small, and neither side a multiple of G1 * 32
# the only configs with another backbone: HAT-Net's peers on the crown photos,
# the same detector with mmdet's own backbones, and on Fashion-MNIST, the
# classifiers of mmpretrain's recipes (PVTv2: mmdet's, see peer_models.py)
PEERS = {
    'configs/crowns/retinanet_r18_crowns.py': 'ResNet',
    'configs/crowns/retinanet_pvtv2_b0_crowns.py':
    'PyramidVisionTransformerV2',
    'configs/crowns/retinanet_swin_t_crowns.py': 'SwinTransformer',
    'configs/fashion_mnist/resnet18_fmnist.py': 'ResNet',
    'configs/fashion_mnist/pvtv2_b0_fmnist.py': 'TuplePVTv2',
    'configs/fashion_mnist/swin_t_fmnist.py': 'SwinTransformer',
}


def test_the_configs_are_all_there():
    # every method of the paper at every size
    wanted = {config_of(row) for row in ROWS}
    assert len(wanted) == len(METHODS) * len(HATNet.arch_zoo) == 16
    assert wanted <= set(CONFIGS)


def _build(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    imports = cfg.custom_imports['imports']
    # mmhatnet, and what a peer's config takes from beside the tools
    assert imports[0] == 'mmhatnet', path
    assert all(m.startswith('mmhatnet_tools.') for m in imports[1:]), path
    for module in imports[1:]:
        importlib.import_module(module)
    scope = cfg.default_scope
    lib = importlib.import_module(f'{scope}.utils')
    lib.register_all_modules(init_default_scope=False)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    cfg.model.backbone.init_cfg = None  # released weights: not offline
    if cfg.model.get('data_preprocessor') is None and 'data_preprocessor' in cfg:
        cfg.model.data_preprocessor = cfg.data_preprocessor  # mmpretrain
    if scope == 'mmseg':
        cfg.model.data_preprocessor.size = (H, W)  # crop size: small input
    with DefaultScope.overwrite_default_scope(scope):
        model = revert_sync_batchnorm(registry.build(cfg.model))
    return cfg, model


def _batch(cfg, rng):
    scope = cfg.default_scope
    images = [torch.randint(0, 256, (3, H, W), dtype=torch.uint8)
              for _ in range(2)]
    if scope == 'mmdet':
        from mmdet.testing import demo_mm_inputs
        head = cfg.model.get('bbox_head') or cfg.model.roi_head.bbox_head
        # demo_mm_inputs draws labels from [1, num_classes): at least 2
        packed = demo_mm_inputs(
            batch_size=2, image_shapes=[(3, H, W)] * 2, num_items=[3, 2],
            num_classes=max(2, head.num_classes),
            with_mask='mask_head' in cfg.model.get('roi_head', {}))
        packed['inputs'] = images
        for sample in packed['data_samples']:  # one class: all label 0
            labels = sample.gt_instances.labels
            labels.clamp_(max=head.num_classes - 1)
        return packed
    if scope == 'mmseg':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        num_classes = cfg.model.decode_head.num_classes
        samples = []
        for _ in images:
            sample = SegDataSample(metainfo=dict(
                img_shape=(H, W), ori_shape=(H, W), pad_shape=(H, W)))
            sample.gt_sem_seg = PixelData(data=torch.randint(
                0, num_classes, (1, H, W), generator=rng))
            samples.append(sample)
        return dict(inputs=images, data_samples=samples)
    from mmpretrain.structures import DataSample
    num_classes = cfg.model.head.num_classes
    samples = [DataSample().set_gt_label(int(torch.randint(
        num_classes, (1, ), generator=rng))) for _ in images]
    return dict(inputs=images, data_samples=samples)


@pytest.mark.parametrize('path', CONFIGS)
def test_config_trains_and_tests_on_a_small_input(path):
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(0)
    cfg, model = _build(path)
    assert type(model.backbone).__name__ == PEERS.get(path, 'HATNet')

    model.train()
    data = model.data_preprocessor(_batch(cfg, rng), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total), losses
    total.backward()
    stem = (model.backbone.stem.conv1.weight if path not in PEERS else
            next(model.backbone.parameters())).grad
    assert stem is not None and stem.abs().sum() > 0  # reaches the backbone

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(cfg, rng), False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    if cfg.default_scope == 'mmdet':
        assert 'pred_instances' in results[0]
        if 'mask_head' in cfg.model.get('roi_head', {}):
            assert 'masks' in results[0].pred_instances
    elif cfg.default_scope == 'mmseg':
        assert results[0].pred_sem_seg.data.shape[-2:] == (H, W)
    else:
        assert results[0].pred_score.shape == (cfg.model.head.num_classes, )


def test_the_toy_pretraining_drops_only_the_colour_swapping_randaugment_ops():
    """configs/toy/hatnet_tiny_in1k_toy.py keeps the real recipe's
    RandAugment but for Invert and Solarize, which swap the toy set's yellow
    crosses and blue triangles (see the config's comment)."""
    from mmpretrain.datasets.transforms.auto_augment import RANDAUG_POLICIES
    real = Config.fromfile(osp.join(ROOT, 'configs', 'hatnet_tiny_in1k.py'))
    toy = Config.fromfile(
        osp.join(ROOT, 'configs', 'toy', 'hatnet_tiny_in1k_toy.py'))

    def randaugment(cfg):
        pipeline = cfg.train_dataloader.dataset.pipeline
        return next(t for t in pipeline if t['type'] == 'RandAugment')

    assert randaugment(real)['policies'] == 'timm_increasing'
    kept = [p for p in RANDAUG_POLICIES['timm_increasing']
            if p['type'] not in ('Invert', 'Solarize')]
    toy_policies = randaugment(toy)['policies']
    assert [dict(p) for p in toy_policies] == kept
    assert len(kept) == len(RANDAUG_POLICIES['timm_increasing']) - 2
    # everything else of the transform is the real recipe's
    rest = {k: v for k, v in randaugment(real).items() if k != 'policies'}
    assert {k: v for k, v in randaugment(toy).items()
            if k != 'policies'} == rest
