"""mmhatnet: HAT-Net as an OpenMMLab backbone.

``import mmhatnet`` (or ``custom_imports = dict(imports=['mmhatnet'])`` in a
config) registers ``HATNet`` in mmengine's root ``MODELS`` registry, which the
registries of mmdet, mmseg and mmpretrain fall back to, so ``type='HATNet'``
builds under each of their default scopes, with any subset of them installed.
"""
from .models import HATNet  # noqa: F401  (registers the backbone)
from .version import __version__  # noqa: F401
