#!/usr/bin/env python
"""Evaluate ONE trained model under several G1/G2 settings, without
retraining (the idea of the paper's Table 6).

    python tools/analysis/sweep_g1g2.py CONFIG CHECKPOINT
        [--g1-g2 G1,G1,G1/G2,G2,G2 ...] [--shape H W] [--out-dir DIR]
        [--metric NAME] [--amp [--amp-dtype {fp16,bf16}]]
        [--cfg-options k=v ...]

G1 (the side of the local attention window) and G2 (the pooling ratio of
the global keys/values) hold no parameters, so one set of trained weights
runs under any of them. Each setting is written ``G1/G2`` with one value per
H-MHSA stage (three for HAT-Net; the last stage is plain MHSA), e.g.
``--g1-g2 8,8,8/16,8,4 4,4,4/8,4,2``: G1 = (8, 8, 8) with G2 = (16, 8, 4),
then G1 = (4, 4, 4) with G2 = (8, 4, 2). Without ``--g1-g2`` the config's own
setting is run first, then :data:`DEFAULT_SETTINGS`.

For each setting, with the checkpoint loaded once and only G1/G2 changed
(``HATNet.set_grid_sizes``):

* the test metrics of the config's test loop (tools/test.py's loop: the same
  dataloader, evaluator and checkpoint loading): ``coco/bbox_mAP`` (and
  ``coco/segm_mAP``) for detectors, ``mIoU`` for segmentors,
  ``accuracy/top1`` for classifiers, every metric the evaluator returns in
  the CSV;
* FLOPs of the network forward for one image at the test input size
  (``--shape H W``, else the size the backbone received most often in the
  first test run, i.e. after the test pipeline's resize and the data
  preprocessor's padding), in both conventions of
  tools/analysis/get_flops.py: the paper's (mmcv module hooks, no attention
  matmuls, so G1 does not change it) and complete (with ``Q K^T`` and
  ``A V``), plus the number of global keys per H-MHSA stage at that size;
* a fingerprint (SHA-1) of the model's weights after the run, the same for
  every setting: nothing was retrained.

CHECKPOINT is one that tools/train.py wrote or, with a ``hatnet_*_in1k``
config, a released HAT-Net ImageNet checkpoint (converted on the fly, as
tools/test.py does). The data is checked first (mmhatnet_tools.data_checks).

Written to ``--out-dir`` (default ``work_dirs/<config name>/sweep_g1g2``),
each file through a temporary file and a rename: ``sweep_g1g2.csv``,
``sweep_g1g2.md`` (a markdown table) and ``sweep_g1g2.png`` (the metric
against the complete FLOPs, one labelled point per setting). The runner's
logs go to a timestamped folder there.
"""
import argparse
import csv
import hashlib
import io
import math
import numbers
import os
import os.path as osp
import sys
import time
from collections import Counter

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

from mmhatnet_tools.cli import (ToolError, add_amp_arguments, add_cfg_options,
                                run_or_exit)

# the config's own setting is run first, then these (deduplicated): the
# dense-task and ImageNet defaults, a smaller and a larger local window, a
# finer and a coarser global pooling
DEFAULT_SETTINGS = (
    ((8, 8, 8), (16, 8, 4)),
    ((8, 7, 7), (8, 4, 2)),
    ((4, 4, 4), (16, 8, 4)),
    ((16, 16, 16), (16, 8, 4)),
    ((8, 8, 8), (8, 4, 2)),
    ((8, 8, 8), (32, 16, 8)),
)
# the metric plotted, by default: the first of these the evaluator returns
PRIMARY_METRICS = ('coco/bbox_mAP', 'mIoU', 'accuracy/top1')
# the metrics the markdown table shows (the CSV has all)
TABLE_METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                 'mIoU', 'aAcc', 'accuracy/top1', 'accuracy/top5')
SETTING_FORMAT = 'G1,G1,G1/G2,G2,G2'


# ---------------------------------------------------------------- settings
def parse_setting(text: str):
    """``'8,8,8/16,8,4'`` -> ``((8, 8, 8), (16, 8, 4))``."""
    bad = ToolError(
        f'--g1-g2 {text!r}: expected {SETTING_FORMAT}, the G1 value of each '
        f'H-MHSA stage, a slash, then the G2 values, all positive ints, '
        f'e.g. 8,8,8/16,8,4')
    parts = text.split('/')
    if len(parts) != 2:
        raise bad
    try:
        g1, g2 = (tuple(int(v) for v in p.split(',')) for p in parts)
    except ValueError:
        raise bad from None
    if len(g1) != len(g2) or min(g1 + g2) < 1:
        raise bad
    return g1, g2


