# Copyright (c) mmhatnet contributors. All rights reserved.
"""Does the neck (or head) fit the HAT-Net backbone in front of it?

A HAT-Net size whose stage widths differ from the ``in_channels`` of the
neck fails deep in the neck's first conv ("expected input[4, 128, 24, 32] to
have 96 channels"); ``out_indices`` that give fewer maps than the neck takes
fail on a bare ``assert len(inputs) == len(self.in_channels)``. These checks
say instead which setting to change, in two places:

where a config is read: :func:`check_model_config`, before anything is
built (``tools/train.py`` runs it before the work dir exists, and so does
:func:`~mmhatnet.apis.build_config_model`). The backbone itself cannot see
its neck (a module has no link to its parent), and no global hook watches
the first forward for it: a plugin must not change how the host process
runs other models.
"""
from typing import List, Optional, Sequence

from ..models import HATNet

ARCH_PATH = 'model.backbone'


def _name(arch: dict, zoo: dict):
    return next((n for n, a in zoo.items() if a == arch), None)


def _describe(arch: dict, zoo: dict, out_indices) -> str:
    name = _name(arch, zoo)
    what = f"arch='{name}'" if name else 'a custom arch'
    return (f'HATNet({what}, out_indices={tuple(out_indices)}) gives the '
            f'stage widths {list(arch["embed_dims"])}')


def _mismatch(consumer: str, in_channels: Sequence[int], widths: List[int],
              backbone: str, out_indices) -> Optional[str]:
    in_channels = list(in_channels)
    if in_channels == widths:
        return None
    if len(in_channels) != len(widths):
        return (f'{consumer}.in_channels={in_channels} takes '
                f'{len(in_channels)} feature maps but {backbone}: '
                f'out_indices={tuple(out_indices)} returns {len(widths)} '
                f'({widths}); give {ARCH_PATH}.out_indices one stage per '
                f'entry of {consumer}.in_channels, or {consumer}.in_channels '
                f'one width per returned stage')
    return (f'{consumer}.in_channels={in_channels} does not fit the '
            f'backbone: {backbone}, so its outputs have {widths} channels; '
            f'set {consumer}.in_channels={widths}, or use the backbone size '
            f'the neck was written for')


def check_model_config(model: dict) -> None:
    """Raise ``ValueError`` if the ``model`` config has a HAT-Net backbone
    whose outputs do not fit its neck (or, without a neck, an mmseg
    ``decode_head``). Builds nothing; other configs pass untouched."""
    if not isinstance(model, dict):
        return
    backbone = model.get('backbone')
    if not isinstance(backbone, dict) or str(
            backbone.get('type', '')).split('.')[-1] != 'HATNet':
        return
    arch = HATNet._parse_arch(HATNet, backbone.get('arch', 'small'))
    n = len(arch['depths'])
    out_indices = backbone.get('out_indices', (0, 1, 2, 3))
    if isinstance(out_indices, int):
        out_indices = (out_indices, )
    try:
        indices = [i + n if i < 0 else i for i in out_indices]
        widths = [arch['embed_dims'][i] for i in indices]
    except (TypeError, IndexError):
        raise ValueError(f'{ARCH_PATH}.out_indices={out_indices!r} must be '
                         f'stage indices in [0, {n - 1}]') from None
    described = _describe(arch, HATNet.arch_zoo, out_indices)
    neck = model.get('neck')
    if isinstance(neck, (list, tuple)) and neck:
        neck = neck[0]
    if isinstance(neck, dict):
        if isinstance(neck.get('in_channels'), (list, tuple)):
            problem = _mismatch('model.neck', neck['in_channels'], widths,
                                described, out_indices)
            if problem:
                raise ValueError(problem)
        return
    head = model.get('decode_head')
    if isinstance(head, dict) and isinstance(
            head.get('in_channels'), (list, tuple)):
        in_index = head.get('in_index', list(range(len(widths))))
        if isinstance(in_index, int):
            in_index = [in_index]
        if any(i >= len(widths) for i in in_index):
            raise ValueError(
                f'model.decode_head.in_index={list(in_index)} picks maps '
                f'that {described} does not return ({len(widths)} outputs); '
                f'change {ARCH_PATH}.out_indices or the in_index')
        picked = [widths[i] for i in in_index]
        problem = _mismatch('model.decode_head', head['in_channels'], picked,
                            described, out_indices)
        if problem:
            raise ValueError(problem)
