# Copyright (c) mmhatnet contributors. All rights reserved.
from .amp import (AMP_DTYPES, AmpUnsupportedError, FeatureAutocastHook,
                  MixedPrecisionOptimWrapper, autocast_features,
                  check_amp_dtype, cpu_bf16_support, describe_cpu_bf16,
                  enable_amp_test, enable_amp_training, inference_autocast,
                  resolve_amp_dtype)

__all__ = [
    'AMP_DTYPES', 'AmpUnsupportedError', 'FeatureAutocastHook',
    'MixedPrecisionOptimWrapper', 'autocast_features', 'check_amp_dtype',
    'cpu_bf16_support', 'describe_cpu_bf16', 'enable_amp_test',
    'enable_amp_training', 'inference_autocast', 'resolve_amp_dtype'
]
