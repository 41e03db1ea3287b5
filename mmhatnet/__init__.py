"""mmhatnet: HAT-Net as an OpenMMLab backbone.

``import mmhatnet`` (or ``custom_imports = dict(imports=['mmhatnet'])``)
only adds to the host process, under names of its own; it overwrites no
registry entry, wraps no other library's function and installs no import or
global module hook (tests/test_guest.py checks it). It registers ``HATNet``
in mmengine's root ``MODELS`` (which mmdet's, mmseg's and mmpretrain's
registries fall back to), the opt-ins of :mod:`mmhatnet.engine`, the
``hatnet://`` checkpoint scheme and our classifiers' names in mmpretrain
(:mod:`.utils.model_hub`), the ``mmhatnet::`` config scope
(:mod:`.utils.mim`) and mmengine's checkpoint types in torch's
``weights_only`` allowlist (:mod:`.utils.checkpoint_safety`).
"""
from . import engine  # noqa: F401  (registers the opt-in hooks and wrappers)
from .models import HATNet  # noqa: F401  (registers the backbone)
from .utils import allow_mmengine_checkpoints
from .utils.mim import register_mmhatnet_scope
from .utils.model_hub import register_model_hub, register_released_scheme
from .version import __version__  # noqa: F401

allow_mmengine_checkpoints()
register_mmhatnet_scope()
register_released_scheme()
register_model_hub()
