#!/usr/bin/env python
"""Train any mmhatnet config with the library its ``default_scope`` names
(mmdet, mmseg or mmpretrain).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os
import sys

from mmengine.config import DictAction

from mmhatnet.utils import (ConfigPathError, DataCheckError, build_runner,
                            check_datasets, load_run_config,
                            release_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a HAT-Net model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint of the work dir '
        'when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size')
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
    try:
        cfg = load_run_config(args.config, args.work_dir, args.cfg_options,
                              args.launcher)
    except ConfigPathError as e:  # e.g. a mmhatnet:: base it cannot find
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise SystemExit(f'{args.config} has no auto_scale_lr.base_batch_size'
                             ' to scale from; add it or drop --auto-scale-lr')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume

    loaders = ['train_dataloader']
    if cfg.get('val_cfg') is not None and cfg.get('val_dataloader') is not None:
        loaders.append('val_dataloader')
    try:
        check_datasets(cfg, loaders)
    except DataCheckError as e:
        raise SystemExit(f'error: {e}')

    runner = build_runner(cfg)
    runner.train()
    release_distributed()


if __name__ == '__main__':
    main()
