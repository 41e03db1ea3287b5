# Copyright (c) mmhatnet contributors. All rights reserved.
"""Evaluating a released HAT-Net ImageNet checkpoint (official key names,
backbone and classifier) with one of our ``hatnet_*_in1k`` classifier
configs: what ``tools/test.py``, ``tools/demo.py`` and the ONNX export do
with such a file. It is read and converted by the one loader of released
files, ``hatnet://`` (:func:`mmhatnet.utils.model_hub.load_from_hatnet_release`),
and checked against the model here, with messages that say what to change."""
from typing import Optional

import torch
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from ..models.utils import is_official_state_dict
from ..models.utils.torch_compat import WEIGHTS_ONLY
from ..utils.model_hub import load_from_hatnet_release


def released_state_dict(checkpoint: str) -> Optional[dict]:
    """The state dict of ``checkpoint`` converted to a classifier's names
    (``backbone.*``, ``head.fc.*``) if it is a released (official) HAT-Net
    ImageNet checkpoint, else ``None`` (an mmengine checkpoint, which the
    runner loads itself). Paths and URLs; read with ``weights_only``."""
    if not checkpoint.startswith(('http://', 'https://')):
        try:  # cheap look at the keys, without reading the tensors
            ckpt = torch.load(checkpoint, map_location='cpu', mmap=True,
                              weights_only=WEIGHTS_ONLY)
        except Exception:
            ckpt = None  # legacy format, or not a checkpoint: read it below
        if isinstance(ckpt, dict):
            keys = ckpt.get('state_dict', ckpt.get('model', ckpt))
            if isinstance(keys, dict):
                keys = dict.fromkeys(keys, 0)
                consume_prefix_in_state_dict_if_present(keys, 'module.')
                if not is_official_state_dict(keys):
                    return None
    try:
        return load_from_hatnet_release(checkpoint)['state_dict']
    except ValueError:
        return None  # not a released file


def _released_needs_classifier(checkpoint: str) -> str:
    return (f'{checkpoint!r} is a released HAT-Net ImageNet checkpoint: it '
            f'holds a backbone and an ImageNet classifier only, so it '
            f'evaluates with a hatnet_*_in1k config. To test a detector or '
            f'segmentor, pass a checkpoint trained with its config (the '
            f'released weights go into its backbone init_cfg).')


def check_released_fits_config(cfg, checkpoint: str) -> None:
    """Refuse, before any data is read or any model is built, to evaluate a
    released ImageNet checkpoint with a config that is not a classifier."""
    model = cfg.get('model', {})
    kind = str(model.get('type', '')).split('.')[-1]  # 'mmpretrain.X' too
    if kind != 'ImageClassifier' or 'head' not in model:
        raise ValueError(_released_needs_classifier(checkpoint))


def load_released_classifier(model: torch.nn.Module, state_dict: dict,
                             checkpoint: str) -> None:
    """Load a released HAT-Net checkpoint (backbone and ImageNet classifier,
    as :func:`released_state_dict` converted it) into an mmpretrain
    ``ImageClassifier`` built from one of our ``hatnet_*_in1k`` configs, so
    that it evaluates without training."""
    if is_model_wrapper(model):  # DDP under --launcher pytorch/slurm
        model = model.module
    if not (hasattr(model, 'backbone') and hasattr(model, 'head')
            and hasattr(getattr(model, 'head'), 'fc')):
        raise ValueError(_released_needs_classifier(checkpoint))
    backbone = {k[len('backbone.'):]: v for k, v in state_dict.items()
                if k.startswith('backbone.')}
    model.backbone.check_state_dict(backbone, checkpoint)
    head = {k[len('head.fc.'):]: v for k, v in state_dict.items()
            if k.startswith('head.fc.')}
    own = model.head.fc
    if head['weight'].shape != own.weight.shape:
        raise ValueError(
            f'the classifier of {checkpoint!r} has shape '
            f'{tuple(head["weight"].shape)} but the config\'s head has '
            f'{tuple(own.weight.shape)}; set model.head.num_classes / '
            f'in_channels to match (1000 ImageNet classes)')
    model.backbone.load_state_dict(backbone, strict=True)
    own.load_state_dict(head, strict=True)
    MMLogger.get_current_instance().info(
        f'loaded the released HAT-Net checkpoint {checkpoint} '
        f'(backbone + classifier, converted on the fly)')
