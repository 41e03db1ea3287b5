# Copyright (c) mmhatnet contributors. All rights reserved.
from .amp import (AMP_DTYPES, AmpUnsupportedError, FeatureAutocastHook,
                  MixedPrecisionOptimWrapper, OtherToolsAmpOptimWrapper,
                  autocast_features, check_amp_dtype, cpu_bf16_support,
                  describe_cpu_bf16, enable_amp_test, enable_amp_training,
                  inference_autocast, resolve_amp_dtype)
from .atomic_io import (AtomicLocalBackend, CheckpointHook, atomic_write,
                        use_atomic_checkpoints)
from .layer_decay import (HATNetLayerDecayOptimWrapperConstructor,
                          hatnet_layer_depth)
from .preemption import PREEMPTED_EXIT_STATUS, PreemptionHook

__all__ = [
    'AMP_DTYPES', 'AmpUnsupportedError', 'AtomicLocalBackend',
    'CheckpointHook', 'FeatureAutocastHook',
    'HATNetLayerDecayOptimWrapperConstructor', 'MixedPrecisionOptimWrapper',
    'OtherToolsAmpOptimWrapper',
    'PREEMPTED_EXIT_STATUS', 'PreemptionHook', 'atomic_write',
    'autocast_features', 'check_amp_dtype', 'cpu_bf16_support',
    'describe_cpu_bf16', 'enable_amp_test', 'enable_amp_training',
    'hatnet_layer_depth', 'inference_autocast', 'resolve_amp_dtype',
    'use_atomic_checkpoints'
]
