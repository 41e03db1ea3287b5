from .checkpoint_safety import allow_mmengine_checkpoints
from .runner import build_runner, enable_visualization, load_run_config

__all__ = [
    'allow_mmengine_checkpoints', 'build_runner', 'enable_visualization',
    'load_run_config'
]