def format_values(values) -> str:
    return ','.join(str(v) for v in values)


# ---------------------------------------------------- what the model saw
class ForwardRecorder:
    """Records, for every batch the backbone receives in a test run, the
    (H, W) of its images (after the test pipeline's resize and the data
    preprocessor's padding) and the G1/G2 the backbone has at that moment
    (so the table reports what ran, not only what was asked for)."""

    def __init__(self, backbone):
        self.shapes = Counter()
        self.grids = set()
        self.handle = backbone.register_forward_pre_hook(self)

    def __call__(self, module, args):
        x = args[0]
        self.shapes[tuple(int(s) for s in x.shape[-2:])] += int(x.shape[0])
        self.grids.add((tuple(module.g1), tuple(module.g2)))

    def remove(self):
        self.handle.remove()

    def most_common_shape(self):
        """``((H, W), how)``: the size most images were fed at."""
        (shape, n), = self.shapes.most_common(1)
        total = sum(self.shapes.values())
        return shape, (f'the input size of {n} of the {total} test images'
                       if len(self.shapes) > 1 else
                       f'the input size of all {total} test images')


# --------------------------------------------------------------- helpers
def weights_sha1(model) -> str:
    """SHA-1 of every parameter and buffer of ``model`` (names, dtypes,
    shapes and values, in name order)."""
    import torch
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f'{name}:{t.dtype}:{tuple(tensor.shape)}'.encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def global_keys(backbone, shape):
    """Number of pooled (global) keys of each H-MHSA stage for an (H, W)
    input: the stage map is ceil(side / 2**(i+2)), pooled in the cells of
    its attention's ``pool_size``."""
    H, W = shape
    keys = []
    for i in range(len(backbone.g2)):
        h, w = (math.ceil(s / 2**(i + 2)) for s in (H, W))
        kh, kw = backbone.stages[i][0].attn.pool_size(h, w)
        keys.append(math.ceil(h / kh) * math.ceil(w / kw))
    return tuple(keys)


def write_atomic(path: str, data: bytes) -> None:
    from mmhatnet.utils.files import atomic_output
    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


# ----------------------------------------------------------------- output
def table_rows(results, metric_names, sha_chars=40):
    header = ['G1', 'G2', 'global keys', 'FLOPs paper (G)',
              'FLOPs complete (G)', 'attention FLOPs (G)', *metric_names,
              'weights SHA-1']
    rows = []
    for r in results:
        rows.append([
            format_values(r['g1']), format_values(r['g2']),
            format_values(r['global_keys']),
            f'{r["paper_flops"] / 1e9:.4f}',
            f'{r["complete_flops"] / 1e9:.4f}',
            f'{r["attention_flops"] / 1e9:.4f}',
            *[_fmt_metric(r['metrics'].get(m)) for m in metric_names],
            r['sha1'][:sha_chars]])
    return header, rows


def _fmt_metric(v):
    if v is None:
        return 'n/a'
    return f'{v:.4f}' if isinstance(v, float) else str(v)


