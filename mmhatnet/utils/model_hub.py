# Copyright (c) mmhatnet contributors. All rights reserved.
"""Our classifiers by name in mmpretrain, with the released files as
``pretrained``.

* :func:`register_model_hub` adds our ``model-index.yml`` to mmpretrain's
  ``ModelHub``, so that ``mmpretrain.get_model('hatnet-small_in1k')``,
  ``list_models('*hatnet*')`` and
  ``ImageClassificationInferencer('hatnet-small_in1k')`` find our
  ``hatnet_*_in1k`` configs.
* mmpretrain (``get_model(..., pretrained=FILE)``), mmengine's runner
  (``load_from``) and the inferencers load weights with mmengine's
  ``load_checkpoint``, which knows nothing of the released HAT-Net files'
  module names. :func:`register_official_checkpoint_loader` puts a loader in
  front of mmengine's local-file and http(s) loaders that hands on every
  file unchanged, except one whose keys are all keys of a released HAT-Net
  ImageNet checkpoint: that one is converted
  (:func:`~mmhatnet.models.utils.convert_official_hatnet`, ``backbone.*`` and
  ``head.fc.*``), exactly as ``tools/test.py`` converts it.
"""
import functools
import importlib.abc
import importlib.util
import os.path as osp
import sys
import warnings
from typing import Optional

from mmengine.runner.checkpoint import CheckpointLoader

from .mim import mim_root

_registered = {'hub': False, 'loader': False}


def official_to_mmengine(checkpoint) -> Optional[dict]:
    """``{'state_dict': ..., 'meta': ...}`` in our names if ``checkpoint``
    (as ``torch.load`` returned it) is a released HAT-Net checkpoint, else
    ``None``."""
    import torch

    from mmhatnet.models.utils.official_checkpoint import (
        convert_official_hatnet, is_official_state_dict,
        official_keys_not_understood)
    if not isinstance(checkpoint, dict):
        return None
    state_dict = checkpoint
    for wrapper in ('state_dict', 'model'):
        if isinstance(checkpoint.get(wrapper), dict):
            state_dict = checkpoint[wrapper]
            break
    if not state_dict or not all(torch.is_tensor(v)
                                 for v in state_dict.values()):
        return None
    state_dict = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }
    if not is_official_state_dict(state_dict) or official_keys_not_understood(
            state_dict):
        return None  # ours, or another model's (a ViT has blocks.* too)
    return dict(
        state_dict=convert_official_hatnet(state_dict, with_head=True),
        meta=dict(converted_from='released HAT-Net checkpoint'))


def register_official_checkpoint_loader() -> None:
    """Let mmengine's ``load_checkpoint`` read released HAT-Net files (local
    or http(s)) into models with a HAT-Net ``backbone`` (see the module
    doc). Idempotent."""
    if _registered['loader']:
        return
    schemes = CheckpointLoader._schemes
    local, http = schemes[''], schemes['http://']

    def wrap(loader):
        @functools.wraps(loader)  # keeps the name mmengine logs
        def load(filename, map_location=None, *args, **kw):
            checkpoint = loader(filename, map_location, *args, **kw)
            return official_to_mmengine(checkpoint) or checkpoint

        return load

    CheckpointLoader.register_scheme('', wrap(local), force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'), wrap(http),
                                     force=True)
    _registered['loader'] = True


def register_model_hub() -> bool:
    """Add our classifiers to mmpretrain's ``ModelHub`` (idempotent).
    Returns whether they are there (False without mmpretrain, or without
    the configs)."""
    if _registered['hub']:
        return True
    root = mim_root()
    if root is None:
        return False
    try:
        from mmpretrain.apis.model import ModelHub
    except ImportError:
        return False
    # the classifiers' metafile only: the detectors and segmentors of the
    # model-index are not mmpretrain models
    ModelHub.register_model_index(
        osp.join(root, 'configs', 'metafiles', 'hatnet_in1k.yml'),
        config_prefix=root)
    _registered['hub'] = True
    return True


class _AfterImport(importlib.abc.MetaPathFinder):
    """Run ``callback`` right after module ``name`` has been executed (once),
    without importing it before anyone asks for it."""

    def __init__(self, name, callback):
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # one shot; let the others find it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(
                spec.loader, 'exec_module'):
            return spec
        exec_module, callback = spec.loader.exec_module, self.callback

        def exec_then_call(module):
            exec_module(module)
            try:
                callback()
            except Exception as e:  # never break the user's import
                warnings.warn(f'mmhatnet: could not register its models '
                              f'with {fullname} ({type(e).__name__}: {e})')

        spec.loader.exec_module = exec_then_call
        return spec


def register_model_hub_when_imported() -> None:
    """Register our classifiers with mmpretrain's ``ModelHub`` now if
    mmpretrain's ``apis`` are imported, else as soon as they are: ``import
    mmhatnet`` does not import mmpretrain's inferencers (seconds) itself."""
    name = 'mmpretrain.apis.model'
    if name in sys.modules:
        register_model_hub()
    elif importlib.util.find_spec('mmpretrain') is not None and not any(
            isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, register_model_hub))
