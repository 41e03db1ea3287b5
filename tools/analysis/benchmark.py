#!/usr/bin/env python
# Copyright (c) mmhatnet contributors. All rights reserved.
"""Speed and peak memory of HAT-Net, side by side with its plain formulation
and with the backbones a user would pick instead.

    # the comparison: every model at every size, inference and training step
    python tools/analysis/benchmark.py compare [--models ...] [--cases ...]
    # the same in mixed precision: every row also in bf16 (and fp16)
    python tools/analysis/benchmark.py compare --dtype fp32 bf16 fp16
    # cases of your own (HxW:B), each mode or one of them
    python tools/analysis/benchmark.py compare --cases 224x224:8:infer \
        512x512:1:infer 512x512:2:train
    # the scaling mode: HAT-Net-Small inference from 512^2 up, + a PNG
    python tools/analysis/benchmark.py scaling [--sides 512 1024 2048 ...]
    # measure some variants again, keep the others of an earlier run
    python tools/analysis/benchmark.py scaling --variants fused \
        --with-json old.json --json new.json
    # only the table and the plot of earlier runs
    python tools/analysis/benchmark.py scaling --report-only --with-json a.json

**compare** times, in one run, for each case (input size and batch: a name
of ``CASES``, or ``HxW:B``, ending in ``:infer`` or ``:train`` to measure
that mode only) and each model: inference (``eval()``, ``no_grad``,
forward only) and a training step (``train()``, forward + backward of the
mean of every output; no optimizer), with the peak memory of each. The
models:

* ``hatnet-{tiny,small,medium,large}``: our backbone (fused attention,
  channels-last layout);
* ``hatnet-*-plain``: the same module, same weights, run through
  :func:`mmhatnet_tools.reference_backbone`, the plain formulation of the
  paper and the released code (NCHW, explicit ``softmax(QK^T/sqrt d)V``);
* ``hatnet-*-compiled`` (opt-in): our backbone through ``torch.compile``
  (inductor, static shapes; the compilation happens in the untimed warm-up);
* ``swin-t`` and ``pvtv2-b2``: mmdet's ``SwinTransformer`` (the Swin-T of
  mmdet's RetinaNet/Mask R-CNN configs) and ``PyramidVisionTransformerV2``
  (B2), at the same input.

HAT-Net runs with the dense-task G1/G2 (8,8,8 / 16,8,4) except at 224x224,
where it runs with the ImageNet ones (8,7,7 / 8,4,2), as in the paper.
It prints seconds, peak memory, GFLOPs (multiply-adds, attention included:
:func:`mmhatnet_tools.complexity.complete_flops`), and ratios: each HAT-Net against
its plain formulation and against Swin-T, and time per GFLOP.

``--dtype fp32 bf16 fp16`` measures every row in each dtype: ``bf16``/
``fp16`` run the forward under ``torch.autocast`` of that dtype (the
training step's backward follows autocast's casts), as ``--amp`` trains and
tests. The tables get a speed-up against the same model in fp32 and, for
HAT-Net, against the plain formulation in fp32 (the official code as people
run it); the header says what bf16 this CPU has (AVX512-BF16, AMX), since
without them bf16 is emulated and slow.

**scaling** runs HAT-Net-Small inference (batch 1) at growing square sizes,
for: ``fused`` (our default model), ``plain`` (the plain formulation, same
weights), ``linear-last`` (``last_stage_pool_to=16``: the last stage's keys
and values pooled so its cost stays linear), ``fixed-keys`` (``linear-last``
and G2 multiplied by ``ceil(side / 512)``: every stage keeps about the number
of global keys it has at 512^2, since with a fixed G2 the keys of stages 1-3
grow with the pixels too) and ``full-mhsa`` (every stage
plain MHSA over all tokens, the vanilla ViT-style model, with the weights of
the local projections). A variant stops growing once a size takes more than
``--max-seconds`` or would pass ``--max-memory-gb``. It prints time and peak
memory per size, the fitted exponent ``time ~ pixels^a`` (least squares in
log-log), and writes a PNG.

Timing: ``--warmup`` untimed runs, then ``--repeats`` timed ones, median
(``mmhatnet_tools.benchmark.time_calls``: torch.utils.benchmark's clock,
which synchronises a GPU). Peak memory: on a GPU ``torch.cuda.
max_memory_allocated`` above what was allocated before; on a CPU the
process's peak resident set (``VmHWM``, reset through
``/proc/self/clear_refs``) above its resident set just before, after
returning freed heap to the OS (``malloc_trim``). Each model is measured in
its own subprocess, so that nothing (allocator caches, thread pools) leaks
from one to the next. CPU runs use torch's default threads.
"""
import argparse
import itertools
import json
import math
import os
import os.path as osp
import re
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

