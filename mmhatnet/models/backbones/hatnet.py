# Copyright (c) mmhatnet contributors. All rights reserved.
"""HAT-Net: Vision Transformers with Hierarchical Attention (Liu et al.,
Machine Intelligence Research 2024)."""
import re
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, trunc_normal_init
from mmengine.registry import MODELS
from torch import Tensor

from ..layers import HATBlock
from ..utils import (convert_official_hatnet, diff_state_dict,
                     is_official_state_dict, load_state_dict)
from ..utils.official_checkpoint import official_keys_not_understood
from ..utils.torch_compat import (GROUPNORM_CHANNELS_LAST_BACKWARD_CRASHES,
                                  is_compiling)

STEM_CHANNELS = 16  # width of the first stem conv in every released model
_OUR_PREFIXES = ('stem.', 'downsample_layers.', 'stages.')  # our key names


@MODELS.register_module()
class HATNet(BaseModule):
    """HAT-Net backbone.

    A conv stem (two stride-2 3x3 convs) brings the image to stride 4; four
    stages of HAT blocks follow, with a stride-2 3x3 conv + GroupNorm in front
    of stages 2-4. The first three stages use H-MHSA
    (:class:`~mmhatnet.models.layers.HierarchicalAttention`), the last one
    plain MHSA. Every norm is a GroupNorm with one group; activations are SiLU.

    Args:
        arch (str | dict): One of ``'tiny'``, ``'small'``, ``'medium'``,
            ``'large'`` (Table 1 of the paper and the released weights), or a
            dict with keys ``embed_dims``, ``head_dim``, ``mlp_ratios``,
            ``depths`` and ``kernel_sizes`` (the four lists one entry per
            stage). Defaults to ``'small'``.
        g1 (Sequence[int]): G1 per H-MHSA stage (one value for each stage but
            the last): the side, in tokens, of the grids inside which local
            attention is computed. Defaults to the dense-task values
            ``(8, 8, 8)``; ImageNet uses ``(8, 7, 7)``.
        g2 (Sequence[int]): G2 per H-MHSA stage: the average-pooling ratio of
            the keys/values of the global attention. Defaults to the
            dense-task values ``(16, 8, 4)``; ImageNet uses ``(8, 4, 2)``.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and
            the first k stages (downsampling included): no gradients, eval
            mode. Defaults to -1.
        drop_path_rate (float): Stochastic depth rate, growing linearly from
            0 at the first block to this value at the last. Defaults to 0.1.
        with_cp (bool): Use activation checkpointing in every block to save
            memory at the cost of speed. Defaults to False.
        last_stage_pool_to (int, optional): Opt-in, parameter-free: pool the
            last stage's keys/values (by an integer ratio, as G2 does) to at
            most this many per side, so that its cost grows linearly with the
            pixels; released weights apply unchanged. With 16, inputs up to
            512 x 512 get the plain model. None (default): the paper's MHSA.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=PATH_OR_URL[, prefix='backbone.'])`` loads a released
            (official) HAT-Net checkpoint, converting it on the fly, or one in
            our names; any other mmengine init config is used as usual; None
            gives the released code's random init (truncated normal 0.02).

    Memory layout: the input is made channels-last once and every block keeps
    it, so the outputs are ``(B, C_i, H_i, W_i)`` tensors stored channels-last
    (NHWC), as necks and heads take them; call ``.contiguous()`` on one only
    if your code needs ``.view`` on NCHW memory.

    G1 and G2 hold no parameters: they may differ between training and test,
    or from the values a checkpoint was trained with (the paper's Table 6).
    Any input size works: see the ``Note`` of ``HierarchicalAttention``.

    Input checks: ``forward`` refuses, with a message, anything but a 4-D
    floating-point ``(B, 3, H, W)`` tensor with ``H, W >= 1``; an empty batch
    gives empty outputs. Shapes only are read (no device sync; skipped under
    TorchScript, tracing and ``torch.compile``): a NaN/inf in one image makes
    all of that image's outputs NaN, and no other image's.

    Example:
        >>> import torch
        >>> from mmhatnet.models import HATNet
        >>> model = HATNet(arch='tiny').eval()
        >>> outs = model(torch.rand(1, 3, 97, 131))
        >>> [tuple(o.shape) for o in outs]
        [(1, 48, 25, 33), (1, 96, 13, 17), (1, 240, 7, 9), (1, 384, 4, 5)]
    """

    arch_zoo = {
        'tiny': dict(embed_dims=[48, 96, 240, 384], head_dim=48,
                     mlp_ratios=[8, 8, 4, 4], depths=[2, 2, 6, 3],
                     kernel_sizes=[3, 3, 3, 3]),
        'small': dict(embed_dims=[64, 128, 320, 512], head_dim=64,
                      mlp_ratios=[8, 8, 4, 4], depths=[2, 3, 8, 3],
                      kernel_sizes=[3, 3, 3, 3]),
        'medium': dict(embed_dims=[64, 128, 320, 512], head_dim=64,
                       mlp_ratios=[8, 8, 4, 4], depths=[3, 6, 18, 3],
                       kernel_sizes=[5, 3, 5, 3]),
        'large': dict(embed_dims=[64, 128, 320, 640], head_dim=64,
                      mlp_ratios=[8, 8, 4, 4], depths=[3, 8, 27, 3],
                      kernel_sizes=[3, 3, 3, 3]),
    }
    arch_keys = ('embed_dims', 'head_dim', 'mlp_ratios', 'depths',
                 'kernel_sizes')
    # ImageNet (Table 2) and dense-task (Tables 3-4) values of G1 / G2
    imagenet_g1, imagenet_g2 = (8, 7, 7), (8, 4, 2)
    dense_g1, dense_g2 = (8, 8, 8), (16, 8, 4)

    def __init__(self,
                 arch: Union[str, Dict] = 'small',
                 g1: Sequence[int] = dense_g1,
                 g2: Sequence[int] = dense_g2,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 drop_path_rate: float = 0.1,
                 with_cp: bool = False,
                 last_stage_pool_to: Optional[int] = None,
                 init_cfg: Optional[Dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        embed_dims = self.arch['embed_dims']
        depths = self.arch['depths']
        self.num_stages = len(depths)
        self.embed_dims = embed_dims
        g1, g2 = self._check_g('g1', g1), self._check_g('g2', g2)

        num_stages = self.num_stages
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, (list, tuple)):
            raise TypeError(f'out_indices must be an int or a list/tuple of '
                            f'stage indices in [0, {num_stages - 1}], got '
                            f'{out_indices!r}')
        self.out_indices = tuple(
            i + num_stages if _is_int(i) and i < 0 else i
            for i in out_indices)
        if not self.out_indices or any(
                not _is_int(i) or not 0 <= i < num_stages
                for i in self.out_indices):
            raise ValueError(f'out_indices={tuple(out_indices)} must be '
                             f'stage indices in [0, {num_stages - 1}] '
                             f'(or negative ones counted from the end)')
        if not _is_int(frozen_stages) or not (
                -1 <= frozen_stages <= num_stages):
            raise ValueError(f'frozen_stages={frozen_stages!r} must be an int '
                             f'in [-1, {num_stages}]: -1 freezes nothing, 0 '
                             f'the stem, k the stem and the first k stages')
        self.frozen_stages = frozen_stages
        last_stage_pool_to = _check_pool_to(last_stage_pool_to)

        self.stem = nn.Sequential()
        self.stem.add_module(
            'conv1', nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1))
        self.stem.add_module('norm', nn.GroupNorm(1, STEM_CHANNELS, eps=1e-6))
        self.stem.add_module('act', nn.SiLU(inplace=True))
        self.stem.add_module(
            'conv2',
            nn.Conv2d(STEM_CHANNELS, embed_dims[0], 3, stride=2, padding=1))

        self.downsample_layers = nn.ModuleList()
        for i in range(1, num_stages):
            layer = nn.Sequential()
            layer.add_module(
                'conv',
                nn.Conv2d(embed_dims[i - 1], embed_dims[i], 3, stride=2,
                          padding=1))
            layer.add_module('norm', nn.GroupNorm(1, embed_dims[i], eps=1e-6))
            self.downsample_layers.append(layer)

        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i in range(num_stages):
            hierarchical = i < num_stages - 1
            self.stages.append(nn.Sequential(*[
                HATBlock(
                    embed_dims[i],
                    self.arch['head_dim'],
                    self.arch['mlp_ratios'][i],
                    self.arch['kernel_sizes'][i],
                    g1=g1[i] if hierarchical else None,
                    g2=g2[i] if hierarchical else None,
                    pool_to=None if hierarchical else last_stage_pool_to,
                    drop_path=dpr[sum(depths[:i]) + j],
                    with_cp=with_cp) for j in range(depths[i])
            ]))
        self._freeze_stages()

    # ------------------------------------------------------------ arguments
    def _parse_arch(self, arch: Union[str, Dict]) -> Dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ValueError(f'unknown HAT-Net arch {arch!r}; choose one '
                                 f'of {sorted(self.arch_zoo)} or pass a dict '
                                 f'with keys {list(self.arch_keys)}')
            arch = self.arch_zoo[arch.lower()]
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a preset name or a dict, got '
                            f'{type(arch).__name__}')
        missing = [k for k in self.arch_keys if k not in arch]
        unknown = [k for k in arch if k not in self.arch_keys]
        if missing or unknown:
            raise ValueError(f'custom arch dict: missing keys {missing}, '
                             f'unknown keys {unknown}; it needs exactly '
                             f'{list(self.arch_keys)}')
        for key in self.arch_keys:
            if key != 'head_dim' and not isinstance(arch[key], (list, tuple)):
                raise TypeError(f'custom arch dict: {key} must be a list with '
                                f'one entry per stage, got {arch[key]!r}')
        arch = {k: (list(v) if k != 'head_dim' else v) for k, v in arch.items()}
        n = len(arch['depths'])
        if n < 1:
            raise ValueError('custom arch dict: depths is empty; give at least '
                             'one stage')
        for key in ('embed_dims', 'mlp_ratios', 'kernel_sizes'):
            if len(arch[key]) != n:
                raise ValueError(f'custom arch dict: {key} has {len(arch[key])}'
                                 f' entries but depths has {n}; give one per '
                                 f'stage')
        for key in self.arch_keys:
            values = arch[key] if key != 'head_dim' else [arch[key]]
            if any(not _is_int(v) or v < 1 for v in values):
                raise ValueError(f'custom arch dict: {key}={arch[key]} must '
                                 f'hold positive ints')
        bad = [c for c in arch['embed_dims'] if c % arch['head_dim']]
        if bad:
            raise ValueError(f'head_dim={arch["head_dim"]} does not divide the '
                             f'stage widths {bad}; choose a head_dim that '
                             f'divides every embed_dims entry')
        if any(k % 2 == 0 for k in arch['kernel_sizes']):
            raise ValueError(f'kernel_sizes={arch["kernel_sizes"]} must be odd'
                             f' (the depthwise conv keeps the map size)')
        return arch

    def _check_g(self, name: str, values: Sequence[int]) -> tuple:
        meaning = {'g1': 'G1, the local grid size',
                   'g2': 'G2, the global pooling ratio'}[name]
        n = self.num_stages - 1
        if not isinstance(values, (list, tuple)) or len(values) != n or any(
                not _is_int(v) or v < 1 for v in values):
            raise ValueError(
                f'{name} ({meaning}) must be {n} positive ints, one per H-MHSA'
                f' stage (the last stage is plain MHSA), got {values!r}; e.g. '
                f'{name}={getattr(self, "dense_" + name)} for dense tasks')
        return tuple(values)

    # ------------------------------------------------------------------ G1/G2
    @property
    def g1(self) -> tuple:
        """G1 of each H-MHSA stage (the local grid size)."""
        return tuple(stage[0].attn.g1 for stage in self.stages[:-1])

    @property
    def g2(self) -> tuple:
        """G2 of each H-MHSA stage (the global pooling ratio)."""
        return tuple(stage[0].attn.g2 for stage in self.stages[:-1])

    def set_grid_sizes(self, g1: Sequence[int], g2: Sequence[int]) -> None:
        """Change G1/G2 of a built (e.g. trained) model; no weight changes."""
        g1, g2 = self._check_g('g1', g1), self._check_g('g2', g2)
        for stage, g1_i, g2_i in zip(self.stages, g1, g2):
            for block in stage:
                block.attn.g1, block.attn.g2 = g1_i, g2_i

    @property
    def last_stage_pool_to(self) -> Optional[int]:
        """The most keys/values per side of the last stage (None: all)."""
        return self.stages[-1][0].attn.pool_to

    @last_stage_pool_to.setter
    def last_stage_pool_to(self, value: Optional[int]) -> None:
        value = _check_pool_to(value)
        for block in self.stages[-1]:
            block.attn.pool_to = value

    # --------------------------------------------------------------- forward
    def forward(self, x: Tensor) -> tuple:
        """(B, 3, H, W) -> tuple of (B, C_i, ceil(H/2**(i+2)),
        ceil(W/2**(i+2))) for i in ``out_indices``."""
        if not (torch.jit.is_scripting() or torch.jit.is_tracing()
                or is_compiling()):
            _check_input(x)
        # the one layout decision: channels-last (NHWC memory) from here on,
        # so the 1x1 convs run as plain GEMMs and the attention reshapes are
        # views (see ``layers.attention``)
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        outs = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsample_layers[i - 1](x)
            elif GROUPNORM_CHANNELS_LAST_BACKWARD_CRASHES and \
                    torch.is_grad_enabled() and not x.requires_grad and any(
                        p.requires_grad for p in stage.parameters()):
                # a frozen stem before a trainable stage: on torch <= 2.13
                # the backward of the first GroupNorm would crash on this
                # channels-last input that needs no grad; asking for its
                # grad takes the path that works (same values, same layout)
                x = x.detach().requires_grad_()
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # --------------------------------------------------------------- freezing
    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for i in range(self.frozen_stages):
            if i > 0:
                yield self.downsample_layers[i - 1]
            yield self.stages[i]

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = '') -> tuple:
        """(depth, number of depths) for mmpretrain's layer-wise lr decay:
        stem 0, block j of stage i ``1 + sum(depths[:i]) + j`` (downsampling
        with the block after it), anything else (neck, heads) the last."""
        depths, num = self.arch['depths'], sum(self.arch['depths']) + 2
        part, i, j = (param_name[len(prefix):].split('.') + ['0', '0'])[:3]
        inside = param_name.startswith(prefix)
        if not inside or part not in ('stages', 'downsample_layers'):
            return (0 if inside and part == 'stem' else num - 1), num
        stage = int(i) + (part == 'downsample_layers')
        return 1 + sum(depths[:stage]) + (int(j) if part == 'stages' else 0), num

    # ------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Random init as the released code, or load ``init_cfg``'s
        pretrained checkpoint (official or ours), converting it on the fly."""
        if self.init_cfg is None:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    trunc_normal_init(m, std=.02, bias=0.)
                elif isinstance(m, nn.GroupNorm):
                    constant_init(m, val=1.0, bias=0.)
            return
        if self.init_cfg.get('type') != 'Pretrained':
            super().init_weights()
            return
        if 'checkpoint' not in self.init_cfg:
            raise ValueError("init_cfg=dict(type='Pretrained') needs "
                             "checkpoint=PATH_OR_URL")
        state_dict = self.load_pretrained(self.init_cfg['checkpoint'],
                                          self.init_cfg.get('prefix'))
        logger = MMLogger.get_current_instance()
        logger.info(f'HATNet: loaded {len(state_dict)} tensors from '
                    f'{self.init_cfg["checkpoint"]}')

    def load_pretrained(self, checkpoint: str,
                        prefix: Optional[str] = None) -> Dict[str, Tensor]:
        """Load an official or mmhatnet checkpoint into this backbone.

        Args:
            checkpoint (str): Path or URL. Official files are converted.
            prefix (str, optional): Only keys under this prefix (e.g.
                ``'backbone.'`` of a whole detector) are used, prefix removed.

        Returns:
            dict: the state dict that was loaded.
        """
        state_dict = load_state_dict(checkpoint)
        if prefix is None and not is_official_state_dict(state_dict) and any(
                k.startswith('backbone.') for k in state_dict):
            prefix = 'backbone.'  # a whole detector/segmentor/classifier
        if prefix:
            state_dict = {
                k[len(prefix):]: v
                for k, v in state_dict.items() if k.startswith(prefix)
            }
            if not state_dict:
                raise ValueError(f'no key of {checkpoint!r} starts with '
                                 f'prefix {prefix!r}')
        if is_official_state_dict(state_dict):
            unknown = official_keys_not_understood(state_dict)
        else:
            unknown = [k for k in state_dict if not k.startswith(_OUR_PREFIXES)]
            if len(unknown) < len(state_dict):
                unknown = []  # ours, maybe of another size: checked below
        if unknown:
            what = (f'is not a HAT-Net checkpoint: none of its {len(unknown)} '
                    f'keys is a HAT-Net key' if len(unknown) == len(state_dict)
                    else f'is not a HAT-Net checkpoint: {len(unknown)} of its '
                    f'{len(state_dict)} keys are not HAT-Net keys')
            raise ValueError(
                f'{checkpoint!r} {what}, first: {unknown[:5]}; use an official'
                f' HAT-Net file or an mmhatnet one (keys stem.*, stages.*, '
                f'maybe under backbone.)')
        if is_official_state_dict(state_dict):
            state_dict = convert_official_hatnet(state_dict)
        self.check_state_dict(state_dict, checkpoint)
        self.load_state_dict(state_dict, strict=True)
        return state_dict

    def check_state_dict(self, state_dict: Dict[str, Tensor],
                         checkpoint: str) -> None:
        """Raise a ``ValueError`` that names the arch the checkpoint holds
        and the keys / shapes that differ, when ``state_dict`` (our key
        names) does not load strictly into this model; ``checkpoint`` names
        it in the message."""
        diff = diff_state_dict(self.state_dict(), state_dict)
        if not diff:
            return
        missing, unexpected = diff.missing, diff.unexpected
        mismatched = [f'{k}: checkpoint {in_ckpt} vs model {in_model}'
                      for k, in_ckpt, in_model in diff.mismatched]
        found = _describe_arch(state_dict)
        arch = next((name for name, cfg in self.arch_zoo.items()
                     if cfg == self.arch), self.arch)
        lines = [f'checkpoint {checkpoint!r} does not fit HATNet(arch={arch!r})'
                 f'; the checkpoint has {found}.']
        if mismatched:
            lines.append(f'{len(mismatched)} shape mismatches, first: ' +
                         '; '.join(mismatched[:3]))
        if missing:
            lines.append(f'{len(missing)} keys missing, first: {missing[:3]}')
        if unexpected:
            lines.append(f'{len(unexpected)} unexpected keys, first: '
                         f'{unexpected[:3]}')
        lines.append('Build the backbone with the arch the checkpoint was '
                     'trained with, or use the checkpoint of this size.')
        raise ValueError('\n'.join(lines))


def _describe_arch(state_dict: Dict[str, Tensor]) -> str:
    """Depths and widths of a state dict in our names, and the preset they
    are, e.g. "depths [2, 3, 8, 3], widths [64, 128, 320, 512] (arch='small')"."""
    depths, widths = {}, {}
    for key, value in state_dict.items():
        m = re.match(r'stages\.(\d+)\.(\d+)\.mlp\.norm\.weight$', key)
        if m:
            s, b = int(m.group(1)), int(m.group(2))
            depths[s] = max(depths.get(s, 0), b + 1)
            widths[s] = value.shape[0]
    if not depths:
        return 'no HAT-Net stage (is it a HAT-Net checkpoint at all?)'
    depths = [depths.get(s, 0) for s in range(max(depths) + 1)]
    widths = [widths.get(s, 0) for s in range(max(widths) + 1)]
    preset = next((name for name, cfg in HATNet.arch_zoo.items()
                   if cfg['depths'] == depths and cfg['embed_dims'] == widths),
                  None)
    what = f"arch='{preset}'" if preset else 'no preset'
    return f'depths {depths}, widths {widths} ({what})'


def _is_int(value) -> bool:
    """A true int: bool and float (7.5, 8.0) are not."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_pool_to(value):
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f'last_stage_pool_to={value!r} must be None (plain '
                         f'MHSA, the paper) or a positive int: the most '
                         f'keys/values per side of the last stage, e.g. 16')
    return value


def _check_input(x) -> None:
    """Shape/dtype checks of the forward input; no data is read (no sync).

    Any H, W >= 1 works (every stride-2 conv gives ceil(side / 2)), and so
    does an empty batch; NaN/inf are not looked for (see the class doc).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f'HATNet expects a torch.Tensor (B, 3, H, W), got '
                        f'{type(x).__name__}')
    if x.dim() != 4:
        hint = '; add the batch dim: x[None]' if x.dim() == 3 else ''
        raise ValueError(f'HATNet expects a 4-D input (B, 3, H, W), got shape '
                         f'{tuple(x.shape)}{hint}')
    if x.shape[1] != 3:
        raise ValueError(f'HATNet expects 3 (RGB) input channels, got '
                         f'{x.shape[1]} in shape {tuple(x.shape)}; convert '
                         f'the images to RGB (B, 3, H, W)')
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f'HATNet needs H >= 1 and W >= 1 (any size from '
                         f'1x1 works), got an empty image: shape '
                         f'{tuple(x.shape)}')
    if not x.is_floating_point():
        raise TypeError(f'HATNet expects a floating-point input, got '
                        f'{x.dtype}; convert it first, e.g. x.float()')
