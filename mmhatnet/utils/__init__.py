# Copyright (c) mmhatnet contributors. All rights reserved.
"""The rest: the checkpoint allowlist and the ``mmhatnet::`` scope and model
index (which ``import mmhatnet`` registers), the released weights
(:mod:`.model_hub`) and, imported by name where it is used, atomic output
files (:mod:`.files`)."""
from .checkpoint_safety import allow_mmengine_checkpoints
from .mim import ConfigPathError

__all__ = ['ConfigPathError', 'allow_mmengine_checkpoints']