def to_csv(header, rows) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def to_markdown(header, rows, title) -> bytes:
    lines = [title, '', '| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return ('\n'.join(lines) + '\n').encode()


def to_png(results, metric, title) -> bytes:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    xs = [r['complete_flops'] / 1e9 for r in results]
    ys = [r['metrics'].get(metric) for r in results]
    for x, y, r in zip(xs, ys, results):
        if y is None:
            continue
        own = r['own']
        ax.scatter([x], [y], s=60 if own else 36,
                   marker='*' if own else 'o',
                   color='tab:red' if own else 'tab:blue', zorder=3)
        ax.annotate(f'G1 {format_values(r["g1"])}\nG2 '
                    f'{format_values(r["g2"])}', (x, y),
                    textcoords='offset points', xytext=(5, 4), fontsize=7)
    ax.set_xlabel('FLOPs, complete (G, multiply-adds)')
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.margins(x=0.2, y=0.15)  # room for the labels
    ax.grid(True, alpha=0.3)
    if any(r['own'] for r in results):
        ax.scatter([], [], marker='*', color='tab:red',
                   label="the config's own G1/G2")
        ax.legend(fontsize=8, loc='best')
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    plt.close(fig)
    return buf.getvalue()


# -------------------------------------------------------------------- run
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test one trained HAT-Net model under several G1/G2 '
        'settings (no retraining): metric and FLOPs per setting')
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument(
        '--g1-g2', nargs='+', metavar=SETTING_FORMAT, dest='settings',
        help='settings to run, each the G1 values of the H-MHSA stages, a '
        'slash and the G2 values, e.g. 8,8,8/16,8,4 4,4,4/8,4,2 (default: '
        'the config\'s own, then ' + ' '.join(
            f'{format_values(a)}/{format_values(b)}'
            for a, b in DEFAULT_SETTINGS) + ')')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size for the FLOPs (default: the test '
                        'pipeline\'s resize, padded as the model pads)')
    parser.add_argument('--metric', help='metric to plot (default: the '
                        'first of ' + ', '.join(PRIMARY_METRICS) +
                        ' the evaluator returns)')
    add_amp_arguments(parser, 'test')
    parser.add_argument('--out-dir', help='where the table and the plot go '
                        '(default: work_dirs/<config name>/sweep_g1g2)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def check_inputs(args):
    """Everything that can be checked before building anything."""
    settings = [parse_setting(s) for s in args.settings or []]
    if not osp.isfile(args.config):
        raise ToolError(f'config {args.config!r} does not exist')
    url = args.checkpoint.startswith(('http://', 'https://'))
    if not url and not osp.isfile(args.checkpoint):
        raise ToolError(f'checkpoint {args.checkpoint!r} does not exist')
    if args.shape is not None and min(args.shape) < 1:
        raise ToolError(f'--shape must be positive, got {args.shape}')
    return settings


def unwrap(model):
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def hatnet_backbone(model, what):
    from mmhatnet.models import HATNet
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, HATNet):
        raise ToolError(f'the backbone of {what} is '
                        f'{type(backbone).__name__}, not HATNet: it has no '
                        f'G1/G2 to sweep')
    return backbone


