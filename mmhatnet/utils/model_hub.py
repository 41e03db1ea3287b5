# Copyright (c) mmhatnet contributors. All rights reserved.
"""The released HAT-Net ImageNet weights, by name, for mmengine and mmpretrain.

Both are additions to the host process; nothing of mmengine's or
mmpretrain's is wrapped or replaced.

* :func:`load_from_hatnet_release` is mmengine's checkpoint scheme
  ``hatnet://``: ``load_checkpoint(model, 'hatnet://small')`` reads the
  official release of that size (``hatnet://PATH_OR_URL`` a file in the
  released format) and converts it to a classifier's names (``backbone.*``
  and ``head.fc.*``, :func:`~mmhatnet.models.utils.convert_official_hatnet`).
  Every other path and URL still goes to mmengine's own loaders, unchanged.
* :func:`register_model_hub` adds our ``hatnet_*_in1k`` classifiers to
  mmpretrain's ``ModelHub`` (``get_model('hatnet-small_in1k',
  pretrained=True)``, ``list_models('*hatnet*')``, the inferencers), their
  weights given as ``hatnet://<size>`` so that they load converted.
"""
import os.path as osp
import warnings
from importlib.util import find_spec

from mmengine.runner.checkpoint import CheckpointLoader

from ..models.utils.official_checkpoint import (convert_official_hatnet,
                                                is_official_state_dict,
                                                load_state_dict,
                                                official_keys_not_understood)
from .mim import mim_root

SCHEME = 'hatnet://'
SIZES = ('tiny', 'small', 'medium', 'large')
#: the released ImageNet-1k weights (v2.0 of github.com/yun-liu/HAT-Net;
#: there are no released detection or segmentation weights)
RELEASED_WEIGHTS = {
    size: 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/'
    f'HAT-Net_{size.capitalize()}.pth'
    for size in SIZES
}
_hub = {'registered': False}


def released_location(name: str) -> str:
    """``'small'`` -> the release URL of HAT-Net-Small; a ``hatnet://``
    prefix is dropped; any other path or URL is returned as it is."""
    if name.startswith(SCHEME):
        name = name[len(SCHEME):]
    return RELEASED_WEIGHTS.get(name.lower(), name)


def load_from_hatnet_release(filename: str, map_location=None) -> dict:
    """mmengine's loader of ``hatnet://<size | path | URL>``: the released
    checkpoint as ``{'state_dict': <classifier names>, 'meta': ...}``.

    Raises:
        ValueError: the file is not a released HAT-Net ImageNet checkpoint
            (an mmengine checkpoint is loaded without the prefix).
    """
    location = released_location(filename)
    state_dict = load_state_dict(location, map_location or 'cpu')
    if not is_official_state_dict(state_dict) or official_keys_not_understood(
            state_dict):
        raise ValueError(
            f'{location!r} is not a released HAT-Net ImageNet checkpoint '
            f'(official key names patch_embed.*, blocks.*, classifier.*), so '
            f'{SCHEME} cannot convert it; load a checkpoint in mmhatnet\'s '
            f'own names without the {SCHEME} prefix')
    return dict(state_dict=convert_official_hatnet(state_dict, with_head=True),
                meta=dict(converted_from=location))


def register_released_scheme() -> None:
    """Add the ``hatnet://`` scheme to mmengine's ``CheckpointLoader``
    (idempotent; it is a new prefix, no existing loader is touched)."""
    if SCHEME not in CheckpointLoader._schemes:
        CheckpointLoader.register_scheme(SCHEME, load_from_hatnet_release)


def register_model_hub() -> bool:
    """Add our classifiers to mmpretrain's ``ModelHub`` (idempotent).
    Returns whether they are there (False without mmpretrain, or without
    the configs)."""
    if _hub['registered']:
        return True
    root = mim_root()
    if root is None or find_spec('mmpretrain') is None:
        return False
    try:
        from mmpretrain.apis.model import ModelHub

        # the classifiers' metafile only: the detectors and segmentors of
        # the model-index are not mmpretrain models
        ModelHub.register_model_index(
            osp.join(root, 'configs', 'metafiles', 'hatnet_in1k.yml'),
            config_prefix=root)
    except Exception as e:  # never break the user's import
        warnings.warn(f'mmhatnet: could not add its classifiers to '
                      f'mmpretrain\'s model hub ({type(e).__name__}: {e})')
        return False
    for size in SIZES:
        ModelHub._models_dict[f'hatnet-{size}_in1k'].weights = SCHEME + size
    _hub['registered'] = True
    return True
