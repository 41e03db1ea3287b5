#!/usr/bin/env python
"""Export a detector, instance segmenter, segmentor or classifier of ours (or,
with --backbone-only, its backbone) to ONNX.

    python tools/deployment/export.py CONFIG CHECKPOINT --out FILE.onnx
        [--shape H W] [--batch N] [--dynamic] [--backbone-only]
        [--cfg-options k=v ...]

The graph takes the network input "inputs" (B, 3, H, W), as the model's data
preprocessor gives it (normalised, padded), and returns the flattened tensors
of the model's tensor forward: ``model._forward(inputs)`` for mmdet (for a
two-stage detector: the neck features and the RPN head's outputs) and mmseg,
the logits for mmpretrain, the feature maps with --backbone-only. G1/G2 are
the config's, written into the file's metadata. --dynamic frees the batch
size, H and W (one graph for every size; traced at a batch of at least 2
and --shape with each side raised above the model's largest stride, 128 or
more, so that no size in the model is 1, which would bound them); without
it they are fixed to --batch and --shape (default 1 and 224 x 224).

Before the file is written, ONNX Runtime runs it against PyTorch on the
example and on one more input (another size and batch for --dynamic); it is
written through a temporary file only if every output agrees to 1e-4
relative to its largest value. Evaluate it with
``tools/test.py CONFIG FILE.onnx [--backend onnxruntime|openvino]``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools


def parse_args(argv=None):
    from mmhatnet_tools.cli import add_cfg_options
    parser = argparse.ArgumentParser(
        description='Export a HAT-Net model to ONNX')
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='the trained checkpoint (or a '
                        'released HAT-Net ImageNet one, for a classifier)')
    parser.add_argument('--out', required=True, help='the ONNX file to write')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'),
                        help='input size of the example (default 224 224)')
    parser.add_argument('--batch', type=int, default=1,
                        help='batch size of the example (default 1)')
    parser.add_argument('--dynamic', action='store_true',
                        help='one graph for every batch size, H and W')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone alone (its feature maps)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmhatnet.deployment import DeployError, build_model, export_onnx
    from mmhatnet_tools.cli import exit_with_error, run_or_exit
    if not args.out.lower().endswith('.onnx'):
        exit_with_error(f'--out {args.out!r} must name a .onnx file')

    def export():
        _, model = build_model(args.config, args.checkpoint, args.cfg_options)
        return export_onnx(model, args.out, shape=args.shape,
                           batch=args.batch, dynamic=args.dynamic,
                           backbone_only=args.backbone_only,
                           config_name=osp.basename(args.config))

    report = run_or_exit(export, errors=(DeployError, ))
    size = 'any batch and size' if report['dynamic'] else \
        f'(1, 3, {args.shape[0]}, {args.shape[1]})'.replace(
            '(1,', f'({args.batch},')
    print(f'{report["file"]}: {report["task"]}, {len(report["outputs"])} '
          f'outputs, input {size}; exported in {report["export_s"]:.1f} s, '
          f'{report["size_mb"]:.1f} MB')


if __name__ == '__main__':
    main()
