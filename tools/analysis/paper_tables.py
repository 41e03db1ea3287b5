#!/usr/bin/env python
"""Print the HAT-Net rows of the paper's Tables 1-4, ours beside the paper's.

    python tools/analysis/paper_tables.py [--tables 1 2 3 4] [--no-flops]
        [--markdown | --readme]

For each of our 16 configs: parameters, FLOPs in the paper's convention
(mmcv's module-hook counter, no attention matmuls) and complete FLOPs
(mmengine's tracing counter + scaled dot-product attention) at the table's
input size, next to what the paper prints (tools/mmhatnet_tools/paper.py) and its
results. The ``check`` column names what differs from the paper by more than
the table's rounding (0.1 M; 0.1 G in Tables 2-3, 1 G in Table 4), FLOPs
judged in the paper's convention; ``(known)`` marks the parameter gaps that
tools/mmhatnet_tools/paper.py lists and docs/model_zoo.md explains.

Counting every FLOPs figure takes a while on a CPU (the detectors at
800x1280 dominate: see the runtime printed at the end); ``--no-flops`` counts
the parameters only, in seconds. ``--markdown`` prints the tables as GitHub
markdown; ``--readme`` prints one markdown table of the 16 models with the
8-GPU training command, for the README.
"""
import argparse
import os.path as osp
import sys
import time
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