import torch

from mmhatnet_tools.benchmark import (ALL_MODELS, COMPILED_MODELS, DTYPES,
                                      HATNET_SIZES, VARIANTS, fit_exponent,
                                      in_subprocess, machine)
from mmhatnet_tools.cli import ToolError, exit_with_error, run_or_exit

# name: (height, width, batch)
CASES = {
    '224': (224, 224, 32),
    '512': (512, 512, 2),
    '800x1344': (800, 1344, 1),
}
# a --cases entry besides those names: HxW:B, optionally :infer or :train
CASE_SPEC = re.compile(r'(\d+)x(\d+):(\d+)(?::(infer|train))?')


# -------------------------------------------------------------- reporting
def _ratio(a: Optional[Dict], b: Optional[Dict], mode: str, key: str
           ) -> Optional[float]:
    """``b[mode][key] / a[mode][key]`` when both rows have that mode."""
    if not a or not b or mode not in a or mode not in b:
        return None
    den = a[mode][key]
    return b[mode][key] / den if den else None


def _per_tflop(row: Optional[Dict], mode: str) -> Optional[float]:
    """Seconds per 10^12 multiply-adds (a training step counts 3 forwards)."""
    if not row or mode not in row or not row.get('gflops'):
        return None
    work = row['gflops'] * (3 if mode == 'train' else 1) / 1e3
    return row[mode]['seconds'] / work


def _cell(value: Optional[float], fmt: str = '{:.2f}x') -> str:
    return '-' if value is None else fmt.format(value)


