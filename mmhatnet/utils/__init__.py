from .checkpoint_safety import allow_mmengine_checkpoints
from .data_checks import DataCheckError, check_datasets
from .files import atomic_output
from .mim import ConfigPathError
from .runner import (build_runner, check_released_fits_config,
                     enable_visualization, load_released_classifier,
                     load_run_config, release_distributed,
                     released_state_dict)

__all__ = [
    'ConfigPathError', 'DataCheckError', 'allow_mmengine_checkpoints', 'atomic_output',
    'build_runner', 'check_datasets', 'check_released_fits_config',
    'enable_visualization', 'load_released_classifier', 'load_run_config',
    'release_distributed', 'released_state_dict'
]
