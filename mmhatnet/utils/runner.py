# Copyright (c) mmhatnet contributors. All rights reserved.
"""What tools/train.py and tools/test.py share: building the right library's
runner for a config."""
import importlib
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def load_run_config(config: str,
                    work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none') -> Config:
    """Read ``config`` and apply the command-line choices both tools share:
    overrides, the launcher, and the work dir (default
    ``./work_dirs/<config name>``)."""
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Register the modules of the library ``cfg.default_scope`` names and
    build its runner, exactly as that library's own tools would."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'config default_scope={scope!r}: expected one of '
                         f'{SCOPES}, which says which library runs it')
    try:
        lib = importlib.import_module(f'{scope}.utils')
    except ImportError as e:
        raise ImportError(f'this config runs with {scope}, which is not '
                          f'installed ({e}); run tools/install.sh') from e
    lib.register_all_modules(init_default_scope=False)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def enable_visualization(cfg: Config, show_dir: str) -> str:
    """Turn on the library's visualisation hook so that testing draws every
    test image with its predictions into ``show_dir`` (relative paths are
    taken inside the work dir). Returns the folder the pictures go to (mmseg
    puts them under its ``vis_data/vis_image/``)."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise ValueError('the config has no default_hooks.visualization '
                         'to draw predictions with')
    show_dir = osp.join(cfg.work_dir, show_dir)  # no-op for absolute paths
    vis = hooks.visualization
    if cfg.default_scope == 'mmpretrain':
        vis.enable, vis.out_dir, vis.interval = True, show_dir, 1
    elif cfg.default_scope == 'mmseg':
        vis.draw, vis.interval = True, 1
        cfg.visualizer.save_dir = show_dir
        show_dir = osp.join(show_dir, 'vis_data', 'vis_image')
    else:
        vis.draw, vis.test_out_dir = True, show_dir
    return show_dir


def released_state_dict(checkpoint: str) -> Optional[dict]:
    """The state dict of ``checkpoint`` if it is a released (official)
    HAT-Net ImageNet checkpoint, else ``None`` (an mmengine checkpoint, which
    the runner loads itself). Paths and URLs; read with ``weights_only``."""
    from mmhatnet.models.utils import is_official_state_dict, load_state_dict
    if not checkpoint.startswith(('http://', 'https://')):
        try:  # cheap look at the keys, without reading the tensors
            ckpt = torch.load(checkpoint, map_location='cpu', mmap=True,
                              weights_only=True)
        except Exception:
            ckpt = None  # legacy format, or not a checkpoint: read it below
        if isinstance(ckpt, dict):
            keys = ckpt.get('state_dict', ckpt.get('model', ckpt))
            if isinstance(keys, dict) and not is_official_state_dict({
                    k[len('module.'):] if k.startswith('module.') else k: 0
                    for k in keys}):
                return None
    state_dict = load_state_dict(checkpoint)
    return state_dict if is_official_state_dict(state_dict) else None


def load_released_classifier(model: torch.nn.Module, state_dict: dict,
                             checkpoint: str) -> None:
    """Load a released HAT-Net checkpoint (backbone and ImageNet classifier,
    official names) into an mmpretrain ``ImageClassifier`` built from one of
    our ``hatnet_*_in1k`` configs, so that it evaluates without training."""
    from mmengine.model import is_model_wrapper

    from mmhatnet.models.utils import convert_official_hatnet
    if is_model_wrapper(model):  # DDP under --launcher pytorch/slurm
        model = model.module
    if not (hasattr(model, 'backbone') and hasattr(model, 'head')
            and hasattr(getattr(model, 'head'), 'fc')):
        raise ValueError(
            f'{checkpoint!r} is a released HAT-Net ImageNet checkpoint: it '
            f'holds a backbone and an ImageNet classifier only, so it '
            f'evaluates with a hatnet_*_in1k config. To test a detector or '
            f'segmentor, pass a checkpoint trained with its config (the '
            f'released weights go into its backbone init_cfg).')
    converted = convert_official_hatnet(state_dict, with_head=True)
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()
                if k.startswith('backbone.')}
    model.backbone._check_compatible(backbone, checkpoint)
    head = {k[len('head.fc.'):]: v for k, v in converted.items()
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
