# Copyright (c) mmhatnet contributors. All rights reserved.
"""Mixed precision on every device: bf16 autocast on a CPU, fp16 (dynamic
loss scaling) or bf16 on CUDA.

mmengine 0.10.7's ``AmpOptimWrapper`` refuses a machine without a GPU, after
the runner has made the work dir. :class:`MixedPrecisionOptimWrapper` is that
wrapper with a CPU path: on an accelerator it *is* mmengine's; on a CPU it
runs the feature extractor (``extract_feat``: backbone and neck) under bf16
autocast, heads and losses in fp32, without loss scaling (bf16 has fp32's
exponent range), once :func:`check_amp_dtype` has found native bf16
(AVX512-BF16 or AMX; emulated bf16 is slower than fp32 and refused). The
heads stay fp32 because mmcv's CPU ops (``nms``) take fp32 only, and box
coordinates in bf16 (8 significant bits) would be off by up to 4 pixels at
1000. Our ``tools/train.py --amp`` selects it by name.

The libraries' own ``--amp`` set ``type='AmpOptimWrapper'``, which stays
mmengine's; a config opts in to the CPU path for them with
``optim_wrapper = dict(constructor='MixedPrecisionOptimWrapperConstructor')``.
Inference runs the feature extractor under autocast the same way
(:class:`FeatureAutocastHook` in the loops, :func:`autocast_features`).
"""
import logging
import os
import re
from contextlib import contextmanager
from typing import Dict, Optional, Union

import torch
from mmengine.device import get_device
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import (AmpOptimWrapper, DefaultOptimWrapperConstructor,
                            OptimWrapper)
from mmengine.registry import HOOKS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

#: the names of the command-line flags (``--amp-dtype``) and their dtypes
AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
#: set to 1 to run bf16 autocast on a CPU that only emulates bf16
ALLOW_EMULATED_ENV = 'MMHATNET_ALLOW_EMULATED_BF16'
# the key our wrapper adds to the optimizer state of a checkpoint, so that
# ``--resume`` of an AMP run goes on in AMP
STATE_KEY = 'amp_dtype'


class AmpUnsupportedError(RuntimeError):
    """This device cannot run the asked mixed precision (well)."""


def _cpu_flags() -> Optional[set]:
    try:
        with open('/proc/cpuinfo') as f:
            m = re.search(r'^flags\s*:\s*(.*)$', f.read(), re.M)
    except OSError:
        return None
    return set(m.group(1).split()) if m else None


