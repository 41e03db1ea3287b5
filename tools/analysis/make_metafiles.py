#!/usr/bin/env python
"""Write model-index.yml and configs/metafiles/*.yml from
tools/mmhatnet_tools/paper.py (the paper's numbers), so that they cannot drift.

    python tools/analysis/make_metafiles.py [--check]

``--check`` writes nothing and exits with 1 when a file is missing or not
what this script would write. Numbers are the paper's (Parameters and FLOPs
as printed in its tables, as integers; Results from Tables 2-4); ours are in
docs/model_zoo.md (tools/analysis/paper_tables.py --markdown).
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)  # mmhatnet of this checkout

from mmhatnet_tools.paper import (CODE_URL, IMAGENET_WEIGHTS,  # noqa: E402
                                  METHODS, PAPER_TITLE, PAPER_URL, TRAIN_BATCH,
                                  rows)
from mmhatnet_tools.zoo import config_name, config_of  # noqa: E402

# metafile (relative to the repo root) -> collection name, method, table
METAFILES = {
    'configs/metafiles/hatnet_in1k.yml': ('HAT-Net', 'ImageNet classifier',
                                          2),
    'configs/metafiles/fpn_hatnet.yml': ('HAT-Net Semantic FPN',
                                         'Semantic FPN', 3),
    'configs/metafiles/retinanet_hatnet.yml': ('HAT-Net RetinaNet',
                                               'RetinaNet', 4),
    'configs/metafiles/mask_rcnn_hatnet.yml': ('HAT-Net Mask R-CNN',
                                               'Mask R-CNN', 4),
}
# what a collection's Metadata says beyond the paper's dataset and total
# batch (tools/mmhatnet_tools/paper.py): training techniques, resources, the
# schedule and the architecture
COLLECTIONS = {
    'ImageNet classifier': dict(
        techniques=('AdamW', 'Weight Decay', 'Mixup', 'CutMix', 'RandAugment',
                    'Label Smoothing'),
        resources='8x NVIDIA Tesla V100 GPUs', schedule='Epochs: 300',
        architecture=('HAT-Net', 'H-MHSA')),
    'Semantic FPN': dict(
        techniques=('AdamW', 'Poly LR'), schedule='Iterations: 80000',
        architecture=('HAT-Net', 'FPN')),
    'RetinaNet': dict(
        techniques=('AdamW', ), schedule='Epochs: 12',
        architecture=('HAT-Net', 'FPN', 'RetinaNet')),
    'Mask R-CNN': dict(
        techniques=('AdamW', ), schedule='Epochs: 12',
        architecture=('HAT-Net', 'FPN', 'RPN', 'Mask R-CNN')),
}
# our metric key -> (metafile task, metafile metric name)
METRIC_NAMES = {
    'top1': ('Image Classification', 'Top 1 Accuracy'),
    'mIoU': ('Semantic Segmentation', 'mIoU'),
    'AP': ('Object Detection', 'box AP'),
    'AP50': ('Object Detection', 'box AP_50'),
    'AP75': ('Object Detection', 'box AP_75'),
    'APS': ('Object Detection', 'box AP_S'),
    'APM': ('Object Detection', 'box AP_M'),
    'APL': ('Object Detection', 'box AP_L'),
    'APb': ('Object Detection', 'box AP'),
    'APb50': ('Object Detection', 'box AP_50'),
    'APb75': ('Object Detection', 'box AP_75'),
    'APm': ('Instance Segmentation', 'mask AP'),
    'APm50': ('Instance Segmentation', 'mask AP_50'),
    'APm75': ('Instance Segmentation', 'mask AP_75'),
}
HEADER = ('# Generated from tools/mmhatnet_tools/paper.py by '
          'tools/analysis/make_metafiles.py:\n'
          '# edit those and re-run it, not this file.\n')


def _number(value, unit):
    """12.7 (M) -> 12700000; 2.0 (G) -> 2000000000 (exact, no float
    noise)."""
    return int(round(value * unit))


def model_name(row, method):
    """The model's name in the metafile: the config's name, except for the
    classifiers, which get mmpretrain's form (``hatnet-small_in1k``), the
    name ``mmpretrain.get_model`` and ``list_models`` know them by."""
    if method == 'ImageNet classifier':
        return f'hatnet-{row.size}_in1k'
    return config_name(row)


def collection_metadata(method):
    """The lines of a collection's ``Metadata`` (without indent)."""
    about = COLLECTIONS[method]
    lines = [f'Training Data: {METHODS[method]["dataset"]}',
             'Training Techniques:']
    lines += [f'  - {t}' for t in about['techniques']]
    if 'resources' in about:
        lines.append(f'Training Resources: {about["resources"]}')
    lines += [about['schedule'], f'Batch Size: {TRAIN_BATCH[method]}',
              'Architecture:']
    return lines + [f'  - {a}' for a in about['architecture']]