def compare_table(rows: List[Dict]) -> str:
    """A markdown table per case, ratios included (with several dtypes,
    the plain and Swin-T ratios are taken in the row's own dtype)."""
    by = {(r['model'], r['height'], r['width'], r['batch'],
           r.get('dtype', 'fp32')): r for r in rows}
    dtypes = {r.get('dtype', 'fp32') for r in rows}
    mixed = dtypes != {'fp32'}
    lines = []
    # one table per case (size and batch), in the order they ran
    for h, w, batch in dict.fromkeys((r['height'], r['width'], r['batch'])
                                     for r in rows):
        case_rows = [r for r in rows
                     if (r['height'], r['width'], r['batch']) == (h, w, batch)]
        extra = (' dtype | ', ' speed-up vs fp32 (infer / train) | '
                 'speed-up vs plain fp32 (infer / train) |',
                 '---|', '---|---|') if mixed else ('', '', '', '')
        lines += [
            f'\n**{h}x{w}, batch {batch}**\n',
            '| model |' + extra[0] + ' GFLOPs | infer s | infer GB | '
            'train s | train GB | '
            'speed-up vs plain (infer / train) | memory vs plain (infer / '
            'train) | s per TFLOP (infer / train) | time per FLOP vs Swin-T '
            '(infer / train) |' + extra[1],
            '|---|' + extra[2] + '---:|---:|---:|---:|---:|---|---|---|---|'
            + extra[3]
        ]
        for r in case_rows:
            dt = r.get('dtype', 'fp32')
            swin = by.get(('swin-t', h, w, batch, dt))
            cells = [r['model']] + ([dt] if mixed else []) + [
                _cell(r.get('gflops'), '{:.1f}')]
            for mode in ('infer', 'train'):
                m = r.get(mode)
                cells += [_cell(m and m['seconds'], '{:.3f}'),
                          _cell(m and m['peak_bytes'] / 2**30, '{:.2f}')]
            plain = plain32 = None
            if r['model'].startswith('hatnet-') and '-plain' not in r['model']:
                base = r['model'].replace('-compiled', '')
                plain = by.get((base + '-plain', h, w, batch, dt))
                plain32 = by.get((base + '-plain', h, w, batch, 'fp32'))
            cells.append(' / '.join(
                _cell(_ratio(r, plain, m, 'seconds'))
                for m in ('infer', 'train')) if plain else '')
            cells.append(' / '.join(
                _cell(_ratio(plain, r, m, 'peak_bytes'))
                for m in ('infer', 'train')) if plain else '')
            cells.append(' / '.join(
                _cell(_per_tflop(r, m), '{:.1f}') for m in ('infer', 'train')))
            vs_swin = []
            for m in ('infer', 'train'):
                ours, theirs = _per_tflop(r, m), _per_tflop(swin, m)
                vs_swin.append(_cell(ours / theirs if ours and theirs
                                     else None))
            cells.append(' / '.join(vs_swin))
            if mixed:
                fp32 = by.get((r['model'], h, w, batch, 'fp32'))
                for base in (fp32, plain32):
                    cells.append(' / '.join(
                        _cell(_ratio(r, base, m, 'seconds'))
                        for m in ('infer', 'train')) if base else '')
            lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('\nspeed-up vs plain > 1: faster than the plain formulation '
                 'at equal weights; memory vs plain < 1: less peak memory. '
                 's per TFLOP: seconds per 10^12 multiply-adds (a training '
                 'step counted as 3 forwards); vs Swin-T < 1: less time per '
                 'FLOP than Swin-T in the same run.' + (
                     ' vs fp32 > 1: faster than the same model in fp32; vs '
                     'plain fp32: against the plain formulation in fp32.'
                     if mixed else ''))
    return '\n'.join(lines)


def scaling_table(rows: List[Dict]) -> str:
    lines = ['| variant | side | seconds | peak GB | GFLOPs | s per TFLOP |',
             '|---|---:|---:|---:|---:|---:|']
    for r in rows:
        lines.append(f'| {r["variant"]} | {r["height"]} | '
                     f'{r["infer"]["seconds"]:.2f} | '
                     f'{r["infer"]["peak_bytes"] / 2**30:.2f} | '
                     f'{_cell(r.get("gflops"), "{:.0f}")} | '
                     f'{_cell(_per_tflop(r, "infer"), "{:.1f}")} |')
    lines += ['', '| variant | time ~ pixels^a: a over all sides | sides | '
              'a from 512 to 2048 |', '|---|---:|---|---:|']
    for variant in VARIANTS:
        pts = [(r['height']**2, r['infer']['seconds']) for r in rows
               if r['variant'] == variant]
        a = fit_exponent(pts)
        if a is not None:
            sides = [str(int(math.sqrt(p))) for p, _ in pts]
            window = [(p, t) for p, t in pts if 512**2 <= p <= 2048**2]
            has_ends = {512**2, 2048**2} <= {p for p, _ in window}
            a_512_2048 = fit_exponent(window) if has_ends else None
            lines.append(f'| {variant} | {a:.2f} | {", ".join(sides)} | '
                         f'{_cell(a_512_2048, "{:.2f}")} |')
    return '\n'.join(lines)


