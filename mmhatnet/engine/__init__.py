from .atomic_io import (AtomicLocalBackend, CheckpointHook, atomic_write,
                        use_atomic_checkpoints)
from .preemption import PREEMPTED_EXIT_STATUS, PreemptionHook

__all__ = [
    'AtomicLocalBackend', 'CheckpointHook', 'PREEMPTED_EXIT_STATUS',
    'PreemptionHook', 'atomic_write', 'use_atomic_checkpoints'
]
