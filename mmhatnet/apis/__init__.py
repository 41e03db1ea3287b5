# Copyright (c) mmhatnet contributors. All rights reserved.
"""What the tools call, and what a user's own script calls to do the same:
read a config and build its library's runner (:mod:`.runner`) or just its
model (:mod:`.model`), evaluate a released ImageNet checkpoint
(:mod:`.released`). Not imported by ``import mmhatnet``
(registration needs none of it)."""
from .model import (SCOPES, build_config_model, model_registry,
                    read_model_config)
from .released import (check_released_fits_config, load_released_classifier,
                       released_state_dict)
from .runner import (build_runner, load_run_config, prepare_cpu_distributed,
                     release_distributed)

__all__ = [
    'SCOPES', 'build_config_model', 'build_runner',
    'check_released_fits_config',
    'load_released_classifier', 'load_run_config',
    'model_registry', 'prepare_cpu_distributed', 'read_model_config',
    'release_distributed', 'released_state_dict'
]
