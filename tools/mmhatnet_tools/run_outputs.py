# Copyright (c) mmhatnet contributors. All rights reserved.
"""What ``tools/test.py`` adds to a test run: the pictures of
``--show-dir`` and ``results.json``."""
import json
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config

from mmhatnet.utils.files import atomic_output


def enable_visualization(cfg: Config, show_dir: str) -> str:
    """Turn on the library's visualisation hook so that testing draws every
    test image with its predictions into ``show_dir`` (relative paths are
    taken inside the work dir). Returns the folder the pictures go to (mmseg
    puts them under its ``vis_data/vis_image/``)."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise ValueError('the config has no default_hooks.visualization '
                         'to draw predictions with')
    # absolute, since the libraries' hooks join a relative folder under the
    # run's own <work_dir>/<timestamp>/
    show_dir = osp.abspath(osp.join(cfg.work_dir, show_dir))
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


def write_test_results(work_dir: str, config: str, checkpoint: str,
                       metrics: dict, pictures: Optional[str]) -> str:
    """Write what a test run produced to ``<work_dir>/results.json``
    (atomically): the config, the checkpoint, every metric and the folder of
    the pictures (absolute, or None). Returns the path."""
    path = osp.join(work_dir, 'results.json')
    os.makedirs(work_dir, exist_ok=True)
    results = dict(config=config, checkpoint=checkpoint,
                   metrics={k: _plain(v) for k, v in metrics.items()},
                   pictures=pictures)
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        json.dump(results, f, indent=2)
    return path


def _plain(value):
    """A metric as a JSON value (numpy and torch scalars become floats)."""
    if hasattr(value, 'item'):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
