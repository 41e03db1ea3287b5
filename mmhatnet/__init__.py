"""mmhatnet: HAT-Net as an OpenMMLab backbone.

``import mmhatnet`` (or ``custom_imports = dict(imports=['mmhatnet'])`` in a
config) only adds; it replaces nothing the host process has (no mmengine
entry is overwritten, no function of another library is wrapped, no import
hook or global module hook is installed). It registers:

* ``HATNet`` in mmengine's root ``MODELS`` registry, which the registries of
  mmdet, mmseg and mmpretrain fall back to, so ``type='HATNet'`` builds under
  each of their default scopes, with any subset installed;
* what a config may opt into, under names of their own
  (:mod:`mmhatnet.engine`): ``AtomicCheckpointHook`` and the
  ``atomic_local`` file backend, ``PreemptionHook``,
  ``MixedPrecisionOptimWrapper`` with its constructor, ``FeatureAutocastHook``
  and the layer-wise lr decay constructor;
* the checkpoint scheme ``hatnet://`` (the released ImageNet weights,
  converted on load) and our classifiers' names in mmpretrain's model hub
  (:mod:`mmhatnet.utils.model_hub`);
* the ``mmhatnet::`` config scope (:mod:`mmhatnet.utils.mim`);
* the types of mmengine's own checkpoints in torch's ``weights_only``
  allowlist (:mod:`mmhatnet.utils.checkpoint_safety`).
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
