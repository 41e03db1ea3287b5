#!/usr/bin/env python
"""Summarise what ``tools/test.py`` wrote into a work dir, at a glance.

    python tools/analysis/summarize_test.py TEST_WORK_DIR [--images 6]
        [--out SHEET.png]

It reads ``TEST_WORK_DIR/results.json`` (written by ``tools/test.py``: the
config, the checkpoint, every metric and where the pictures went) and prints
the main metric, the per-class AP when the evaluator computed it
(``classwise=True`` of mmdet's ``CocoMetric``), and every output path, each of
which exists. With pictures (``tools/test.py --show-dir``) it also writes one
contact sheet of the first ``--images`` test images: mmdet draws each with the
ground truth on the left and the predictions on the right, so the sheet shows
both for several images side by side (default ``TEST_WORK_DIR/summary.png``).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

from PIL import Image, ImageDraw

from mmhatnet.utils.files import atomic_output
from mmhatnet_tools.cli import ToolError, exit_with_error, run_or_exit

PICTURE_SUFFIXES = ('.jpg', '.jpeg', '.png')
# the headline metric of each library, in the order they are looked for
MAIN_METRICS = ('coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'accuracy/top1')
PER_CLASS_SUFFIX = '_precision'  # mmdet CocoMetric(classwise=True) keys


def read_results(test_dir):
    """The ``results.json`` of ``test_dir`` as a dict."""
    path = osp.join(test_dir, 'results.json')
    if not osp.isfile(path):
        raise ToolError(
            f'{path} does not exist; run `python tools/test.py CONFIG '
            f'CHECKPOINT --work-dir {test_dir}` first')
    with open(path) as f:
        return json.load(f)


def per_class_ap(metrics, prefix='coco/'):
    """{class name: AP} from mmdet's classwise keys
    (``coco/<class>_precision``: the last of bbox/segm evaluated), in the
    evaluator's order."""
    return {
        key[len(prefix):-len(PER_CLASS_SUFFIX)]: value
        for key, value in metrics.items()
        if key.startswith(prefix) and key.endswith(PER_CLASS_SUFFIX)
    }


def list_pictures(folder):
    """Every picture below ``folder``, sorted by name."""
    found = []
    for root, _, files in os.walk(folder):
        found += [osp.join(root, name) for name in files
                  if name.lower().endswith(PICTURE_SUFFIXES)]
    return sorted(found, key=osp.basename)


def contact_sheet(pictures, columns=2, width=640, caption_height=18):
    """One RGB image holding ``pictures`` in a grid, each scaled to
    ``width`` pixels wide and captioned with its file name."""
    tiles = []
    for path in pictures:
        img = Image.open(path).convert('RGB')
        scale = width / img.width
        img = img.resize((width, max(1, round(img.height * scale))),
                         Image.BILINEAR)
        tile = Image.new('RGB', (width, img.height + caption_height), 'white')
        tile.paste(img, (0, caption_height))
        ImageDraw.Draw(tile).text(
            (4, 3), f'{osp.basename(path)}: ground truth | predictions',
            fill='black')
        tiles.append(tile)
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    row_heights = [max(t.height for t in row) for row in rows]
    sheet = Image.new('RGB', (columns * width, sum(row_heights)), 'white')
    y = 0
    for row, height in zip(rows, row_heights):
        for i, tile in enumerate(row):
            sheet.paste(tile, (i * width, y))
        y += height
    return sheet


def summarize(test_dir, num_images=6, out=None):
    """The summary as a list of lines; writes the contact sheet when the run
    drew pictures."""
    results = read_results(test_dir)
    metrics = results['metrics']
    lines = [f'config:     {results["config"]}',
             f'checkpoint: {results["checkpoint"]}']
    main = [m for m in MAIN_METRICS if m in metrics]
    for name in main:
        lines.append(f'{name}: {metrics[name]:.3f}')
    others = [k for k in sorted(metrics)
              if k not in main and not k.endswith(PER_CLASS_SUFFIX)]
    if others:
        lines.append('other metrics: ' + ', '.join(
            f'{k.split("/")[-1]} {metrics[k]:.3f}' for k in others))
    classes = per_class_ap(metrics)
    if classes:
        lines.append('bbox AP per class: ' + ', '.join(
            f'{name} {ap:.3f}' for name, ap in classes.items()))
    lines.append(f'metrics:    {osp.join(test_dir, "results.json")}')
    pictures_dir = results.get('pictures')
    if pictures_dir and osp.isdir(pictures_dir):
        pictures = list_pictures(pictures_dir)
        lines.append(f'pictures:   {pictures_dir} ({len(pictures)} images)')
        if pictures:
            out = out or osp.join(test_dir, 'summary.png')
            sheet = contact_sheet(pictures[:num_images])
            with atomic_output(out) as tmp:
                sheet.save(tmp)
            lines.append(f'summary:    {out} (ground truth left, '
                         f'predictions right, {min(num_images, len(pictures))}'
                         ' images)')
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('test_dir', help='the --work-dir given to test.py')
    parser.add_argument('--images', type=int, default=6,
                        help='test images on the contact sheet (default 6)')
    parser.add_argument('--out', help='contact sheet path (default '
                        'TEST_DIR/summary.png)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.images < 1:
        exit_with_error('--images must be at least 1')
    lines = run_or_exit(summarize, args.test_dir, args.images, args.out)
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
