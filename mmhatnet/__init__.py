"""mmhatnet: HAT-Net as an OpenMMLab backbone.

``import mmhatnet`` (or ``custom_imports = dict(imports=['mmhatnet'])`` in a
config):

* registers ``HATNet`` in mmengine's root ``MODELS`` registry, which the
  registries of mmdet, mmseg and mmpretrain fall back to, so ``type='HATNet'``
  builds under each of their default scopes, with any subset installed;
* lets mmengine's own checkpoints (``--resume``, ``load_from``) load under
  torch >= 2.6's ``weights_only=True`` default, by allowlisting exactly the
  types they hold (see :mod:`mmhatnet.utils.checkpoint_safety`);
* makes mmengine's checkpoint writes atomic (a kill or a full disk never
  leaves a half-written ``epoch_N.pth`` or ``last_checkpoint``) and registers
  ``PreemptionHook`` (save and exit on SIGTERM), see :mod:`mmhatnet.engine`;
* registers ``MixedPrecisionOptimWrapper`` (also as ``AmpOptimWrapper``), so
  that ``--amp`` trains on a CPU too (see :mod:`mmhatnet.engine.amp`);
* lets mmengine resolve ``_base_ = 'mmhatnet::<folder>/<config>.py'`` in
  configs read after it (see :mod:`mmhatnet.utils.mim`);
* gives our classifiers names in mmpretrain (``get_model('hatnet-small_in1k',
  pretrained=FILE)``), and lets mmengine's ``load_checkpoint`` read the
  released HAT-Net files (see :mod:`mmhatnet.utils.model_hub`);
* registers the layer-wise lr decay optimizer constructor
  (:mod:`mmhatnet.engine`).
"""
from .engine import use_atomic_checkpoints  # also registers AMP and lr decay
from .models import HATNet  # noqa: F401  (registers the backbone)
from .utils import allow_mmengine_checkpoints
from .utils.mim import register_mmhatnet_scope
from .utils.model_hub import (register_model_hub_when_imported,
                              register_official_checkpoint_loader)
from .version import __version__  # noqa: F401

allow_mmengine_checkpoints()
use_atomic_checkpoints()
register_mmhatnet_scope()
register_official_checkpoint_loader()
register_model_hub_when_imported()
