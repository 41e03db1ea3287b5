#!/usr/bin/env python
"""Evaluate a checkpoint of any mmhatnet config with the library its
``default_scope`` names (mmdet, mmseg or mmpretrain).

CHECKPOINT is one that tools/train.py wrote, or (for the hatnet_*_in1k
configs) a released HAT-Net ImageNet checkpoint as downloaded, path or URL,
which is converted on the fly, or an ONNX file that
tools/deployment/export.py wrote, run in --backend (onnxruntime or openvino,
--precision fp32 or bf16) with the library's post-processing and metric.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
        [--amp [--amp-dtype {fp16,bf16}]] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]
        [--backend {onnxruntime,openvino}] [--precision {fp32,bf16}]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # mmhatnet_tools

from mmengine.dist import is_main_process

from mmhatnet.apis import (build_runner, check_released_fits_config,
                           load_released_classifier, load_run_config,
                           release_distributed, released_state_dict)
from mmhatnet.utils.mim import ConfigPathError
from mmhatnet_tools.amp import enable_amp_test
from mmhatnet_tools.cli import (add_amp_arguments, add_cfg_options,
                                check_command_line, exit_with_error)
from mmhatnet_tools.data_checks import DataCheckError, check_datasets
from mmhatnet_tools.run_outputs import enable_visualization, write_test_results
from mmhatnet_tools.train_checks import check_model


def parse_args():
    parser = argparse.ArgumentParser(description='Test a HAT-Net model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--work-dir', help='where the metrics are written')
    parser.add_argument('--show-dir', help='draw every test image with its '
                        'predictions into this folder (relative paths are '
                        'inside the work dir)')
    add_amp_arguments(parser, 'test')
    add_cfg_options(parser)
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--backend', default='onnxruntime',
                        choices=['onnxruntime', 'openvino'],
                        help='runtime of an ONNX file (default onnxruntime)')
    parser.add_argument('--precision', default='fp32',
                        choices=['fp32', 'bf16'],
                        help='inference precision of an ONNX file; bf16: '
                        'OpenVINO only, where the CPU has it')
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    check_command_line(args.config, launcher=args.launcher)
    url = args.checkpoint.startswith(('http://', 'https://'))
    if not url and not osp.isfile(args.checkpoint):
        exit_with_error(f'checkpoint {args.checkpoint!r} does not exist; give '
                        f'the path of a checkpoint file or URL')
    try:
        cfg = load_run_config(args.config, args.work_dir, args.cfg_options,
                              args.launcher)
    except ConfigPathError as e:  # e.g. a mmhatnet:: base it cannot find
        exit_with_error(e)
    onnx = args.checkpoint.lower().endswith('.onnx')
    try:
        # the checkpoint first: it is cheaper to read than the data
        released = None if onnx else released_state_dict(args.checkpoint)
        if released is not None:
            check_released_fits_config(cfg, args.checkpoint)
        check_model(cfg)
        check_datasets(cfg, ['test_dataloader'])
        amp = enable_amp_test(cfg, args.amp, args.amp_dtype)
    except (ValueError, RuntimeError, DataCheckError) as e:
        exit_with_error(e)
    cfg.load_from = None if released is not None or onnx else args.checkpoint
    show_dir = enable_visualization(cfg, args.show_dir) if args.show_dir \
        else None
    runner = build_runner(cfg)
    if amp:
        runner.logger.info(amp)
    if released is not None:
        load_released_classifier(runner.model, released, args.checkpoint)
    if onnx:
        from mmhatnet.deployment import DeployError, load_deployed
        try:
            runner.model = load_deployed(runner.model, args.checkpoint,
                                         args.backend, args.precision,
                                         runner.logger)
        except DeployError as e:
            exit_with_error(e)
    metrics = runner.test()
    if is_main_process():
        path = write_test_results(cfg.work_dir, args.config, args.checkpoint,
                                  metrics, show_dir)
        runner.logger.info(f'metrics: {path}')
        if show_dir:
            runner.logger.info(f'pictures of the predictions: {show_dir}')
    release_distributed()


if __name__ == '__main__':
    main()
