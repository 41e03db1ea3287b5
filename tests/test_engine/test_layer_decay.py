"""Layer-wise lr decay is mmpretrain's LearningRateDecayOptimWrapperConstructor
asking ``HATNet.get_layer_depth``: the lr of every HAT-Net parameter follows
its depth (stem, blocks in order, downsampling with the block after it),
heads get the base lr, 1-D parameters the flat weight-decay multiplier -- the
same lrs as the constructor of our own it replaces."""
import os.path as osp

import pytest
from common import ROOT
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmhatnet  # noqa: F401  (registers HATNet)
from mmhatnet.models import HATNet

DEPTHS = (1, 2, 1, 1)
ARCH = dict(embed_dims=[8, 16, 24, 32], head_dim=8, mlp_ratios=[2, 2, 2, 2],
            depths=list(DEPTHS), kernel_sizes=[3, 3, 3, 3])


def classifier(backbone):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='ImageClassifier', backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=4,
                      in_channels=backbone['arch']['embed_dims'][-1]
                      if isinstance(backbone['arch'], dict) else 512)))


def optimizer(model, lr, rate, weight_decay=0.1, **paramwise):
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='LearningRateDecayOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                type='OptimWrapper',
                optimizer=dict(type='AdamW', lr=lr,
                               weight_decay=weight_decay)),
            paramwise_cfg=dict(layer_decay_rate=rate, **paramwise)))(
                model).optimizer


def lr_of(optim, model):
    by_param = {}
    for group in optim.param_groups:
        for p in group['params']:
            by_param[id(p)] = (group['lr'], group['weight_decay'])
    return {n: by_param[id(p)] for n, p in model.named_parameters()
            if id(p) in by_param}


def test_depths_follow_the_network():
    # 1 + 5 blocks + 1 (heads): depths 0..6, 7 of them
    depth = HATNet(arch=ARCH, g1=(2, 2, 2), g2=(2, 2, 2)).get_layer_depth
    assert depth('stem.conv1.weight') == (0, 7)
    assert depth('stages.0.0.mlp.norm.weight') == (1, 7)
    assert depth('downsample_layers.0.conv.weight') == (2, 7)
    assert depth('stages.1.1.attn.qkv.weight') == (3, 7)
    assert depth('stages.3.0.mlp.expand.weight') == (5, 7)
    assert depth('anything.else') == (6, 7)
    assert depth('backbone.stages.1.1.attn.qkv.weight', 'backbone.') == (3, 7)
    assert depth('head.fc.weight', 'backbone.') == (6, 7)


def test_lr_and_weight_decay_per_parameter():
    model = classifier(dict(type='mmhatnet.HATNet', arch=ARCH, g1=(2, 2, 2),
                            g2=(2, 2, 2)))
    optim = optimizer(model, 1.0, 0.5, flat_decay_mult=0.0)
    got = lr_of(optim, model)
    assert got['head.fc.weight'] == (1.0, 0.1)
    assert got['head.fc.bias'] == (1.0, 0.0)
    assert got['backbone.stages.3.0.mlp.expand.weight'] == (0.5, 0.1)
    assert got['backbone.stages.1.1.attn.proj.weight'][0] == 0.5**3
    assert got['backbone.downsample_layers.0.conv.weight'][0] == 0.5**4
    assert got['backbone.stem.conv1.weight'] == (0.5**6, 0.1)
    assert got['backbone.stem.norm.weight'] == (0.5**6, 0.0)
    # every parameter is in exactly one group
    n = sum(len(g['params']) for g in optim.param_groups)
    assert n == len(list(model.parameters())) == len(got)


def test_frozen_stages_are_left_out():
    model = classifier(dict(type='mmhatnet.HATNet', arch=ARCH, g1=(2, 2, 2),
                            g2=(2, 2, 2), frozen_stages=1))
    model.train()
    got = lr_of(optimizer(model, 1.0, 0.5), model)
    assert 'backbone.stem.conv1.weight' not in got
    assert 'backbone.stages.1.0.mlp.expand.weight' in got


def expected_depths(depths):
    """Each block's depth in network order, counted here independently of
    get_layer_depth: the stem 0, then one per block; a downsampling layer
    the depth of the first block after it."""
    out, d = {'stem': 0}, 0
    for i, n in enumerate(depths):
        if i > 0:
            out[f'downsample_layers.{i - 1}'] = d + 1
        for j in range(n):
            d += 1
            out[f'stages.{i}.{j}'] = d
    return out, d + 2


def test_example_config_gives_the_lrs_it_gave_before():
    """configs/finetune/hatnet_small_in1k_layer_decay.py on HAT-Net-Small:
    the head lr 5e-4, block k of 16 ``5e-4 * 0.75 ** (17 - k)``, the stem
    ``5e-4 * 0.75 ** 17``; 1-D parameters without weight decay (what the
    constructor it replaces gave)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'finetune',
                                   'hatnet_small_in1k_layer_decay.py'))
    wrapper = cfg.optim_wrapper
    assert wrapper.constructor == 'LearningRateDecayOptimWrapperConstructor'
    assert dict(wrapper.paramwise_cfg) == dict(layer_decay_rate=0.75,
                                               flat_decay_mult=0.0)
    paper = Config.fromfile(osp.join(ROOT, 'configs', 'hatnet_small_in1k.py'))
    # the paper's config has no lr decay, only the mixed-precision opt-in
    assert paper.optim_wrapper.constructor == \
        'MixedPrecisionOptimWrapperConstructor'
    backbone = dict(cfg.model.backbone, init_cfg=None)
    model = classifier(backbone)
    optim = optimizer(model, wrapper.optimizer.lr, 0.75,
                      weight_decay=wrapper.optimizer.weight_decay,
                      flat_decay_mult=0.0)
    depth, num = expected_depths(model.backbone.arch['depths'])
    assert num == 18
    for name, (lr, wd) in lr_of(optim, model).items():
        key = name.split('.')[1] if name.startswith('backbone.stem') else \
            '.'.join(name.split('.')[1:4 if '.stages.' in name else 3])
        d = depth.get(key, num - 1) if name.startswith('backbone.') \
            else num - 1
        assert lr == pytest.approx(5e-4 * 0.75**(num - 1 - d)), name
        param = dict(model.named_parameters())[name]
        want_wd = 0.0 if param.ndim == 1 else wrapper.optimizer.weight_decay
        assert wd == pytest.approx(want_wd), name
    lrs = sorted({g['lr'] for g in optim.param_groups})
    assert lrs[0] == pytest.approx(5e-4 * 0.75**17)
    assert lrs[-1] == pytest.approx(5e-4)
    assert len(lrs) == 18