def cpu_bf16_support() -> Dict[str, Optional[bool]]:
    """What this CPU offers bf16: ``avx512_bf16`` and ``amx_bf16`` (the
    instruction sets oneDNN uses for native bf16 convolutions and matmuls;
    None where /proc/cpuinfo cannot tell), ``mkldnn_bf16`` (oneDNN takes
    bf16 at all, natively or emulated with AVX512) and ``capability``
    (torch's vector ISA, e.g. ``AVX512``)."""
    flags = _cpu_flags()
    mkldnn = bool(torch.backends.mkldnn.is_available()
                  and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return dict(
        avx512_bf16=None if flags is None else 'avx512_bf16' in flags,
        amx_bf16=None if flags is None else 'amx_bf16' in flags,
        mkldnn_bf16=mkldnn,
        capability=torch.backends.cpu.get_cpu_capability())


def describe_cpu_bf16(support: Optional[dict] = None) -> str:
    """One line for logs and benchmark headers, e.g. ``AVX512-BF16 yes, AMX
    no, oneDNN bf16 yes, ISA AVX512``."""
    s = support or cpu_bf16_support()

    def yes(v):
        return '?' if v is None else ('yes' if v else 'no')

    return (f'AVX512-BF16 {yes(s["avx512_bf16"])}, AMX {yes(s["amx_bf16"])}, '
            f'oneDNN bf16 {yes(s["mkldnn_bf16"])}, ISA {s["capability"]}')


def _native_cpu_bf16(support: dict) -> bool:
    native = support['avx512_bf16'] or support['amx_bf16']
    if native is None:  # no /proc/cpuinfo: trust oneDNN on an AVX512 ISA
        native = support['capability'].startswith('AVX512')
    return bool(support['mkldnn_bf16'] and native)


def default_amp_device() -> str:
    """The device mmengine trains on here: ``cuda``, ``cpu``, ``npu``..."""
    return get_device()


def resolve_amp_dtype(device_type: str, name: Optional[str] = None,
                      cpu_fp16_ok: bool = False) -> torch.dtype:
    """The autocast dtype for ``--amp [--amp-dtype name]`` on
    ``device_type``: fp16 on CUDA unless bf16 is asked, bf16 on a CPU.
    Raises :class:`AmpUnsupportedError` where it would not work or not pay
    (see :func:`check_amp_dtype`)."""
    if name is not None and name not in AMP_DTYPES:
        raise AmpUnsupportedError(f'--amp-dtype {name!r}: choose one of '
                                  f'{", ".join(AMP_DTYPES)}')
    if name is None:
        name = 'bf16' if device_type == 'cpu' else 'fp16'
    dtype = AMP_DTYPES[name]
    check_amp_dtype(device_type, dtype, cpu_fp16_ok)
    return dtype


def check_amp_dtype(device_type: str, dtype: torch.dtype,
                    cpu_fp16_ok: bool = False) -> None:
    """Refuse, with what to do instead, mixed precision that this device
    cannot run or would run slower than fp32:

    * fp16 on a CPU, unless ``cpu_fp16_ok`` (code that autocasts by itself,
      e.g. the benchmark measuring it): mmengine's autocast takes bf16 only
      there, and no CPU here computes fp16 faster than fp32 in torch's
      kernels;
    * bf16 on a CPU without AVX512-BF16 or AMX, where oneDNN emulates bf16
      (or torch falls back to reference kernels without AVX512) and a
      training step runs several times slower than in fp32; set
      ``MMHATNET_ALLOW_EMULATED_BF16=1`` to run it anyway;
    * bf16 on a GPU without bf16 (before Ampere).
    """
    name = {v: k for k, v in AMP_DTYPES.items()}.get(dtype, str(dtype))
    if device_type == 'cpu':
        if dtype == torch.float16 and not cpu_fp16_ok:
            raise AmpUnsupportedError(
                'fp16 mixed precision runs on GPUs only; on the CPU use '
                '--amp alone (bf16) or --amp-dtype bf16')
        if dtype == torch.bfloat16 and os.environ.get(
                ALLOW_EMULATED_ENV) != '1':
            support = cpu_bf16_support()
            if not _native_cpu_bf16(support):
                what = describe_cpu_bf16(support)
                raise AmpUnsupportedError(
                    f'this CPU has no native bf16 ({what}): bf16 autocast '
                    f'would be emulated and slower than fp32; drop --amp, or '
                    f'set {ALLOW_EMULATED_ENV}=1 to run it anyway')
    elif device_type == 'cuda' and dtype == torch.bfloat16:
        if not torch.cuda.is_bf16_supported():
            raise AmpUnsupportedError(
                f'{torch.cuda.get_device_name()} has no bf16; use '
                f'--amp-dtype fp16')
    elif dtype != torch.float16 and device_type not in ('cuda', 'cpu'):
        raise AmpUnsupportedError(f'{name} autocast is supported here on '
                                  f'cuda and cpu only, not {device_type}')


def _to_float(value):
    """``value`` (tensors in tuples, lists, dicts) with low-precision
    floating tensors cast to fp32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.float16,
                                                torch.bfloat16) else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float(v) for v in value)
    if isinstance(value, dict):
        return type(value)((k, _to_float(v)) for k, v in value.items())
    return value


@contextmanager
def autocast_features(model, device_type: str, dtype: Optional[torch.dtype]):
    """Within the context, ``model.extract_feat`` (the backbone and neck of
    an mmdet/mmseg/mmpretrain model; the model inside a DDP wrapper) runs
    under ``torch.autocast(device_type, dtype)`` and returns fp32 features,
    so that the heads, their post-processing (NMS, box decoding) and the
    losses run in fp32. A model without ``extract_feat`` runs its whole
    forward under autocast. ``dtype=None``: fp32, nothing changes."""
    inner = model.module if is_model_wrapper(model) else model
    original = getattr(inner, 'extract_feat', None)
    if dtype is None or dtype == torch.float32:
        yield
        return
    if original is None:
        with torch.autocast(device_type=device_type, dtype=dtype):
            yield
        return

    def extract_feat(*args, **kwargs):
        with torch.autocast(device_type=device_type, dtype=dtype):
            return _to_float(original(*args, **kwargs))

    inner.extract_feat = extract_feat  # shadows the method for this context
    try:
        yield
    finally:
        del inner.extract_feat


@contextmanager
def inference_autocast(device_type: str, dtype: Optional[torch.dtype]):
    """``torch.autocast`` for inference code that calls a model itself
    (demo, benchmark); a no-op for ``dtype=None`` (fp32)."""
    if dtype is None or dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device_type, dtype=dtype):
        yield


class MixedPrecisionOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` plus a CPU path (bf16, no loss
    scaling). Same arguments:

    Args:
        loss_scale (float | str | dict): As ``AmpOptimWrapper``; on a CPU
            with bf16 it is not used (no scaling is needed).
        dtype (str | torch.dtype, optional): ``'float16'`` or
            ``'bfloat16'``; None: fp16 on an accelerator, bf16 on a CPU.
        use_fsdp (bool): As ``AmpOptimWrapper``.
        **kwargs: Passed to ``OptimWrapper``.

    Raises:
        AmpUnsupportedError: on a CPU that cannot run ``dtype`` (see
            :func:`check_amp_dtype`).

    Its ``state_dict()`` records the dtype under ``'amp_dtype'`` (besides the
    ``'loss_scaler'`` of the GPU path), which ``tools/train.py --resume``
    reads to go on in mixed precision.
    """

    #: on a CPU that cannot run the dtype: train in fp32 (True) or raise
    falls_back_to_fp32 = False

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None,
                 use_fsdp: bool = False,
                 **kwargs):
        self.device_type = default_amp_device()
        self.fp32_fallback = False
        if self.device_type != 'cpu':
            super().__init__(loss_scale, dtype, use_fsdp, **kwargs)
            return
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype should be one of {self.valid_dtypes}'
                                 f', got {dtype!r}')
            dtype = getattr(torch, dtype)
        dtype = torch.bfloat16 if dtype is None else dtype
        try:
            check_amp_dtype('cpu', dtype)
        except AmpUnsupportedError as e:
            if not self.falls_back_to_fp32:
                raise
            print_log(f'mixed precision: {e}. mmhatnet trains this run in '
                      f'fp32 instead (it was asked for by another tool, '
                      f'which has made the work dir already).',
                      logger='current', level=logging.WARNING)
            self.fp32_fallback, dtype = True, None
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = None  # bf16: no scaling
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model):
        if self.loss_scaler is not None:  # an accelerator: mmengine's
            with super().optim_context(model):
                yield
            return
        with OptimWrapper.optim_context(self, model), autocast_features(
                model, 'cpu', self.cast_dtype):
            yield

    def backward(self, loss: torch.Tensor, **kwargs):
        if self.loss_scaler is not None:
            return super().backward(loss, **kwargs)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs):
        if self.loss_scaler is not None:
            return super().step(**kwargs)
        OptimWrapper.step(self, **kwargs)

    def state_dict(self) -> dict:
        if self.loss_scaler is not None:
            state_dict = super().state_dict()
        else:
            state_dict = OptimWrapper.state_dict(self)
        if self.fp32_fallback:
            return state_dict  # an fp32 run: --resume goes on in fp32
        state_dict[STATE_KEY] = str(self.cast_dtype or torch.float16
                                    ).replace('torch.', '')
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        state_dict.pop(STATE_KEY, None)
        if self.loss_scaler is not None:
            return super().load_state_dict(state_dict)
        # a GPU run's scaler state has no use in bf16 on the CPU
        state_dict.pop('loss_scaler', None)
        OptimWrapper.load_state_dict(self, state_dict)