from mmhatnet_tools.zoo import config_name, config_of, row_for_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TABLE_TITLES = {
    1: 'Table 1: HAT-Net configurations, #Param of the ImageNet classifiers',
    2: 'Table 2: ImageNet-1k classification, FLOPs at 224 x 224',
    3: 'Table 3: Semantic FPN on ADE20K, FLOPs at 512 x 512',
    4: 'Table 4: COCO 1x, FLOPs at 800 x 1280 (H x W)',
}
METRIC_HEADERS = {
    'top1': 'Top-1', 'mIoU': 'mIoU', 'AP': 'AP', 'AP50': 'AP50',
    'AP75': 'AP75', 'APS': 'APS', 'APM': 'APM', 'APL': 'APL', 'APb': 'APb',
    'APb50': 'APb50', 'APb75': 'APb75', 'APm': 'APm', 'APm50': 'APm50',
    'APm75': 'APm75'
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Our params / FLOPs beside the paper's Tables 1-4")
    parser.add_argument('--tables', type=int, nargs='+', choices=(1, 2, 3, 4),
                        default=[1, 2, 3, 4], help='which tables to print')
    parser.add_argument('--no-flops', action='store_true',
                        help='count parameters only (fast)')
    out = parser.add_mutually_exclusive_group()
    out.add_argument('--markdown', action='store_true',
                     help='print GitHub markdown tables')
    out.add_argument('--readme', action='store_true',
                     help='one markdown table of the 16 models with their '
                     'training commands, for the README')
    return parser.parse_args(argv)


def measure(rows, flops, log=sys.stderr):
    """{config: complexity result} for the configs of ``rows``, each counted
    once, at its table's input size."""
    from mmhatnet_tools.complexity import complexity
    results = {}
    for row in rows:
        if config_of(row) in results:
            continue
        start = time.time()
        table_row = row_for_config(config_of(row))
        results[config_of(row)] = complexity(
            osp.join(ROOT, config_of(row)), shape=table_row.input_size,
            flops=flops)
        results[config_of(row)]['seconds'] = time.time() - start
        print(f'  counted {config_of(row)} in {time.time() - start:.1f} s',
              file=log, flush=True)
    return results


def check(row, result):
    """What differs from the paper by more than the table's rounding."""
    from mmhatnet_tools.paper import FLOPS_TOLERANCE_G, PARAMS_TOLERANCE_M
    issues = []
    params = result['params'] / 1e6
    if abs(params - row.params_m) > PARAMS_TOLERANCE_M + 1e-9:
        known = ' (known)' if row.ours_params_m is not None else ''
        issues.append(f'params {params - row.params_m:+.2f} M{known}')
    if row.flops_g is not None and 'paper_flops' in result:
        flops = result['paper_flops'] / 1e9
        if abs(flops - row.flops_g) > FLOPS_TOLERANCE_G[row.table] + 1e-9:
            issues.append(f'FLOPs {flops - row.flops_g:+.1f} G')
    return '; '.join(issues) or 'ok'


def _flops(result, key, digits):
    return f'{result[key] / 1e9:.{digits}f}' if key in result else '-'


def table_rows(table, method, rows, results):
    """Headers and string cells of one printed table."""
    digits = 1 if table == 4 else 2
    headers = ['Model', 'Config', 'Params M', 'paper']
    if table != 1:
        headers += ['FLOPs G', 'paper', 'complete']
        headers += [METRIC_HEADERS[m] for m in rows[0].metrics]
    headers.append('check')
    cells = []
    for row in rows:
        result = results[config_of(row)]
        line = [row.model, config_of(row), f'{result["params"] / 1e6:.2f}',
                f'{row.params_m:.1f}']
        if table != 1:
            line += [_flops(result, 'paper_flops', digits),
                     f'{row.flops_g:.1f}',
                     _flops(result, 'complete_flops', digits)]
            line += [f'{v:.1f}' for v in row.metrics.values()]
        line.append(check(row, result))
        cells.append(line)
    return headers, cells


def render(headers, cells, markdown):
    if markdown:
        out = ['| ' + ' | '.join(headers) + ' |',
               '|' + '|'.join('---' for _ in headers) + '|']
        out += ['| ' + ' | '.join(c) + ' |' for c in cells]
        return '\n'.join(out)
    widths = [max(len(h), *(len(c[i]) for c in cells))
              for i, h in enumerate(headers)]
    fmt = '  '.join(f'{{:<{w}}}' for w in widths)
    out = [fmt.format(*headers), '  '.join('-' * w for w in widths)]
    out += [fmt.format(*c) for c in cells]
    return '\n'.join(out)


def print_tables(tables, results, markdown):
    from mmhatnet_tools.paper import METHODS, rows
    for table in tables:
        title = TABLE_TITLES[table]
        print(f'\n### {title}\n' if markdown else f'\n{title}')
        for method in METHODS:
            selected = rows(table, method)
            if not selected:
                continue
            if table == 4:
                print(f'\n{method}:\n' if markdown else f'{method}:')
            elif markdown:
                print()
            print(render(*table_rows(table, method, selected, results),
                         markdown))


def train_command(row, gpus=8):
    """``bash tools/dist_train.sh CONFIG 8``, with the per-GPU batch set
    where the config's default would not give the paper's total batch on
    ``gpus`` GPUs (the Semantic FPN configs assume 4 GPUs x 4 images)."""
    from mmengine.config import Config

    from mmhatnet_tools.paper import TRAIN_BATCH
    command = f'bash tools/dist_train.sh {config_of(row)} {gpus}'
    per_gpu = Config.fromfile(osp.join(
        ROOT, config_of(row))).train_dataloader.batch_size
    total = TRAIN_BATCH[row.method]
    if per_gpu * gpus != total:
        command += (f' --cfg-options train_dataloader.batch_size='
                    f'{total // gpus}')
    return command


def print_readme(results):
    from mmhatnet_tools.paper import rows
    headers = ['Model', 'Config', 'Paper result', 'Params (M) ours / paper',
               'FLOPs (G) ours / paper', 'FLOPs complete (G)',
               'Train (8 GPUs)']
    cells = []
    for table in (2, 3, 4):
        for row in rows(table):
            result = results[config_of(row)]
            digits = 1 if table == 4 else 2
            metric = ', '.join(f'{METRIC_HEADERS[k]} {v:.1f}'
                               for k, v in row.metrics.items())
            if row.method in ('RetinaNet', 'Mask R-CNN'):
                keep = ('AP', ) if row.method == 'RetinaNet' else ('APb',
                                                                   'APm')
                metric = ', '.join(f'{METRIC_HEADERS[k]} {row.metrics[k]:.1f}'
                                   for k in keep)
            cells.append([
                f'{row.model} {row.method}',
                f'[{config_name(row)}]({config_of(row)})', metric,
                f'{result["params"] / 1e6:.2f} / {row.params_m:.1f}',
                f'{_flops(result, "paper_flops", digits)} / '
                f'{row.flops_g:.1f}',
                _flops(result, 'complete_flops', digits),
                f'`{train_command(row)}`'
            ])
    print(render(headers, cells, markdown=True))


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    from mmhatnet_tools.paper import FLOPS_TOLERANCE_G, rows
    tables = sorted(set(args.tables))
    if args.readme:
        tables = [2, 3, 4]
    wanted = [r for r in rows() if r.table in tables]
    start = time.time()
    print(f'counting {len({config_of(r) for r in wanted})} models'
          f'{" (parameters only)" if args.no_flops else ""} ...',
          file=sys.stderr, flush=True)
    results = measure(wanted, flops=not args.no_flops)
    if args.readme:
        print_readme(results)
    else:
        print_tables(tables, results, args.markdown)
        print('\n"Params M", "FLOPs G": ours; "paper": the paper\'s figure; '
              'the metrics are the paper\'s results. FLOPs are '
              'multiply-adds; "FLOPs G" is the paper\'s convention, '
              "mmcv's module-hook counter, which leaves the attention "
              'matmuls out; "complete" is mmengine\'s FlopAnalyzer plus '
              'scaled dot-product attention. "check": what differs by more '
              'than the table\'s rounding (0.1 M; FLOPs in the paper\'s '
              'convention: ' + ', '.join(
                  f'{v} G in Table {k}'
                  for k, v in FLOPS_TOLERANCE_G.items()) +
              '); "(known)": documented in docs/model_zoo.md.')
        differ = [f'Table {r.table} {r.model} {r.method}: '
                  f'{check(r, results[config_of(r)])}'
                  for r in wanted if check(r, results[config_of(r)]) != 'ok']
        print(f'\n{len(differ)} of {len(wanted)} rows differ from the paper'
              + (':' if differ else '.'))
        for line in differ:
            print(f'  {line}')
    print(f'\n(counted in {time.time() - start:.0f} s)',
          file=sys.stderr if args.readme or args.markdown else sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
