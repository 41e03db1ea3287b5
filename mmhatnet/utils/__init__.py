# Copyright (c) mmhatnet contributors. All rights reserved.
"""The rest: the checkpoint allowlist and the ``mmhatnet::`` scope and model
index (which ``import mmhatnet`` registers), and, imported by name only where
they are used, the tools' command-line convention (:mod:`.cli`), atomic
output files (:mod:`.files`) and the data checks (:mod:`.data_checks`,
:mod:`.data_scan`)."""
from .checkpoint_safety import allow_mmengine_checkpoints
from .mim import ConfigPathError

__all__ = ['ConfigPathError', 'allow_mmengine_checkpoints']
