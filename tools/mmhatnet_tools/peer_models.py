# Copyright (c) mmhatnet contributors. All rights reserved.
"""What a peer of HAT-Net needs to be built by a config and is in no
library: mmdet's PVTv2 as a backbone of an mmpretrain classifier
(``configs/fashion_mnist/pvtv2_b0_fmnist.py``). Imported by that config's
``custom_imports`` (``tools/train.py`` puts ``tools/`` on ``sys.path``);
not by ``import mmhatnet``."""
from mmdet.models.backbones import PyramidVisionTransformerV2
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TuplePVTv2(PyramidVisionTransformerV2):
    """mmdet's :class:`PyramidVisionTransformerV2`, unchanged but for the
    type of its outputs: a tuple, as mmpretrain's necks take them (mmdet
    returns a list, which ``GlobalAveragePooling`` refuses).

    Returns:
        tuple[Tensor]: ``(B, C_i, H_i, W_i)`` per index of ``out_indices``.
    """

    def forward(self, x):
        return tuple(super().forward(x))
