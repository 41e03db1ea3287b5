# Copyright (c) mmhatnet contributors. All rights reserved.
"""Reading checkpoints and converting the released (official) HAT-Net weights.

The official ImageNet checkpoints (github.com/yun-liu/HAT-Net) name modules
``patch_embed``, ``blocks.<stage>.<i>.attn/conv``, ``ds2..ds4`` and
``classifier``. :func:`convert_official_hatnet` maps them onto
:class:`mmhatnet.models.HATNet`; it is a pure function used both when a
backbone loads an official file on the fly and by
``tools/model_converters/hatnet2mmhatnet.py``.
"""
import os
import re
from collections import OrderedDict
from typing import Dict, Optional

import torch
from torch import Tensor
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from .torch_compat import WEIGHTS_ONLY

# official module path -> ours, inside one block
_OFFICIAL_BLOCK_RENAMES = {
    'attn.norm': 'attn.norm',
    'attn.grid_norm': 'attn.local_norm',
    'attn.q': 'attn.global_q',
    'attn.ds_norm': 'attn.pool_norm',
    'attn.kv': 'attn.global_kv',
    'attn.proj': 'attn.proj',
    'conv.conv1.0': 'mlp.norm',
    'conv.conv1.1': 'mlp.expand',
    'conv.conv2.0': 'mlp.dwconv',
    'conv.conv3.0': 'mlp.reduce',
    'conv.conv3.1': 'mlp.out_norm',
}
_OFFICIAL_STEM_RENAMES = {'0': 'conv1', '1': 'norm', '3': 'conv2'}


def is_official_state_dict(state_dict: Dict[str, Tensor]) -> bool:
    """Whether ``state_dict`` uses the official HAT-Net module names."""
    return any(k.startswith(('patch_embed.', 'blocks.')) for k in state_dict)


def convert_official_hatnet(state_dict: Dict[str, Tensor],
                            with_head: bool = False) -> 'OrderedDict[str, Tensor]':
    """Convert an official HAT-Net state dict to mmhatnet names.

    Args:
        state_dict (dict): The official ``model`` state dict (no ``module.``
            prefix; see :func:`load_state_dict`).
        with_head (bool): Also convert ``classifier.1`` to ``head.fc`` and put
            the backbone under ``backbone.``, giving the state dict of an
            mmpretrain ``ImageClassifier`` with a ``LinearClsHead``. Otherwise
            the result is the backbone's state dict and the classifier is
            dropped.

    Returns:
        OrderedDict: the converted state dict.

    Dropped on purpose: ``attn.proj_norm`` of every block, a GroupNorm that the
    official ``Attention`` builds but never calls in ``forward`` (keeping it
    would leave parameters without gradients, which DDP rejects).
    Any key not understood raises ``KeyError`` so that nothing is silently
    left behind.
    """
    hierarchical = {
        m.group(1)
        for k in state_dict
        for m in [re.match(r'blocks\.(\d+\.\d+)\.attn\.grid_norm\.', k)] if m
    }
    out = OrderedDict()
    for key, value in state_dict.items():
        new = _convert_official_key(key, hierarchical, with_head)
        if new is not None:
            out[new] = value
    return out


def _convert_official_key(key: str, hierarchical: set,
                          with_head: bool) -> Optional[str]:
    prefix = 'backbone.' if with_head else ''
    m = re.fullmatch(r'patch_embed\.(\d+)\.(weight|bias)', key)
    if m and m.group(1) in _OFFICIAL_STEM_RENAMES:
        return f'{prefix}stem.{_OFFICIAL_STEM_RENAMES[m.group(1)]}.{m.group(2)}'
    m = re.fullmatch(r'ds(\d+)\.(conv|norm)\.(weight|bias)', key)
    if m and int(m.group(1)) >= 2:
        return (f'{prefix}downsample_layers.{int(m.group(1)) - 2}.'
                f'{m.group(2)}.{m.group(3)}')
    m = re.fullmatch(r'blocks\.(\d+)\.(\d+)\.(.+)\.(weight|bias)', key)
    if m:
        stage, idx, module, param = m.groups()
        where = f'{prefix}stages.{stage}.{idx}'
        if module == 'attn.proj_norm':
            return None
        if module == 'attn.qkv':
            hier = f'{stage}.{idx}' in hierarchical
            return f'{where}.attn.{"local_qkv" if hier else "qkv"}.{param}'
        if module in _OFFICIAL_BLOCK_RENAMES:
            return f'{where}.{_OFFICIAL_BLOCK_RENAMES[module]}.{param}'
    m = re.fullmatch(r'classifier\.1\.(weight|bias)', key)
    if m:
        return f'head.fc.{m.group(1)}' if with_head else None
    raise KeyError(f'{key!r} is not a key of an official HAT-Net checkpoint; '
                   f'is this file a HAT-Net ImageNet checkpoint?')


def official_keys_not_understood(state_dict: Dict[str, Tensor]) -> list:
    """The keys of ``state_dict`` that :func:`convert_official_hatnet` does
    not know (it would raise ``KeyError`` on the first one)."""
    unknown = []
    for key in state_dict:
        try:
            _convert_official_key(key, set(), with_head=False)
        except KeyError:
            unknown.append(key)
    return unknown


def load_state_dict(filename: str,
                    map_location: str = 'cpu') -> 'OrderedDict[str, Tensor]':
    """Read a checkpoint safely and return its bare state dict.

    Accepts a local path or an http(s) URL. The file is read with
    ``weights_only=True`` (no code runs); a ``model`` or ``state_dict``
    wrapper is unwrapped and a leading ``module.`` (DataParallel/DDP) prefix
    is removed.
    """
    if filename.startswith(('http://', 'https://')):
        ckpt = torch.hub.load_state_dict_from_url(
            filename, map_location=map_location, weights_only=True)
    else:
        if not os.path.isfile(filename):
            raise FileNotFoundError(
                f'checkpoint {filename!r} does not exist; check the path in '
                f'init_cfg=dict(type="Pretrained", checkpoint=...)')
        try:
            ckpt = torch.load(filename, map_location=map_location,
                              weights_only=WEIGHTS_ONLY)
        except Exception as e:  # truncated, not a checkpoint, pickled code
            cause = (str(e).strip().splitlines() or [''])[0]
            cause = cause.split('. ')[0][:150]
            with open(filename, 'rb') as f:
                head = f.read(2)
            if head == b'PK' or head[:1] == b'\x80':  # zip / legacy pickle
                what = ('the file is damaged or truncated (download it again)'
                        ' or holds objects other than tensors')
            else:
                what = 'the file is not a PyTorch checkpoint at all'
            raise RuntimeError(
                f'could not read {filename!r} as a PyTorch checkpoint '
                f'({type(e).__name__}: {cause}); {what}') from None
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
            break
    if not isinstance(ckpt, dict) or not all(
            torch.is_tensor(v) for v in ckpt.values()):
        raise RuntimeError(f'{filename!r} holds no state dict of tensors; '
                           f'is it a model checkpoint?')
    if not ckpt:
        raise RuntimeError(f'{filename!r} holds an empty state dict; is it a '
                           f'model checkpoint?')
    ckpt = OrderedDict(ckpt)
    consume_prefix_in_state_dict_if_present(ckpt, 'module.')
    return ckpt