def run(args):
    settings = check_inputs(args)
    from mmhatnet.apis import (build_runner, load_released_classifier,
                               load_run_config, released_state_dict)
    from mmhatnet_tools.complexity import (TensorForward, both_flops,
                                           build_model)
    from mmhatnet_tools.data_checks import DataCheckError, check_datasets
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = args.out_dir or osp.join('work_dirs', name, 'sweep_g1g2')
    cfg = load_run_config(args.config, out_dir, args.cfg_options)
    if cfg.get('default_scope') not in ('mmdet', 'mmseg', 'mmpretrain'):
        raise ToolError(f'config {args.config!r} has default_scope='
                        f'{cfg.get("default_scope")!r}; expected mmdet, '
                        f'mmseg or mmpretrain')
    from mmhatnet.engine import AmpUnsupportedError
    from mmhatnet_tools.amp import enable_amp_test
    try:
        check_datasets(cfg, ['test_dataloader'])
        amp = enable_amp_test(cfg, args.amp, args.amp_dtype)
    except (DataCheckError, AmpUnsupportedError) as e:
        raise ToolError(str(e)) from None
    released = released_state_dict(args.checkpoint)
    if released is not None and cfg.default_scope != 'mmpretrain':
        raise ToolError(
            f'{args.checkpoint!r} is a released HAT-Net ImageNet checkpoint '
            f'(a backbone and a classifier); sweep it with a hatnet_*_in1k '
            f'config, or give a checkpoint trained with {args.config!r}')

    # the model the FLOPs are counted on: the same config, no weights
    counted = build_model(cfg)
    counted_backbone = hatnet_backbone(counted, args.config)
    own = (counted_backbone.g1, counted_backbone.g2)
    n = len(own[0])
    if not settings:
        settings = [own] + [s for s in DEFAULT_SETTINGS
                            if s != own and len(s[0]) == n]
    for g1, g2 in settings:
        if len(g1) != n:
            raise ToolError(
                f'--g1-g2 {format_values(g1)}/{format_values(g2)}: this '
                f'HAT-Net has {n} H-MHSA stages, so {n} G1 and {n} G2 values')

    os.makedirs(out_dir, exist_ok=True)
    cfg.load_from = None if released is not None else args.checkpoint
    runner = build_runner(cfg)
    if amp:
        runner.logger.info(amp)
    if released is not None:  # as tools/test.py: converted on the fly
        load_released_classifier(runner.model, released, args.checkpoint)
    model = unwrap(runner.model)
    backbone = hatnet_backbone(model, args.config)
    # what Runner.test() does, with the test loop run once per setting
    runner._test_loop = runner.build_test_loop(runner._test_loop)
    runner.call_hook('before_run')
    runner.load_or_resume()
    results = []
    shape, how = (tuple(args.shape), '--shape') if args.shape else (None,
                                                                    None)
    try:
        for i, (g1, g2) in enumerate(settings):
            start = time.time()
            backbone.set_grid_sizes(g1, g2)
            counted_backbone.set_grid_sizes(g1, g2)
            runner.logger.info(f'G1/G2 sweep {i + 1}/{len(settings)}: '
                               f'G1={g1} G2={g2}')
            seen = ForwardRecorder(backbone)
            try:
                metrics = runner.test_loop.run()
            finally:
                seen.remove()
            if not seen.shapes:
                raise ToolError('the test loop fed the model no image; is '
                                'the test set empty?')
            if seen.grids != {(g1, g2)}:  # cannot happen; say so if it does
                raise RuntimeError(f'asked for G1={g1} G2={g2}, but the '
                                   f'backbone ran with {seen.grids}')
            if shape is None:
                shape, how = seen.most_common_shape()
            forward = TensorForward(counted, cfg.default_scope).eval()
            paper, complete, by_op, _ = both_flops(forward, shape)
            attention = sum(v for k, v in by_op.items()
                            if 'scaled_dot_product' in k)
            # mmseg returns numpy scalars, the others floats
            metrics = {k: float(v) for k, v in metrics.items()
                       if isinstance(v, numbers.Real)
                       and not isinstance(v, bool)}
            numeric = list(metrics)
            if not numeric:
                raise ToolError(
                    f'the test loop returned no metric for G1={g1} G2={g2}; '
                    f'a detector whose boxes all score '
                    f'below its test_cfg score_thr gives none: lower it '
                    f'with --cfg-options model.test_cfg.score_thr=0')
            if args.metric is not None and args.metric not in numeric:
                raise ToolError(f'--metric {args.metric!r}: the test loop '
                                f'returns {numeric}; pass one of them')
            (ran_g1, ran_g2), = seen.grids
            results.append(dict(
                g1=ran_g1, g2=ran_g2, own=(g1, g2) == own,
                metrics=dict(metrics),
                paper_flops=paper, complete_flops=complete,
                attention_flops=attention,
                global_keys=global_keys(counted_backbone, shape),
                sha1=weights_sha1(model)))
            print(f'G1={format_values(g1)} G2={format_values(g2)}: '
                  + ', '.join(f'{k}={_fmt_metric(v)}'
                              for k, v in metrics.items())
                  + f'; FLOPs complete {complete / 1e9:.3f} G'
                  f' ({time.time() - start:.1f} s)', flush=True)
    finally:
        runner.call_hook('after_run')

    metric_names = []
    for r in results:
        metric_names += [k for k in r['metrics'] if k not in metric_names]
    metric = args.metric or next(
        (m for m in PRIMARY_METRICS if m in metric_names), metric_names[0])
    title = (f'{name}, {osp.basename(args.checkpoint)}: G1/G2 sweep '
             f'without retraining; FLOPs at {shape[0]}x{shape[1]} (H x W, '
             f'{how})')
    paths = {ext: osp.join(out_dir, f'sweep_g1g2.{ext}')
             for ext in ('csv', 'md', 'png')}
    # the CSV has every metric and the whole fingerprint; the markdown table
    # the main metrics and a short one
    write_atomic(paths['csv'], to_csv(*table_rows(results, metric_names)))
    main_metrics = [m for m in metric_names
                    if m in TABLE_METRICS or m == metric]
    header, rows = table_rows(results, main_metrics, sha_chars=12)
    write_atomic(paths['md'], to_markdown(header, rows, title))
    write_atomic(paths['png'], to_png(
        results, metric, f'{name}, {osp.basename(args.checkpoint)}: G1/G2 '
        f'without retraining\nFLOPs at {shape[0]}x{shape[1]} (H x W)'))
    return paths


def main(argv=None):
    args = parse_args(argv)
    paths = run_or_exit(run, args)
    for ext, path in paths.items():
        print(f'{ext}: {osp.abspath(path)}')


if __name__ == '__main__':
    main()
