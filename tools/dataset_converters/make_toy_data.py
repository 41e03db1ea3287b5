#!/usr/bin/env python
"""Generate small synthetic datasets in the real OpenMMLab on-disk layouts.

    python tools/dataset_converters/make_toy_data.py coco OUT_DIR \
        [--train 64] [--val 16] [--size 256] [--object-size MIN MAX]
        [--seed 0] [--overwrite]
    python tools/dataset_converters/make_toy_data.py ade OUT_DIR [...]
    python tools/dataset_converters/make_toy_data.py imagenet OUT_DIR [...]

Every image is a scene of flat-coloured geometric shapes (circle, square,
triangle, cross) on a mildly noisy, low-saturation background, so a small
detector, segmentor or classifier can genuinely learn it in a few iterations:
the toy sets exercise the real dataset classes, pipelines and metrics of
mmdet (``CocoDataset``), mmseg (``ADE20KDataset``) and mmpretrain
(``ImageNet`` / ``CustomDataset``) rather than mocks of them.

OUT_DIR must be empty or new, or hold a toy set this tool wrote (it leaves
a ``.mmhatnet_toy_data`` marker file), which is then replaced: the same
command can be run again. Any other non-empty folder is refused unless
``--overwrite`` is given.

Images are ``size`` pixels high and between ``size`` and ``1.25 * size``
wide, so non-square inputs are exercised too. Each image is drawn from its own
``numpy.random.default_rng((seed, split, index))`` and JPEGs are written with
a fixed quality, so the output is byte-identical for the same arguments (with
the same numpy/Pillow versions) and the first ``k`` images of a split do not
depend on how many were asked for. Only numpy, Pillow and json are needed.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

import numpy as np
from PIL import Image, ImageDraw

# The shape classes, in label order. The ADE and ImageNet sets reuse them so
# one backbone can be checked on all three tasks with the same visual content.
SHAPES = ('circle', 'square', 'triangle', 'cross')
COCO_CLASSES = SHAPES
# ADE20K convention: label 0 is "other" and is dropped by reduce_zero_label,
# so the PNG values are 1 + the index into this tuple.
ADE_CLASSES = ('background', ) + SHAPES
IMAGENET_CLASSES = SHAPES

# Saturated, well separated hues against a greyish background.
SHAPE_COLOURS = ((220, 50, 50), (40, 170, 60), (40, 90, 220), (245, 200, 30))

JPEG_QUALITY = 90
SPLIT_CODES = dict(train=0, val=1)
# Object size (its extent) as a fraction of the shorter image side.
SCENE_SIZE_RANGE = (0.12, 0.45)
CLS_SIZE_RANGE = (0.3, 0.7)
# Pairs of objects whose boxes share more than this fraction of the smaller
# box are re-sampled, so objects overlap a little at most.
MAX_OVERLAP = 0.15
SUPERSAMPLE = 4


# Written first into every toy set: a folder that holds it and nothing but
# what this tool writes is its own toy set, which a re-run may replace.
MARKER = '.mmhatnet_toy_data'
MARKER_TEXT = ('A toy set written by tools/dataset_converters/make_toy_data.py; '
               'running it again on this folder replaces it.\n')
# the top-level names of the three layouts (and the marker)
OWN_ENTRIES = {MARKER, 'annotations', 'train2017', 'val2017', 'images', 'train',
               'val', 'meta', 'classes.txt'}


def _is_own_toy_set(out_dir):
    """Whether ``out_dir`` holds a toy set of this tool and nothing else."""
    entries = set(os.listdir(out_dir))
    return MARKER in entries and entries <= OWN_ENTRIES


def _prepare_out_dir(out_dir, overwrite):
    """Create ``out_dir``, refusing to mix with or silently replace data.

    A folder that holds a toy set this tool wrote (its marker file and only
    the layouts' folders) is replaced without ``overwrite``, so a command that
    made it can be run again; any other non-empty folder needs
    ``overwrite``."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'{out_dir!r} exists and is not a directory')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite and not _is_own_toy_set(out_dir):
            raise FileExistsError(
                f'{out_dir!r} is not empty and is not a toy set written by '
                f'this tool (no {MARKER} file, or other files beside it); '
                f'choose another folder or pass --overwrite to delete it and '
                f'write the toy set again')
        real = osp.realpath(out_dir)
        cwd = osp.realpath(os.getcwd())
        protected = {osp.realpath(osp.expanduser('~')), osp.sep}
        # rmtree on a parent of the working directory would wipe the
        # checkout it is run from; no toy set lives there.
        if real in protected or cwd == real or cwd.startswith(real + osp.sep):
            raise FileExistsError(
                f'refusing to delete {out_dir!r} (it is the working '
                f'directory, one of its parents, or the home/root folder)')
        shutil.rmtree(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, MARKER), 'w') as f:
        f.write(MARKER_TEXT)


