# Copyright (c) mmhatnet contributors. All rights reserved.
"""Our model zoo against the paper: the config of ours that reproduces each
row of :mod:`.paper` (``configs/<method>_hatnet_<size>.py``, in the
repository and in the package's ``.mim/configs``), and the row of a config.
Used by the FLOPs and tables tools, the metafile generator and the tests."""
import os.path as osp
from typing import Optional

from .paper import ROWS, PaperRow

# the config of each method's rows, relative to the repository root
CONFIG_PATTERNS = {
    'ImageNet classifier': 'configs/hatnet_{}_in1k.py',
    'Semantic FPN': 'configs/fpn_hatnet_{}.py',
    'RetinaNet': 'configs/retinanet_hatnet_{}.py',
    'Mask R-CNN': 'configs/mask_rcnn_hatnet_{}.py',
}


def config_of(row: PaperRow) -> str:
    """The config that reproduces ``row``, relative to the repo root."""
    return CONFIG_PATTERNS[row.method].format(row.size)


def config_name(row: PaperRow) -> str:
    """The name of :func:`config_of` without folder and ``.py``."""
    return osp.splitext(osp.basename(config_of(row)))[0]


def row_for_config(config: str) -> Optional[PaperRow]:
    """The row ``config`` reproduces with FLOPs and results (for a
    classifier: Table 2's, not Table 1's), or None.

    ``config`` is a name (``'fpn_hatnet_tiny'``) or a path; a path must be one
    of our ``configs/*.py`` (its folder named ``configs``)."""
    folder = osp.basename(osp.dirname(osp.abspath(config)))
    if osp.dirname(config) and folder != 'configs':
        return None
    name = osp.splitext(osp.basename(config))[0]
    found = [r for r in ROWS if config_name(r) == name and r.table != 1]
    return found[0] if found else None