class OtherToolsAmpOptimWrapper(MixedPrecisionOptimWrapper):
    """What ``optim_wrapper.type='AmpOptimWrapper'`` builds under
    :class:`MixedPrecisionOptimWrapperConstructor`: mmdet's/mmseg's/
    mmpretrain's own ``tools/train.py --amp`` set that type. It is
    :class:`MixedPrecisionOptimWrapper`, except on a CPU that cannot run the
    asked mixed precision (no native bf16, or fp16): there it logs why and
    trains in fp32, because those tools build the optimizer wrapper only
    after the runner has made the work dir, too late to stop cleanly.
    (mmhatnet's ``tools/train.py --amp`` refuses such a CPU before anything
    is made.)"""

    falls_back_to_fp32 = True


OPTIM_WRAPPERS.register_module(module=MixedPrecisionOptimWrapper)


def amp_on_any_device(optim_wrapper_cfg: dict) -> dict:
    """``optim_wrapper_cfg`` with mmengine's ``type='AmpOptimWrapper'``
    turned into :class:`OtherToolsAmpOptimWrapper`; other types unchanged."""
    cfg = dict(optim_wrapper_cfg)
    if cfg.get('type') in ('AmpOptimWrapper', AmpOptimWrapper):
        cfg['type'] = OtherToolsAmpOptimWrapper
    return cfg


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MixedPrecisionOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, except that
    ``type='AmpOptimWrapper'`` (what the libraries' ``--amp`` sets) builds
    :class:`OtherToolsAmpOptimWrapper`: on a GPU that is mmengine's wrapper,
    on a CPU bf16 autocast of the feature extractor (fp32 with a warning
    where the CPU has no native bf16). The opt-in of a config::

        optim_wrapper = dict(constructor='MixedPrecisionOptimWrapperConstructor')
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        super().__init__(amp_on_any_device(optim_wrapper_cfg), paramwise_cfg)


@HOOKS.register_module()
class FeatureAutocastHook(Hook):
    """Run the validation and test loops with the model's feature extractor
    under autocast (see :func:`autocast_features`).

    Args:
        dtype (str): ``'bfloat16'`` or ``'float16'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, dtype: str = 'bfloat16'):
        self.dtype = getattr(torch, dtype)
        self._context = None

    def _enter(self, runner) -> None:
        self._context = autocast_features(runner.model, default_amp_device(),
                                          self.dtype)
        self._context.__enter__()

    def _exit(self, runner, metrics=None) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

    before_val_epoch = before_test_epoch = _enter
    after_val_epoch = after_test_epoch = _exit
