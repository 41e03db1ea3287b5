# Copyright (c) mmhatnet contributors. All rights reserved.
"""Layer-wise learning-rate decay for fine-tuning a HAT-Net backbone.

The way transformer backbones are fine-tuned (BEiT, mmpretrain's
``LearningRateDecayOptimWrapperConstructor`` for ViT/ConvNeXt): the deeper
a parameter sits, the closer its lr is to the base lr; every layer closer to
the input gets ``layer_decay_rate`` times the lr of the layer above it. The
paper does not use it, so no paper config switches it on;
``configs/toy/hatnet_tiny_in1k_layer_decay_toy.py`` shows it.
"""
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .amp import MixedPrecisionOptimWrapperConstructor

DECAY_TYPES = ('layer_wise', 'stage_wise')
PARAMWISE_KEYS = ('layer_decay_rate', 'decay_type', 'flat_decay_mult')


def hatnet_layer_depth(name: str, depths: Sequence[int],
                       decay_type: str = 'layer_wise') -> Tuple[int, int]:
    """The depth of parameter ``name`` of a HAT-Net backbone (its name
    inside the backbone, e.g. ``'stages.2.3.attn.qkv.weight'``).

    ``layer_wise``: the stem is layer 0, block ``j`` of stage ``i`` is layer
    ``1 + sum(depths[:i]) + j``, a downsampling layer belongs to the first
    block after it. ``stage_wise``: the stem is 0, stage ``i`` (with the
    downsampling before it) is ``i + 1``. Anything else of the model (neck,
    heads) is one above the last layer.

    Returns:
        tuple[int, int]: the layer's depth and the number of depths
        (layers plus the one above them).
    """
    if decay_type not in DECAY_TYPES:
        raise ValueError(f'decay_type={decay_type!r}: expected one of '
                         f'{DECAY_TYPES}')
    stage_wise = decay_type == 'stage_wise'
    num = (len(depths) if stage_wise else sum(depths)) + 2
    parts = name.split('.')
    if parts[0] == 'stem':
        return 0, num
    if parts[0] == 'stages':
        stage, block = int(parts[1]), int(parts[2])
        depth = stage + 1 if stage_wise else 1 + sum(depths[:stage]) + block
        return depth, num
    if parts[0] == 'downsample_layers':  # layer i feeds stage i + 1
        stage = int(parts[1]) + 1
        depth = stage + 1 if stage_wise else 1 + sum(depths[:stage])
        return depth, num
    return num - 1, num


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class HATNetLayerDecayOptimWrapperConstructor(
        MixedPrecisionOptimWrapperConstructor):
    """Layer-wise lr decay for a model whose ``backbone`` is a HATNet (and,
    as its base, the libraries' ``--amp`` on a CPU too).

    A parameter at depth ``d`` of ``D`` (:func:`hatnet_layer_depth`) gets
    ``lr * layer_decay_rate ** (D - 1 - d)``: the neck and heads the base
    lr, the last block ``lr * rate``, the stem the smallest lr.

    ``paramwise_cfg`` keys:

    - ``layer_decay_rate`` (float, in (0, 1]): required.
    - ``decay_type`` (str): ``'layer_wise'`` (default, one depth per block)
      or ``'stage_wise'`` (one per stage).
    - ``flat_decay_mult`` (float): weight-decay multiplier of the 1-D
      parameters (norms, biases); default 1.0 (DeiT/our paper configs use
      0.0).

    Example::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            constructor='HATNetLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.75, flat_decay_mult=0.0))
    """

    def _validate_cfg(self) -> None:
        unknown = set(self.paramwise_cfg) - set(PARAMWISE_KEYS)
        if unknown:
            raise ValueError(
                f'{type(self).__name__}: paramwise_cfg keys {sorted(unknown)} '
                f'are not supported; it takes {PARAMWISE_KEYS}')
        rate = self.paramwise_cfg.get('layer_decay_rate')
        if not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(
                f'{type(self).__name__}: paramwise_cfg.layer_decay_rate='
                f'{rate!r}; give a number in (0, 1], e.g. 0.75')
        decay_type = self.paramwise_cfg.get('decay_type', 'layer_wise')
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'{type(self).__name__}: paramwise_cfg.'
                             f'decay_type={decay_type!r}; expected one of '
                             f'{DECAY_TYPES}')
        super()._validate_cfg()

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        from mmhatnet.models import HATNet
        if is_model_wrapper(module):
            module = module.module
        backbone = getattr(module, 'backbone', None)
        if not isinstance(backbone, HATNet):
            raise TypeError(
                f'{type(self).__name__} needs a model whose backbone is a '
                f'HATNet; this one has {type(backbone).__name__}')
        rate = self.paramwise_cfg['layer_decay_rate']
        decay_type = self.paramwise_cfg.get('decay_type', 'layer_wise')
        flat_mult = self.paramwise_cfg.get('flat_decay_mult', 1.0)
        depths = backbone.arch['depths']
        wd = self.base_wd or 0.0
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue  # frozen stages
            if name.startswith('backbone.'):
                depth, num = hatnet_layer_depth(name[len('backbone.'):],
                                                depths, decay_type)
            else:
                num = hatnet_layer_depth('', depths, decay_type)[1]
                depth = num - 1
            flat = param.ndim == 1
            key = (depth, flat)
            if key not in groups:
                groups[key] = dict(
                    params=[],
                    lr=self.base_lr * rate**(num - 1 - depth),
                    weight_decay=wd * (flat_mult if flat else 1.0),
                    layer_depth=depth)
            groups[key]['params'].append(param)
        params.extend(groups[k] for k in sorted(groups))
        MMLogger.get_current_instance().info(
            f'layer-wise lr decay {rate} ({decay_type}): {len(groups)} '
            f'parameter groups, lr from {self.base_lr * rate**(num - 1):.3g}'
            f' (stem) to {self.base_lr:.3g} (neck/heads)')