def plot_scaling(rows: List[Dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for variant in VARIANTS:
        pts = [r for r in rows if r['variant'] == variant]
        if not pts:
            continue
        px = [r['height']**2 / 1e6 for r in pts]
        a = fit_exponent([(r['height']**2, r['infer']['seconds'])
                          for r in pts])
        label = variant + (f' (~px^{a:.2f})' if a is not None else '')
        ax_t.loglog(px, [r['infer']['seconds'] for r in pts], 'o-',
                    label=label)
        ax_m.loglog(px, [r['infer']['peak_bytes'] / 2**30 for r in pts],
                    'o-', label=variant)
    for ax, ylabel in ((ax_t, 'inference seconds'), (ax_m, 'peak GB')):
        ax.set_xlabel('megapixels (square input)')
        ax.set_ylabel(ylabel)
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f'HAT-Net-Small inference, batch 1 -- {machine()}',
                 fontsize=8)
    fig.tight_layout()
    from mmhatnet.utils.files import atomic_output
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)


def write_json(rows, path):
    from mmhatnet.utils.files import atomic_output
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        json.dump(dict(machine=machine(), rows=rows), f, indent=1)


# ------------------------------------------------------------------ modes
def parse_case(text: str, batch: Optional[int] = None,
               modes: Sequence[str] = ('infer', 'train')
               ) -> Tuple[int, int, int, List[str]]:
    """``(height, width, batch, modes)`` of a ``--cases`` entry: a name of
    :data:`CASES` (its batch unless ``batch`` is given; ``modes``), or
    ``HxW:B`` (batch B), optionally ending in ``:infer`` or ``:train`` to
    measure that mode only: ``8x224x224`` inference and a ``2x512x512``
    training step are ``224x224:8:infer 512x512:2:train``."""
    if text in CASES:
        h, w, default = CASES[text]
        return h, w, batch or default, list(modes)
    m = CASE_SPEC.fullmatch(text)
    if not m or 0 in (int(m[1]), int(m[2]), int(m[3])):
        raise ToolError(f'--cases {text!r}: give one of {", ".join(CASES)} '
                        f'or HxW:B[:infer|:train] with positive sizes, e.g. '
                        f'512x512:2:train')
    return int(m[1]), int(m[2]), int(m[3]), [m[4]] if m[4] else list(modes)


def cmd_compare(args) -> List[Dict]:
    models = args.models or list(ALL_MODELS)
    cases = [parse_case(c, args.batch, args.modes) for c in args.cases]
    rows = []
    print(f'# compare on {machine()}', flush=True)
    for h, w, batch, modes in cases:
        for name, dtype in itertools.product(models, args.dtype):
            spec = dict(model=name, height=h, width=w, batch=batch,
                        modes=modes, warmup=args.warmup,
                        repeats=args.repeats, device=args.device,
                        dtype=dtype)
            t0 = time.time()
            row = in_subprocess(spec)
            if row is None:
                continue
            rows.append(row)
            print(f'  {name:>18} {dtype} {h}x{w} b{batch}: ' + ', '.join(
                f'{m} {row[m]["seconds"]:.3f} s {row[m]["peak_bytes"] / 2**30:.2f} GB'
                for m in modes) + f' ({time.time() - t0:.0f} s)',
                flush=True)
    print(compare_table(rows))
    return rows


def earlier_rows(paths: Sequence[str], skip: Sequence[str]) -> List[Dict]:
    """Rows of earlier ``--json`` files made on this machine, but for the
    variants in ``skip`` (measured again now)."""
    rows = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        if data.get('machine') != machine():
            exit_with_error(f'--with-json {path}: measured on '
                            f'{data.get("machine")!r}, not on this machine '
                            f'({machine()!r}); its times do not compare')
        rows += [r for r in data['rows'] if r.get('variant') not in skip]
    return rows


