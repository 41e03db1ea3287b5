# Copyright (c) mmhatnet contributors. All rights reserved.
"""What tools/train.py and tools/test.py share: building the right library's
runner for a config."""
import importlib
import os.path as osp
from typing import Optional

from mmengine.config import Config
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


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turn on the library's visualisation hook so that testing writes
    pictures of the predictions into ``show_dir``."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise ValueError('the config has no default_hooks.visualization '
                         'to draw predictions with')
    vis = hooks.visualization
    if cfg.default_scope == 'mmpretrain':
        vis.enable, vis.out_dir = True, show_dir
    elif cfg.default_scope == 'mmseg':
        vis.draw = True
        cfg.visualizer.save_dir = show_dir
    else:
        vis.draw, vis.test_out_dir = True, show_dir
