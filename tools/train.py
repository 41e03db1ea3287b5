#!/usr/bin/env python
"""Train any mmhatnet config with the library its ``default_scope`` names
(mmdet, mmseg or mmpretrain).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
        [--amp [--amp-dtype fp16|bf16]] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # mmhatnet_tools

from mmhatnet.apis import build_runner, load_run_config, release_distributed
from mmhatnet.engine import AmpUnsupportedError
from mmhatnet.utils.mim import ConfigPathError
from mmhatnet_tools.amp import enable_amp_training
from mmhatnet_tools.cli import (add_cfg_options, check_command_line,
                                exit_with_error)
from mmhatnet_tools.train_checks import add_robust_hooks, check_before_training


def parse_args():
    parser = argparse.ArgumentParser(description='Train a HAT-Net model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint of the work dir '
        'when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision: bf16 on a CPU, fp16 '
                        '(dynamic loss scaling) on a GPU')
    parser.add_argument('--amp-dtype', choices=('fp16', 'bf16'),
                        help='the autocast dtype of --amp')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size')
    add_cfg_options(parser)
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    check_command_line(args.config, args.resume, args.launcher)
    try:
        cfg = load_run_config(args.config, args.work_dir, args.cfg_options,
                              args.launcher)
    except ConfigPathError as e:  # e.g. a mmhatnet:: base it cannot find
        exit_with_error(e)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            exit_with_error(f'{args.config} has no auto_scale_lr.base_batch_size'
                            ' to scale from; add it or drop --auto-scale-lr')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    try:
        amp = enable_amp_training(cfg, args.amp, args.amp_dtype, args.resume)
    except AmpUnsupportedError as e:
        exit_with_error(e)

    loaders = ['train_dataloader']
    if cfg.get('val_cfg') is not None and cfg.get('val_dataloader') is not None:
        loaders.append('val_dataloader')
    try:  # the model, the data and every image, before the work dir
        check_before_training(cfg, loaders)
    except ValueError as e:  # DataCheckError included
        exit_with_error(e)
    add_robust_hooks(cfg)  # atomic checkpoints; on SIGTERM: save, exit 143

    runner = build_runner(cfg)
    if amp:
        runner.logger.info(amp)
    runner.train()
    release_distributed()


if __name__ == '__main__':
    main()
