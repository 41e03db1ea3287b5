# Copyright (c) mmhatnet contributors. All rights reserved.
"""What ``--amp`` of tools/train.py, tools/test.py and the G1/G2 sweep
changes in a config: the library's :class:`MixedPrecisionOptimWrapper` and
:class:`FeatureAutocastHook` (``mmhatnet.engine.amp``) switched on."""
import os.path as osp
from typing import Optional

import torch
from mmengine.runner import find_latest_checkpoint

from mmhatnet.engine.amp import (STATE_KEY, AmpUnsupportedError,
                                 default_amp_device, describe_cpu_bf16,
                                 resolve_amp_dtype)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY


def _resume_checkpoint(cfg, resume: Optional[str]) -> Optional[str]:
    """The checkpoint ``--resume`` (``'auto'``: the work dir's latest)
    reads, or None."""
    if resume == 'auto':
        return find_latest_checkpoint(cfg.work_dir)
    return resume or None


def resumed_amp_dtype(checkpoint: Optional[str]) -> Optional[str]:
    """``'bfloat16'``/``'float16'`` if ``checkpoint`` was written by a
    mixed-precision run (of :class:`MixedPrecisionOptimWrapper`, or of
    mmengine's ``AmpOptimWrapper``, whose state has a ``loss_scaler``)."""
    if not checkpoint or checkpoint.startswith(('http://', 'https://')) or \
            not osp.isfile(checkpoint):
        return None
    try:
        ckpt = torch.load(checkpoint, map_location='cpu', mmap=True,
                          weights_only=WEIGHTS_ONLY)
    except Exception:
        return None  # the runner says what is wrong with it
    optim = ckpt.get('optimizer') if isinstance(ckpt, dict) else None
    if not isinstance(optim, dict):
        return None
    if STATE_KEY in optim:
        return str(optim[STATE_KEY])
    return 'float16' if 'loss_scaler' in optim else None


def enable_amp_training(cfg, amp: bool, dtype_name: Optional[str] = None,
                        resume: Optional[str] = None) -> Optional[str]:
    """What ``tools/train.py --amp [--amp-dtype] [--resume]`` changes in
    ``cfg``: the optimizer wrapper becomes :class:`MixedPrecisionOptimWrapper`
    with the dtype for this device, and validation runs under the same
    autocast. A ``--resume`` of a mixed-precision run turns it on by itself,
    in the dtype of that run unless ``--amp-dtype`` says otherwise.

    Returns a line for the log (None when nothing changed); raises
    :class:`AmpUnsupportedError` before anything is built.
    """
    why = '--amp'
    if not amp:
        resumed = resumed_amp_dtype(_resume_checkpoint(cfg, resume))
        if resumed is None:
            if dtype_name is not None:
                raise AmpUnsupportedError('--amp-dtype needs --amp')
            return None
        why = 'resuming a mixed-precision run'
        if dtype_name is None:
            dtype_name = {'bfloat16': 'bf16', 'float16': 'fp16'}.get(resumed)
    device = default_amp_device()
    if dtype_name is None and device != 'cpu':
        dtype_name = 'fp16'
    dtype = resolve_amp_dtype(device, dtype_name)
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'OptimWrapper') not in (
            'OptimWrapper', 'AmpOptimWrapper', 'MixedPrecisionOptimWrapper'):
        raise AmpUnsupportedError(
            f'--amp replaces optim_wrapper.type; this config has '
            f'{wrapper.type!r}, which mixed precision cannot wrap')
    wrapper.type = 'MixedPrecisionOptimWrapper'
    wrapper.dtype = str(dtype).replace('torch.', '')
    if dtype == torch.float16:
        wrapper.setdefault('loss_scale', 'dynamic')
    enable_amp_inference(cfg, dtype)
    return (f'mixed precision ({why}): {wrapper.dtype} autocast on {device}'
            + (f' ({describe_cpu_bf16()})' if device == 'cpu' else '')
            + (', dynamic loss scaling' if dtype == torch.float16 else ''))


def enable_amp_inference(cfg, dtype: torch.dtype) -> None:
    """Run the validation and test loops with the feature extractor under
    autocast in ``dtype``: adds a :class:`FeatureAutocastHook` to
    ``cfg.custom_hooks``."""
    hooks = [h for h in cfg.get('custom_hooks') or []
             if h.get('type') != 'FeatureAutocastHook']
    hooks.append(dict(type='FeatureAutocastHook',
                      dtype=str(dtype).replace('torch.', '')))
    cfg.custom_hooks = hooks


def enable_amp_test(cfg, amp: bool,
                    dtype_name: Optional[str] = None) -> Optional[str]:
    """What ``tools/test.py --amp [--amp-dtype]`` (and the G1/G2 sweep)
    change: the test loop runs under autocast. Returns a line for the log."""
    if not amp:
        if dtype_name is not None:
            raise AmpUnsupportedError('--amp-dtype needs --amp')
        return None
    device = default_amp_device()
    dtype = resolve_amp_dtype(device, dtype_name)
    enable_amp_inference(cfg, dtype)
    return (f'mixed precision: inference under {str(dtype)[6:]} autocast '
            f'on {device}')
