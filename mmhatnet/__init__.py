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
  that ``--amp`` trains on a CPU too (see :mod:`mmhatnet.engine.amp`).
"""
from .engine import use_atomic_checkpoints  # also registers the AMP wrapper
from .models import HATNet  # noqa: F401  (registers the backbone)
from .utils import allow_mmengine_checkpoints
from .version import __version__  # noqa: F401

allow_mmengine_checkpoints()
use_atomic_checkpoints()
