#!/usr/bin/env python
"""Parameters and FLOPs of a model config, as the paper counted them and
complete.

    python tools/analysis/get_flops.py CONFIG [--shape H [W]]
        [--cfg-options k=v ...]

The model is built without weights (the backbone's pretrained ``init_cfg`` is
dropped; nothing is downloaded). Two FLOPs counts are printed, both in
multiply-adds (one multiply-add = one FLOP, the paper's unit):

* paper convention: mmcv's module-hook counter, which is how the paper's
  tables were counted (our classifiers give Table 2's FLOPs with it). It
  leaves out everything that is not an ``nn.Module`` call, in particular the
  attention products ``Q K^T`` and ``A V``;
* complete: mmengine's tracing ``FlopAnalyzer`` (fvcore's counter, used by
  mmdet / mmseg's own get_flops tools) with a handle we add for
  ``scaled_dot_product_attention``, which it does not count by itself.

Detectors and segmentors are counted on the network forward (backbone, neck
and heads, no pre/post-processing); a two-stage detector's RoI head runs on
1000 fixed proposals (the mask head on 100), as mmdet 2.x's ``forward_dummy``.
The default input is the size of the paper's table for one of our configs
(224x224, 512x512 or 800x1280 as H x W), and the paper's figures are printed
beside ours when the config is one of the 16 that reproduce its rows.
"""
import argparse
import os.path as osp
import sys
import time
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

from mmhatnet_tools.cli import add_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Count the parameters and FLOPs of a model config')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        '--shape', type=int, nargs='+', metavar=('H', 'W'),
        help='input height and width (one number: a square); default: the '
        "input size of the paper's table for this kind of model")
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.shape is not None and (len(args.shape) > 2
                                   or min(args.shape) < 1):
        parser.error('--shape takes one or two positive ints: H [W]')
    return args


def _g(flops):
    return f'{flops / 1e9:.3f} G'


def report(config, result, row):
    """The text printed for ``result`` (see mmhatnet_tools.complexity.complexity);
    ``row`` is the paper's row for the config, or None."""
    H, W = result['shape']
    same_size = row is not None and row.input_size == (H, W)
    table = f'Table {row.table}' if row is not None else ''
    lines = ['=' * 72, f'Config:     {config}',
             f'Input:      1 x 3 x {H} x {W} (H x W = {H} x {W})']
    if row is not None:
        lines.append(f"Paper row:  {table}, {row.model} {row.method} "
                     f"(its FLOPs are at {row.input_size[0]} x "
                     f"{row.input_size[1]})")
    params = f'Params:     {result["params"] / 1e6:.3f} M'
    if row is not None:
        params += f'    (paper: {row.params_m} M)'
    lines.append(params)
    paper = (f'FLOPs, paper convention: {_g(result["paper_flops"])}'
             f'    (mmcv module hooks; no attention matmuls)')
    if same_size:
        paper += f'\n    paper, {table}: {row.flops_g} G'
    lines.append(paper)
    lines.append(f'FLOPs, complete:         {_g(result["complete_flops"])}'
                 f'    (mmengine FlopAnalyzer + scaled dot-product '
                 f'attention)')
    lines.append(f'    of which attention (Q K^T, A V): '
                 f'{_g(result["attention_flops"])}')
    by_op = ', '.join(f'{k} {_g(v)}' for k, v in sorted(
        result['by_operator'].items(), key=lambda kv: -kv[1]))
    lines.append(f'    by operator: {by_op}')
    if result['uncounted_ops']:
        lines.append('    not counted (no handle): ' + ', '.join(
            sorted(k.replace('aten::', '') for k in result['uncounted_ops'])))
    lines.append('FLOPs are multiply-adds (1 MAC = 1 FLOP), as in the paper.')
    lines.append('=' * 72)
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    from mmhatnet_tools.complexity import complexity
    from mmhatnet_tools.zoo import row_for_config
    start = time.time()
    try:
        result = complexity(args.config, shape=args.shape,
                            cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(report(args.config, result, row_for_config(args.config)))
    print(f'(counted in {time.time() - start:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
