#!/usr/bin/env python
"""Evaluate a checkpoint of any mmhatnet config with the library its
``default_scope`` names (mmdet, mmseg or mmpretrain).

CHECKPOINT is one that tools/train.py wrote, or (for the hatnet_*_in1k
configs) a released HAT-Net ImageNet checkpoint as downloaded, path or URL,
which is converted on the fly.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from mmhatnet.utils import (ConfigPathError, DataCheckError, build_runner,
                            check_datasets, check_released_fits_config,
                            enable_visualization, load_released_classifier,
                            load_run_config, release_distributed,
                            released_state_dict)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a HAT-Net model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--work-dir', help='where the metrics are written')
    parser.add_argument('--show-dir', help='draw every test image with its '
                        'predictions into this folder (relative paths are '
                        'inside the work dir)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. a.b=1')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    url = args.checkpoint.startswith(('http://', 'https://'))
    if not url and not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    try:
        cfg = load_run_config(args.config, args.work_dir, args.cfg_options,
                              args.launcher)
    except ConfigPathError as e:  # e.g. a mmhatnet:: base it cannot find
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    try:
        # the checkpoint first: it is cheaper to read than the data
        released = released_state_dict(args.checkpoint)
        if released is not None:
            check_released_fits_config(cfg, args.checkpoint)
        check_datasets(cfg, ['test_dataloader'])
    except (ValueError, RuntimeError, DataCheckError) as e:
        raise SystemExit(f'error: {e}')
    cfg.load_from = None if released is not None else args.checkpoint
    show_dir = enable_visualization(cfg, args.show_dir) if args.show_dir \
        else None
    runner = build_runner(cfg)
    if released is not None:
        load_released_classifier(runner.model, released, args.checkpoint)
    runner.test()
    if show_dir:
        runner.logger.info(f'pictures of the predictions: {show_dir}')
    release_distributed()


if __name__ == '__main__':
    main()
