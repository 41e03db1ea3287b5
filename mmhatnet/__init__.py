"""mmhatnet: HAT-Net as an OpenMMLab backbone.

``import mmhatnet`` (or ``custom_imports = dict(imports=['mmhatnet'])`` in a
config) does two things:

* registers ``HATNet`` in mmengine's root ``MODELS`` registry, which the
  registries of mmdet, mmseg and mmpretrain fall back to, so ``type='HATNet'``
  builds under each of their default scopes, with any subset installed;
* lets mmengine's own checkpoints (``--resume``, ``load_from``) load under
  torch >= 2.6's ``weights_only=True`` default, by allowlisting exactly the
  types they hold (see :mod:`mmhatnet.utils.checkpoint_safety`);
* lets mmengine resolve ``_base_ = 'mmhatnet::<folder>/<config>.py'`` in
  configs read after it (see :mod:`mmhatnet.utils.mim`).
"""
from . import engine  # noqa: F401  (registers the lr-decay constructor)
from .models import HATNet  # noqa: F401  (registers the backbone)
from .utils import allow_mmengine_checkpoints
from .utils.mim import register_mmhatnet_scope
from .version import __version__  # noqa: F401

allow_mmengine_checkpoints()
register_mmhatnet_scope()