def metafile(collection, method, table):
    lines = [HEADER.rstrip('\n')]
    lines.append(f"# Metadata and Results: the paper's Table {table} "
                 f'({PAPER_URL}).')
    if method != 'ImageNet classifier':
        lines.append('# No trained weights of these models have been '
                     'released: no Weights;')
        lines.append('# Pretrained is the released ImageNet-1k backbone '
                     'each config starts from.')
    lines += ['Collections:', f'  - Name: {collection}', '    Metadata:']
    lines += [f'      {line}' for line in collection_metadata(method)]
    lines += [
        '    Paper:', f'      Title: {PAPER_TITLE}', f'      URL: {PAPER_URL}',
        '    README: README.md', '    Code:', f'      URL: {CODE_URL}', '',
        'Models:'
    ]
    for row in rows(table, method):
        lines += [
            f'  - Name: {model_name(row, method)}',
            f'    In Collection: {collection}',
            f'    Config: {config_of(row)}',
            '    Metadata:',
        ]
        params = f'      Parameters: {_number(row.params_m, 10**6)}'
        if row.ours_params_m is not None:
            params += (f'  # as printed; the config measures '
                       f'{row.ours_params_m} M (tools/mmhatnet_tools/paper.py)')
        lines.append(params)
        h, w = row.input_size
        flops = f'      FLOPs: {_number(row.flops_g, 10**9)}  # at {h}x{w}'
        if row.table != 2:
            flops += ', as printed (ours: docs/model_zoo.md)'
        lines.append(flops)
        lines.append(f'      Training Data: {row.dataset}')
        if method != 'ImageNet classifier':
            lines.append(f'      Pretrained: {IMAGENET_WEIGHTS[row.size]}')
        lines.append('    Results:')
        by_task = {}
        for key, value in row.metrics.items():
            task, name = METRIC_NAMES[key]
            by_task.setdefault(task, []).append((name, value))
        for task, metrics in by_task.items():
            lines += [
                f'      - Task: {task}',
                f'        Dataset: {row.dataset}',
                '        Metrics:',
            ]
            lines += [f'          {name}: {value}' for name, value in metrics]
        if method == 'ImageNet classifier':
            # the released file itself (official names, converted when
            # loaded): python tools/test.py CONFIG URL
            lines.append(f'    Weights: {IMAGENET_WEIGHTS[row.size]}')
    return '\n'.join(lines) + '\n'


def model_index():
    return HEADER + 'Import:\n' + ''.join(f'  - {path}\n'
                                          for path in METAFILES)


def expected_files():
    """{path relative to the repo root: content}."""
    files = {'model-index.yml': model_index()}
    for path, (collection, method, table) in METAFILES.items():
        files[path] = metafile(collection, method, table)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true',
                        help='only check that the files are up to date')
    args = parser.parse_args(argv)
    stale = []
    for path, content in expected_files().items():
        full = osp.join(ROOT, path)
        current = None
        if osp.isfile(full):
            with open(full, encoding='utf-8') as f:
                current = f.read()
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            os.makedirs(osp.dirname(full), exist_ok=True)
            with open(full, 'w', encoding='utf-8') as f:
                f.write(content)
            print(f'wrote {path}')
    if args.check and stale:
        print('out of date: ' + ', '.join(stale) +
              ' (run tools/analysis/make_metafiles.py)')
        return 1
    if not stale:
        print('all metafiles up to date')
    return 0


if __name__ == '__main__':
    sys.exit(main())
