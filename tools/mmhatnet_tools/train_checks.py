# Copyright (c) mmhatnet contributors. All rights reserved.
"""What ``tools/train.py`` does between reading the config and building the
runner (which creates the work dir): every check that can refuse the run,
and the hooks that keep a long run's work."""
from .data_checks import DataCheckError, check_datasets
from .data_scan import scan_datasets


def check_before_training(cfg, loaders) -> None:
    """Check the model (HAT-Net vs its neck), the data of ``loaders`` (see
    :mod:`mmhatnet_tools.data_checks`) and every image they read, with the annotation
    counts (see :mod:`mmhatnet_tools.data_scan`).

    Raises:
        ValueError: :class:`DataCheckError` for the data, a plain
            ``ValueError`` for the model config; the message says what to
            change.
    """
    check_model(cfg)
    check_datasets(cfg, loaders)
    scan_datasets(cfg, loaders)


def check_model(cfg) -> None:
    """The config-level model checks of
    :func:`mmhatnet.apis.fit_check.check_model_config` (HAT-Net
    arguments, neck ``in_channels``); raises ``ValueError``."""
    from mmhatnet.apis.fit_check import check_model_config
    try:
        check_model_config(cfg.get('model'))
    except TypeError as e:
        raise ValueError(f'model.backbone: {e}') from None


def add_robust_hooks(cfg) -> None:
    """What ``tools/train.py`` turns on for any config it runs (the opt-ins
    of :mod:`mmhatnet.engine`, see docs/user_guides/own_config.md):
    :class:`~mmhatnet.engine.PreemptionHook` in ``cfg.custom_hooks`` (once),
    and mmengine's plain ``CheckpointHook`` made an
    :class:`~mmhatnet.engine.AtomicCheckpointHook` (its arguments kept)."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, dict) and str(h.get('type', '')).split('.')[-1]
               == 'PreemptionHook' for h in hooks):
        hooks.append(dict(type='PreemptionHook'))
    cfg.custom_hooks = hooks
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if isinstance(checkpoint, dict) and str(checkpoint.get(
            'type', '')).split('.')[-1] == 'CheckpointHook':
        checkpoint['type'] = 'AtomicCheckpointHook'


__all__ = [
    'DataCheckError', 'add_robust_hooks', 'check_before_training',
    'check_model'
]
