#!/usr/bin/env python
"""Evaluate a checkpoint of any mmhatnet config with the library its
``default_scope`` names (mmdet, mmseg or mmpretrain).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

from mmhatnet.utils import (build_runner, enable_visualization,
                            load_run_config)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a HAT-Net model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--work-dir', help='where the metrics are written')
    parser.add_argument('--show-dir', help='write pictures of the predictions '
                        'into this folder (relative to the work dir\'s run)')
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
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_run_config(args.config, args.work_dir, args.cfg_options,
                          args.launcher)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    runner = build_runner(cfg)
    runner.test()


if __name__ == '__main__':
    main()
