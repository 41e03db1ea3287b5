"""The layer-wise lr decay constructor: the lr of every HAT-Net parameter
follows its depth (stem, blocks in order, downsampling with the block after
it), heads get the base lr, 1-D parameters the flat weight-decay multiplier;
bad settings fail with a message that names them."""
import os.path as osp

import pytest
import torch.nn as nn
from common import ROOT
from mmengine.config import Config
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

import mmhatnet  # noqa: F401  (registers the constructor)
from mmhatnet.engine import hatnet_layer_depth
from mmhatnet.models import HATNet

DEPTHS = (1, 2, 1, 1)
ARCH = dict(embed_dims=[8, 16, 24, 32], head_dim=8, mlp_ratios=[2, 2, 2, 2],
            depths=list(DEPTHS), kernel_sizes=[3, 3, 3, 3])


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = HATNet(arch=ARCH, g1=(2, 2, 2), g2=(2, 2, 2))
        self.head = nn.Linear(32, 4)


def build(rate=0.5, **paramwise):
    cfg = dict(
        type='HATNetLayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.1)),
        paramwise_cfg=dict(layer_decay_rate=rate, **paramwise))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(cfg)


def lr_of(optimizer, model):
    by_param = {}
    for group in optimizer.param_groups:
        for p in group['params']:
            by_param[id(p)] = (group['lr'], group['weight_decay'])
    return {n: by_param[id(p)] for n, p in model.named_parameters()}


def test_depths_follow_the_network():
    # 1 + 5 blocks + 1 (heads): depths 0..6, 7 of them
    assert hatnet_layer_depth('stem.conv1.weight', DEPTHS) == (0, 7)
    assert hatnet_layer_depth('stages.0.0.mlp.norm.weight', DEPTHS) == (1, 7)
    assert hatnet_layer_depth('downsample_layers.0.conv.weight',
                              DEPTHS) == (2, 7)
    assert hatnet_layer_depth('stages.1.1.attn.qkv.weight', DEPTHS) == (3, 7)
    assert hatnet_layer_depth('stages.3.0.mlp.expand.weight', DEPTHS) == (5, 7)
    assert hatnet_layer_depth('anything.else', DEPTHS) == (6, 7)
    assert hatnet_layer_depth('stages.2.0.x', DEPTHS, 'stage_wise') == (3, 6)
    assert hatnet_layer_depth('downsample_layers.2.conv.weight', DEPTHS,
                              'stage_wise') == (4, 6)


def test_lr_and_weight_decay_per_parameter():
    model = Classifier()
    wrapper = build(rate=0.5, flat_decay_mult=0.0)(model)
    got = lr_of(wrapper.optimizer, model)
    assert got['head.weight'] == (1.0, 0.1)
    assert got['head.bias'] == (1.0, 0.0)
    assert got['backbone.stages.3.0.mlp.expand.weight'] == (0.5, 0.1)
    assert got['backbone.stages.1.1.attn.proj.weight'][0] == 0.5**3
    assert got['backbone.downsample_layers.0.conv.weight'][0] == 0.5**4
    assert got['backbone.stem.conv1.weight'] == (0.5**6, 0.1)
    assert got['backbone.stem.norm.weight'] == (0.5**6, 0.0)
    # every parameter is in exactly one group
    n = sum(len(g['params']) for g in wrapper.optimizer.param_groups)
    assert n == len(list(model.parameters()))


def test_frozen_stages_are_left_out():
    model = Classifier()
    model.backbone = HATNet(arch=ARCH, g1=(2, 2, 2), g2=(2, 2, 2),
                            frozen_stages=1)
    wrapper = build()(model)
    grouped = {id(p) for g in wrapper.optimizer.param_groups
               for p in g['params']}
    assert id(model.backbone.stem.conv1.weight) not in grouped
    assert id(model.backbone.stages[1][0].mlp.expand.weight) in grouped


@pytest.mark.parametrize('paramwise, message', [
    (dict(layer_decay_rate=1.5), 'layer_decay_rate=1.5'),
    (dict(layer_decay_rate=0.7, decay_type='block'), "decay_type='block'"),
    (dict(layer_decay_rate=0.7, norm_decay_mult=0.0), 'norm_decay_mult'),
])
def test_bad_settings_say_which(paramwise, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(')):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='HATNetLayerDecayOptimWrapperConstructor',
            optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            paramwise_cfg=paramwise))


def test_needs_a_hatnet_backbone():
    model = nn.Module()
    model.backbone = nn.Linear(2, 2)
    with pytest.raises(TypeError, match='backbone is a HATNet'):
        build()(model)


def test_example_config_uses_it_and_paper_configs_do_not():
    example = Config.fromfile(
        osp.join(ROOT, 'configs', 'finetune',
                 'hatnet_small_in1k_layer_decay.py'))
    assert example.optim_wrapper.constructor == \
        'HATNetLayerDecayOptimWrapperConstructor'
    assert example.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    paper = Config.fromfile(osp.join(ROOT, 'configs', 'hatnet_small_in1k.py'))
    # the paper's config has no lr decay, only the mixed-precision opt-in
    assert paper.optim_wrapper.constructor == \
        'MixedPrecisionOptimWrapperConstructor'
    # the example builds its optimizer (its lrs span 0.75^14 .. 1 x lr)
    model = Classifier()
    ctor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=example.optim_wrapper.constructor,
        optim_wrapper_cfg=dict(
            optimizer=dict(type='AdamW', lr=example.optim_wrapper.optimizer.lr,
                           weight_decay=0.05)),
        paramwise_cfg=example.optim_wrapper.paramwise_cfg))
    lrs = sorted({g['lr'] for g in ctor(model).optimizer.param_groups})
    assert lrs[-1] == pytest.approx(5e-4)
    assert lrs[0] == pytest.approx(5e-4 * 0.75**6)
