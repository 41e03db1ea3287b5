from .checkpoint_safety import allow_mmengine_checkpoints
from .cli import check_command_line, exit_with_error
from .data_checks import DataCheckError, check_datasets
from .files import atomic_output
from .mim import ConfigPathError
from .mim import ConfigPathError
from .runner import (build_runner, check_released_fits_config,
                     enable_visualization, load_released_classifier,
                     load_run_config, release_distributed,
                     released_state_dict, write_test_results)
from .train_checks import (add_preemption_hook, check_before_training,
                           check_model)

__all__ = [
    'ConfigPathError', 'DataCheckError', 'add_preemption_hook', 'allow_mmengine_checkpoints',
    'atomic_output', 'build_runner', 'check_before_training',
    'check_command_line', 'check_datasets', 'check_model', 'check_released_fits_config',
    'enable_visualization', 'exit_with_error', 'load_released_classifier',
    'load_run_config',
    'release_distributed', 'released_state_dict', 'write_test_results'
]