def cmd_scaling(args) -> List[Dict]:
    if args.report_only and not args.with_json:
        exit_with_error('--report-only prints earlier rows: give them with '
                        '--with-json FILE.json')
    measure = [] if args.report_only else args.variants
    rows = earlier_rows(args.with_json, measure)
    print(f'# scaling of HAT-Net-{args.arch} on {machine()}', flush=True)
    for variant in measure:
        for side in args.sides:
            spec = dict(model=f'hatnet-{args.arch}', height=side, width=side,
                        batch=1, modes=['infer'], warmup=args.warmup,
                        repeats=args.repeats, device=args.device,
                        variant=variant)
            row = in_subprocess(spec, timeout=args.max_seconds *
                                (args.warmup + args.repeats) * 3 + 120)
            if row is None:
                break
            rows.append(row)
            t, mem = row['infer']['seconds'], row['infer']['peak_bytes']
            print(f'  {variant:>12} {side}^2: {t:.2f} s, '
                  f'{mem / 2**30:.2f} GB', flush=True)
            # stop growing before the next size would pass the limits:
            # predict with the exponent seen so far (at least linear)
            nxt = [s for s in args.sides if s > side]
            if nxt:
                seen = [(r['height']**2, r['infer']['seconds'])
                        for r in rows if r['variant'] == variant]
                a = max(1., fit_exponent(seen[-2:]) or 1.)
                grow = (nxt[0] / side)**(2 * a)
                if t * grow > args.max_seconds or (
                        mem * grow > args.max_memory_gb * 2**30):
                    print(f'  {variant}: stopping before {nxt[0]}^2 '
                          f'(limits --max-seconds {args.max_seconds}, '
                          f'--max-memory-gb {args.max_memory_gb})')
                    break
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows.sort(key=lambda r: (order[r['variant']], r['height']))
    print(scaling_table(rows))
    if args.plot:
        plot_scaling(rows, args.plot)
        print(f'plot written to {args.plot}')
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='mode', required=True)
    default_device = 'cuda' if torch.cuda.is_available() else 'cpu'

    def common(p):
        p.add_argument('--warmup', type=int, default=1)
        p.add_argument('--repeats', type=int, default=3)
        p.add_argument('--device', default=default_device)
        p.add_argument('--json', help='also write the rows to this file')

    c = sub.add_parser('compare', help='every model at every case')
    c.add_argument('--models', nargs='+',
                   choices=ALL_MODELS + COMPILED_MODELS,
                   help=f'default: {" ".join(ALL_MODELS)}')
    c.add_argument('--cases', nargs='+', default=list(CASES),
                   metavar='CASE',
                   help=f'{" ".join(CASES)} (default: all), or HxW:B '
                   f'(batch B), optionally :infer or :train for that mode '
                   f'only, e.g. 224x224:8:infer 512x512:2:train')
    c.add_argument('--modes', nargs='+', choices=('infer', 'train'),
                   default=['infer', 'train'])
    c.add_argument('--batch', type=int,
                   help='override the batch of every named case')
    c.add_argument('--dtype', nargs='+', choices=list(DTYPES),
                   default=['fp32'], help='fp32, and/or autocast in bf16 / '
                   'fp16 (default: fp32)')
    common(c)
    s = sub.add_parser('scaling', help='inference time/memory vs size')
    s.add_argument('--arch', default='small', choices=HATNET_SIZES)
    s.add_argument('--sides', nargs='+', type=int,
                   default=[512, 768, 1024, 1536, 2048, 2560, 3072])
    s.add_argument('--variants', nargs='+', choices=VARIANTS,
                   default=list(VARIANTS))
    s.add_argument('--max-seconds', type=float, default=90.,
                   help='do not grow a variant past a size that takes '
                   'longer than this per run')
    s.add_argument('--max-memory-gb', type=float, default=16.)
    s.add_argument('--plot', default='work_dirs/benchmark/scaling.png')
    s.add_argument('--with-json', nargs='+', default=[], metavar='JSON',
                   help='show the rows of earlier --json files of this '
                   'machine beside the new ones (variants run now replace '
                   'theirs)')
    s.add_argument('--report-only', action='store_true',
                   help='measure nothing: print the table and draw the plot '
                   'of the --with-json rows')
    common(s)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        exit_with_error('--device cuda asked for, but torch sees no GPU')
    rows = run_or_exit(cmd_compare if args.mode == 'compare' else
                       cmd_scaling, args)
    if args.json:
        write_json(rows, args.json)


if __name__ == '__main__':
    main()
