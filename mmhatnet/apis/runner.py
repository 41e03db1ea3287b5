# Copyright (c) mmhatnet contributors. All rights reserved.
"""Running a config with the library it names: reading it with the
command line's choices and building that library's runner (with what a
distributed run without CUDA needs)."""
import os.path as osp
from typing import List, Optional
from unittest import mock

import torch
from mmengine.config import Config, ConfigDict
from mmengine.dist import init_dist
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from ..utils.mim import read_config
from .model import model_registry


def load_run_config(config: str,
                    work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none') -> Config:
    """Read ``config`` and apply the command-line choices both tools share:
    overrides, the launcher, and the work dir (default
    ``./work_dirs/<config name>``). ``mmhatnet::`` bases are resolved (see
    :mod:`mmhatnet.utils.mim`); one that cannot be raises
    :class:`~mmhatnet.utils.mim.ConfigPathError`."""
    cfg = read_config(config)
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
    model_registry(cfg.get('default_scope'))  # registers that library
    cpu_changes = []
    if cfg.get('launcher', 'none') != 'none' and not torch.cuda.is_available():
        cpu_changes = prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if cpu_changes:
        runner.logger.info('no CUDA device: distributed on the CPU, so '
                           + '; '.join(cpu_changes))
    return runner


# the norm layers that synchronise their statistics across processes
SYNC_NORMS = ('SyncBN', 'MMSyncBN')


def _replace_sync_norms(node, path: str = 'model') -> List[str]:
    """Turn every SyncBN-like ``type`` in the config tree ``node`` into
    plain ``BN`` in place; returns the paths changed."""
    changed = []
    if isinstance(node, dict):
        if node.get('type') in SYNC_NORMS:
            node['type'] = 'BN'
            changed.append(path)
        for key, value in node.items():
            changed += _replace_sync_norms(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += _replace_sync_norms(value, f'{path}.{i}')
    return changed


def prepare_cpu_distributed(cfg: Config) -> List[str]:
    """Make a ``--launcher pytorch/slurm/mpi`` run work on machines
    without CUDA, where mmengine 0.10.7 (the runner the OpenMMLab tools
    build) fails in three places:

    * ``init_dist`` calls ``torch.cuda.set_device(local_rank)`` before it
      creates the process group, which raises without a usable GPU ("Found
      no NVIDIA driver on your system" with a CUDA build of torch), and the
      runtime bases of mmdet/mmseg/mmpretrain ask for the ``nccl`` backend,
      which needs GPUs. So the process group is created here, with
      ``gloo``, by mmengine's own ``init_dist`` (which reads the
      torchrun/slurm/mpi environment) with ``set_device`` made a no-op for
      that call only; the runner then finds it initialised and does not
      create another one.
    * ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to
      ``MMDistributedDataParallel``, which DDP refuses for a module on the
      CPU: ``device_ids`` must be ``None`` there.
    * ``SyncBN`` (the norm of mmseg's decode heads) raises in training when
      its input is not on a GPU; it becomes plain ``BN``, statistics per
      process, as mmengine does itself in non-distributed runs
      (``cfg.sync_bn``, which would convert every BN, is dropped too).
      HAT-Net itself has GroupNorms only.

    Changes ``cfg`` in place, creates the process group, and returns what
    it changed, for the log.
    """
    changes = []
    env_cfg = cfg.get('env_cfg') or ConfigDict()
    dist_cfg = env_cfg.get('dist_cfg') or ConfigDict()
    if dist_cfg.get('backend') != 'gloo':
        changes.append(f'env_cfg.dist_cfg.backend '
                       f'{dist_cfg.get("backend")!r} -> \'gloo\'')
        dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    if not torch.distributed.is_initialized():
        with mock.patch.object(torch.cuda, 'set_device', lambda device: None):
            init_dist(cfg.launcher, **dist_cfg)

    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:  # what Runner.wrap_model builds without one
        wrapper = ConfigDict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = wrapper['type']
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                     DistributedDataParallel):
        wrapper['device_ids'] = None
        changes.append('the model is wrapped in DDP with device_ids=None')
    cfg.model_wrapper_cfg = wrapper  # (assigning a dict to a Config copies)

    synced = _replace_sync_norms(cfg.get('model'))
    if synced:
        changes.append('SyncBN -> BN (per-process statistics) in ' +
                       ', '.join(synced))
    if cfg.get('sync_bn'):
        changes.append(f'sync_bn={cfg.sync_bn!r} dropped')
        cfg.sync_bn = None
    return changes


def release_distributed() -> None:
    """Destroy the process group of a distributed run (``--launcher``) before
    the interpreter exits, as torch asks: left to the teardown, gloo's
    threads can abort (SIGABRT) a process whose work is done."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
