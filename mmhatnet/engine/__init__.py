# Copyright (c) mmhatnet contributors. All rights reserved.
"""What a config opts into, each under a name of its own (``import
mmhatnet`` registers them and replaces nothing): ``AtomicCheckpointHook``,
``PreemptionHook``, ``FeatureAutocastHook``, ``MixedPrecisionOptimWrapper``
and its ``MixedPrecisionOptimWrapperConstructor``, and the ``atomic_local``
file backend. (Layer-wise lr decay is mmpretrain's
``LearningRateDecayOptimWrapperConstructor`` with
``HATNet.get_layer_depth``.)"""
from .amp import (AMP_DTYPES, AmpUnsupportedError, FeatureAutocastHook,
                  MixedPrecisionOptimWrapper,
                  MixedPrecisionOptimWrapperConstructor,
                  OtherToolsAmpOptimWrapper, autocast_features,
                  check_amp_dtype, cpu_bf16_support, describe_cpu_bf16,
                  inference_autocast, resolve_amp_dtype)
from .atomic_io import (ATOMIC_BACKEND_ARGS, AtomicCheckpointHook,
                        AtomicLocalBackend, atomic_write)
from .preemption import PREEMPTED_EXIT_STATUS, PreemptionHook

__all__ = [
    'AMP_DTYPES', 'ATOMIC_BACKEND_ARGS', 'AmpUnsupportedError',
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'FeatureAutocastHook',
    'MixedPrecisionOptimWrapper',
    'MixedPrecisionOptimWrapperConstructor', 'OtherToolsAmpOptimWrapper',
    'PREEMPTED_EXIT_STATUS', 'PreemptionHook', 'atomic_write',
    'autocast_features', 'check_amp_dtype', 'cpu_bf16_support',
    'describe_cpu_bf16', 'inference_autocast', 'resolve_amp_dtype'
]
