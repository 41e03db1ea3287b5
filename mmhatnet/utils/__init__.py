from .checkpoint_safety import allow_mmengine_checkpoints
from .runner import build_runner, enable_visualization

__all__ = ['allow_mmengine_checkpoints', 'build_runner', 'enable_visualization']