def _image_rng(seed, split, index):
    return np.random.default_rng((seed, SPLIT_CODES[split], index))


def _image_shape(rng, size):
    """(width, height): fixed height, width up to 25% larger."""
    return int(rng.integers(size, int(size * 1.25) + 1)), size


def _shape_polygon(rng, label, cx, cy, r):
    """Vertices (N x 2, pixel coordinates) of a shape of extent ``2 * r``.

    Every shape fits in the box ``[cx - r, cx + r] x [cy - r, cy + r]``,
    which keeps placement simple.
    """
    name = SHAPES[label]
    if name == 'circle':
        # 24 vertices: visually round, and the polygon *is* what is drawn.
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif name == 'square':
        pts = np.array([[-r, -r], [r, -r], [r, r], [-r, r]])
    elif name == 'triangle':
        # Random orientation; the circumradius keeps it inside the box.
        t = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    else:
        t = 0.3 * r  # half-thickness of the arms
        pts = np.array([[-t, -r], [t, -r], [t, -t], [r, -t], [r, t], [t, t],
                        [t, r], [-t, r], [-t, t], [-r, t], [-r, -t], [-t, -t]])
    # Rounded now so the saved annotation, the bbox and the drawn pixels all
    # come from exactly the same vertices.
    return np.round(pts + (cx, cy), 2)


def _coverage(poly, width, height):
    """Fraction of each pixel inside ``poly``: an anti-aliased mask.

    Returns the mask of the polygon's pixel box and that box as a pair of
    slices into the H x W image. Pixel ``i`` spans ``[i, i + 1)`` as in
    COCO; Pillow samples pixel centres, hence the half-pixel shift at the
    supersampled scale.
    """
    s = SUPERSAMPLE
    x0, y0 = np.floor(poly.min(axis=0)).astype(int)
    x1, y1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int),
                        (width, height))
    canvas = Image.new('L', ((x1 - x0) * s, (y1 - y0) * s), 0)
    ImageDraw.Draw(canvas).polygon(
        [((x - x0) * s - 0.5, (y - y0) * s - 0.5) for x, y in poly],
        fill=255)
    mask = np.asarray(canvas.reduce(s), dtype=np.float32) / 255
    return mask, (slice(y0, y1), slice(x0, x1))


def _background(rng, width, height):
    """Low-saturation grey with smooth blotches (float, H x W x 3)."""
    base = rng.uniform(90, 170) + rng.uniform(-15, 15, size=3)
    grid = (height // 32 + 2, width // 32 + 2)
    # Mostly brightness variation with a little tint, so the background
    # never takes on the saturated colours of the shapes.
    coarse = (128 + rng.normal(0, 16, size=grid + (1, )) +
              rng.normal(0, 6, size=grid + (3, )))
    small = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8))
    blotches = np.asarray(
        small.resize((width, height), Image.BILINEAR), dtype=np.float32)
    return base + blotches - 128


def _place_objects(rng, width, height, count, size_range):
    """Sample ``count`` (label, centre, radius) with little overlap.

    Objects that find no free spot in a few tries are dropped, so crowded
    images just get fewer objects; the first one always fits.
    """
    placed = []
    short = min(width, height)
    for _ in range(count):
        for _try in range(50):
            label = int(rng.integers(len(SHAPES)))
            r = rng.uniform(*size_range) * short / 2
            cx = rng.uniform(r, width - r)
            cy = rng.uniform(r, height - r)
            if all(_box_overlap((cx, cy, r), other[1:]) <= MAX_OVERLAP
                   for other in placed):
                placed.append((label, cx, cy, r))
                break
    return placed


