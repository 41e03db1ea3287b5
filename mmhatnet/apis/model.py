# Copyright (c) mmhatnet contributors. All rights reserved.
"""A config's model, built outside a runner: what the FLOP counter, the ONNX
export, the demo and the attention visualiser share. An mmhatnet config runs
in the library its ``default_scope`` names; HAT-Net itself is registered in
mmengine's root registry, which every library's registry falls back to."""
import importlib
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config

# the libraries a config of ours can name as its default_scope
SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def read_model_config(config: Union[str, Config],
                      cfg_options: Optional[dict] = None) -> Config:
    """Read ``config`` (a path, ``mmhatnet::`` bases resolved, or a
    :class:`Config` already read), merge ``cfg_options`` in, and check that
    it holds a ``model`` dict with a ``type`` and a ``default_scope`` of
    :data:`SCOPES`.

    Raises:
        ValueError: the config cannot be read, or is not a model config of
            one of the libraries; the message says which and what to give.
    """
    if isinstance(config, Config):
        cfg, name = config, config.filename or 'the config'
    else:
        from mmhatnet.utils.mim import ConfigSyntaxError, read_config
        name = config
        try:
            cfg = read_config(config)
        except ConfigSyntaxError as e:  # names the file and line to fix
            raise ValueError(str(e)) from None
        except Exception as e:  # noqa: BLE001 (a missing base or file)
            raise ValueError(f'{config!r} could not be read as an mmengine '
                             f'config: {type(e).__name__}: {e}') from None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = cfg.get('model')
    if not isinstance(model, dict) or 'type' not in model:
        raise ValueError(
            f'{name!r} is not a model config: it has no `model` dict with a '
            f'`type` (give a config such as configs/hatnet_tiny_in1k.py)')
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(
            f'{name!r}: default_scope={scope!r}; expected one of {SCOPES}, '
            f'which says which library builds the model')
    return cfg


def model_registry(scope: str):
    """Register every module of the library ``scope`` (without changing the
    default scope) and return its ``MODELS`` registry.

    Raises:
        ValueError: ``scope`` is not one of :data:`SCOPES`, or that library
            is not installed.
    """
    if scope not in SCOPES:
        raise ValueError(f'default_scope={scope!r}: expected one of '
                         f'{SCOPES}, which says which library builds it')
    try:
        importlib.import_module(f'{scope}.utils').register_all_modules(
            init_default_scope=False)
        registry = importlib.import_module(f'{scope}.registry').MODELS
    except ImportError as e:
        raise ValueError(f'this config runs with {scope}, which is not '
                         f'installed ({e}); run tools/install.sh') from None
    return registry  # HATNet is registered: this package is imported


def build_config_model(cfg: Config) -> nn.Module:
    """``cfg.model`` built by the registry of ``cfg.default_scope``, with
    random weights: the backbone's ``init_cfg`` is dropped (no download; the
    caller loads what it needs) and ``init_weights`` is not called. A
    top-level ``data_preprocessor`` (mmpretrain's configs) goes into the
    model, as mmpretrain's runner puts it.

    Raises:
        ValueError: a HAT-Net backbone whose widths do not fit the neck's
            ``in_channels`` (:func:`~mmhatnet.apis.fit_check.check_model_config`).
    """
    from mmengine.registry import DefaultScope

    from .fit_check import check_model_config
    check_model_config(cfg.model)
    scope = cfg.default_scope
    registry = model_registry(scope)
    model_cfg = cfg.model.copy()
    if scope == 'mmpretrain' and 'data_preprocessor' not in model_cfg and \
            cfg.get('data_preprocessor') is not None:
        model_cfg.data_preprocessor = cfg.get('data_preprocessor')
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone = dict(model_cfg.backbone, init_cfg=None)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)
