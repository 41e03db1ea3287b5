from .checkpoint_safety import allow_mmengine_checkpoints
from .runner import (build_runner, enable_visualization,
                     load_released_classifier, load_run_config,
                     released_state_dict)

__all__ = [
    'allow_mmengine_checkpoints', 'build_runner', 'enable_visualization',
    'load_released_classifier', 'load_run_config', 'released_state_dict'
]