def _box_overlap(a, b):
    """Intersection over the smaller box, for boxes given as (cx, cy, r)."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0] - a[2], b[0] - b[2])
    h = min(a[1] + a[2], b[1] + b[2]) - max(a[1] - a[2], b[1] - b[2])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (4 * min(a[2], b[2])**2)


def _render(rng, width, height, objects):
    """Draw ``objects`` in order (later ones on top).

    Returns the uint8 RGB image and, per object, (label, polygon, coverage)
    with the H x W anti-aliased coverage of its polygon.
    """
    img = _background(rng, width, height)
    drawn = []
    for label, cx, cy, r in objects:
        poly = np.clip(_shape_polygon(rng, label, cx, cy, r), 0,
                       (width, height))
        alpha, box = _coverage(poly, width, height)
        colour = np.array(SHAPE_COLOURS[label]) + rng.uniform(-20, 20, 3)
        # A soft light gradient so shapes are not perfectly flat blobs.
        t = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[box] + 0.5
        shade = ((xs - cx) * np.cos(t) + (ys - cy) * np.sin(t)) / r
        layer = colour * (1 + 0.15 * np.clip(shade, -1, 1))[..., None]
        img[box] += (layer - img[box]) * alpha[..., None]
        coverage = np.zeros((height, width), dtype=np.float32)
        coverage[box] = alpha
        drawn.append((label, poly, coverage))
    img += rng.normal(0, 5, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), drawn


def _scene(rng, size, object_size=SCENE_SIZE_RANGE):
    width, height = _image_shape(rng, size)
    objects = _place_objects(rng, width, height, int(rng.integers(1, 5)),
                             object_size)
    img, drawn = _render(rng, width, height, objects)
    return img, drawn


def _save_jpeg(array, path):
    Image.fromarray(array).save(path, format='JPEG', quality=JPEG_QUALITY)


def _polygon_area(poly):
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) -
                           np.dot(y, np.roll(x, -1))))


def _check_counts(num_train, num_val, size, object_size):
    if num_train < 0 or num_val < 0:
        raise ValueError('image counts must be >= 0')
    if size < 32:
        raise ValueError(f'size must be at least 32 pixels, got {size}')
    low, high = object_size
    if not 0 < low <= high <= 1:
        raise ValueError(
            'object sizes are fractions of the shorter image side with '
            f'0 < MIN <= MAX <= 1, got {low} {high}')


def make_coco(out_dir, num_train=64, num_val=16, size=256, seed=0,
              overwrite=False, object_size=SCENE_SIZE_RANGE):
    """Write a COCO-instances style detection / instance segmentation set.

    Layout (as mmdet's ``CocoDataset`` expects under ``data_root``)::

        out_dir/train2017/000000000001.jpg ...
        out_dir/val2017/000000000001.jpg ...
        out_dir/annotations/instances_train2017.json
        out_dir/annotations/instances_val2017.json

    Categories are ``COCO_CLASSES`` with ids 1..4. Each image has 1-4
    objects whose extent is ``object_size`` (a range of fractions of the
    shorter image side); each annotation has a polygon ``segmentation`` following the
    drawn shape, its tight ``bbox`` ``[x, y, w, h]``, the polygon ``area``
    and ``iscrowd=0``. Returns a one-line summary.
    """
    _check_counts(num_train, num_val, size, object_size)
    _prepare_out_dir(out_dir, overwrite)
    os.makedirs(osp.join(out_dir, 'annotations'))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(COCO_CLASSES)]
    total_objects = 0
    for split, count in (('train', num_train), ('val', num_val)):
        img_dir = osp.join(out_dir, f'{split}2017')
        os.makedirs(img_dir)
        images, annotations = [], []
        for index in range(count):
            img, drawn = _scene(_image_rng(seed, split, index), size,
                                object_size)
            image_id = index + 1
            file_name = f'{image_id:012d}.jpg'
            _save_jpeg(img, osp.join(img_dir, file_name))
            height, width = img.shape[:2]
            images.append(dict(id=image_id, file_name=file_name,
                               width=width, height=height))
            for label, poly, _ in drawn:
                x0, y0 = poly.min(axis=0)
                x1, y1 = poly.max(axis=0)
                annotations.append(dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=label + 1,
                    bbox=[float(x0), float(y0), round(float(x1 - x0), 2),
                          round(float(y1 - y0), 2)],
                    area=round(_polygon_area(poly), 2),
                    iscrowd=0,
                    segmentation=[[float(v) for v in poly.ravel()]]))
        total_objects += len(annotations)
        coco = dict(
            info=dict(description='mmhatnet toy shapes (COCO layout)',
                      version='1.0', year=2017),
            licenses=[], images=images, annotations=annotations,
            categories=categories)
        with open(osp.join(out_dir, 'annotations',
                           f'instances_{split}2017.json'), 'w') as f:
            json.dump(coco, f)
    return (f'coco: wrote {num_train} train + {num_val} val images with '
            f'{total_objects} objects of {len(COCO_CLASSES)} classes to '
            f'{out_dir}')


def _ade_label_map(drawn, height, width):
    """uint8 label map: 1 = background, 2.. = shapes, 0 = unlabelled.

    A 2-pixel band along every label boundary is set to 0 (as annotators
    leave uncertain edges unlabelled in ADE20K), so the ignore index is
    really exercised.
    """
    label_map = np.ones((height, width), dtype=np.uint8)
    for label, _, coverage in drawn:
        label_map[coverage >= 0.5] = label + 2
    padded = np.pad(label_map, 1, mode='edge')
    windows = [padded[dy:dy + height, dx:dx + width]
               for dy in range(3) for dx in range(3)]
    edge = np.max(windows, axis=0) != np.min(windows, axis=0)
    label_map[edge] = 0
    return label_map


def make_ade(out_dir, num_train=64, num_val=16, size=256, seed=0,
             overwrite=False, object_size=SCENE_SIZE_RANGE):
    """Write an ADE20K style semantic segmentation set.

    Layout (as mmseg's ``ADE20KDataset`` expects under ``data_root``)::

        out_dir/images/training/ADE_train_00000001.jpg ...
        out_dir/images/validation/ADE_val_00000001.jpg ...
        out_dir/annotations/training/ADE_train_00000001.png ...
        out_dir/annotations/validation/ADE_val_00000001.png ...

    Label PNGs are single-channel uint8: 0 = other/ignore (a thin band along
    every region boundary), ``1 + i`` = ``ADE_CLASSES[i]``, i.e. 1 is the
    background and 2..5 the shapes. With ``reduce_zero_label=True`` mmseg
    maps them to 255 and ``0..len(ADE_CLASSES) - 1``. Returns a one-line
    summary.
    """
    _check_counts(num_train, num_val, size, object_size)
    _prepare_out_dir(out_dir, overwrite)
    for split, folder, count in (('train', 'training', num_train),
                                 ('val', 'validation', num_val)):
        img_dir = osp.join(out_dir, 'images', folder)
        ann_dir = osp.join(out_dir, 'annotations', folder)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for index in range(count):
            img, drawn = _scene(_image_rng(seed, split, index), size,
                                object_size)
            name = f'ADE_{split}_{index + 1:08d}'
            _save_jpeg(img, osp.join(img_dir, name + '.jpg'))
            label_map = _ade_label_map(drawn, *img.shape[:2])
            Image.fromarray(label_map).save(
                osp.join(ann_dir, name + '.png'), format='PNG')
    return (f'ade: wrote {num_train} training + {num_val} validation images '
            f'and label maps ({len(ADE_CLASSES)} classes, 0 = ignore) to '
            f'{out_dir}')


def make_imagenet(out_dir, num_train=64, num_val=16, size=256, seed=0,
                  overwrite=False, object_size=CLS_SIZE_RANGE):
    """Write an ImageNet style classification set (one shape per image).

    Layout (for mmpretrain's ``ImageNet`` / ``CustomDataset`` with
    ``data_prefix='train'`` and ``ann_file='meta/train.txt'``)::

        out_dir/train/<class>/<class>_00001.JPEG ...
        out_dir/val/<class>/<class>_00001.JPEG ...
        out_dir/meta/train.txt   "circle/circle_00001.JPEG 0" per line
        out_dir/meta/val.txt
        out_dir/classes.txt      one class name per line, in label order

    ``num_train`` / ``num_val`` are totals, spread round-robin over
    ``IMAGENET_CLASSES`` so the classes are balanced. Returns a one-line
    summary.
    """
    _check_counts(num_train, num_val, size, object_size)
    _prepare_out_dir(out_dir, overwrite)
    os.makedirs(osp.join(out_dir, 'meta'))
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.write(''.join(name + '\n' for name in IMAGENET_CLASSES))
    for split, count in (('train', num_train), ('val', num_val)):
        for name in IMAGENET_CLASSES:
            os.makedirs(osp.join(out_dir, split, name))
        lines = []
        for index in range(count):
            rng = _image_rng(seed, split, index)
            label = index % len(IMAGENET_CLASSES)
            width, height = _image_shape(rng, size)
            r = rng.uniform(*object_size) * min(width, height) / 2
            cx, cy = rng.uniform(r, width - r), rng.uniform(r, height - r)
            img, _ = _render(rng, width, height, [(label, cx, cy, r)])
            name = IMAGENET_CLASSES[label]
            rel = f'{name}/{name}_{index + 1:05d}.JPEG'
            _save_jpeg(img, osp.join(out_dir, split, rel))
            lines.append(f'{rel} {label}\n')
        with open(osp.join(out_dir, 'meta', f'{split}.txt'), 'w') as f:
            f.write(''.join(lines))
    return (f'imagenet: wrote {num_train} train + {num_val} val images of '
            f'{len(IMAGENET_CLASSES)} classes to {out_dir}')


MAKERS = dict(coco=make_coco, ade=make_ade, imagenet=make_imagenet)


def _non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected >= 0, got {value}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate a small synthetic dataset of coloured shapes '
        'in the COCO, ADE20K or ImageNet folder layout')
    parser.add_argument('layout', choices=sorted(MAKERS),
                        help='which dataset layout to write')
    parser.add_argument('out_dir', help='output folder: empty, new, or a '
                        'toy set this tool wrote (which it replaces)')
    parser.add_argument('--train', type=_non_negative, default=64,
                        help='number of training images (default: 64)')
    parser.add_argument('--val', type=_non_negative, default=16,
                        help='number of validation images (default: 16)')
    parser.add_argument('--size', type=int, default=256,
                        help='image height in pixels; widths vary up to '
                        '1.25x (default: 256)')
    parser.add_argument('--object-size', type=float, nargs=2,
                        metavar=('MIN', 'MAX'),
                        help='range of an object\'s extent as a fraction of '
                        'the shorter image side (default: '
                        f'{SCENE_SIZE_RANGE[0]} {SCENE_SIZE_RANGE[1]} for '
                        f'coco/ade, {CLS_SIZE_RANGE[0]} {CLS_SIZE_RANGE[1]} '
                        'for imagenet)')
    parser.add_argument('--seed', type=_non_negative, default=0,
                        help='random seed (default: 0)')
    parser.add_argument('--overwrite', action='store_true',
                        help='delete OUT_DIR even if it holds other files, '
                        'and write anew')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        extra = ({} if args.object_size is None else
                 dict(object_size=tuple(args.object_size)))
        summary = MAKERS[args.layout](args.out_dir, args.train, args.val,
                                      args.size, args.seed, args.overwrite,
                                      **extra)
    except (FileExistsError, ValueError) as e:
        # mmhatnet.utils.cli's convention (one error: line, status 2), written
        # out here: this tool imports neither torch nor mmhatnet, to start fast
        print('error: ' + ' '.join(str(e).split()), file=sys.stderr)
        sys.exit(2)
    print(summary)


if __name__ == '__main__':
    main()
