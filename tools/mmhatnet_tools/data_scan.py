# Copyright (c) mmhatnet contributors. All rights reserved.
"""Before training: read the header of every image a loader will read, and
count the annotations mmdet will drop.

:mod:`.data_checks` looks at folders, annotation files and label maps; what
it cannot see costs most on a long run:

* an image listed but missing, or a file that is not an image OpenCV (mmcv's
  decoder) can read: the run dies in the dataloader at the first epoch that
  draws it, hours in on COCO. :func:`scan_images` opens every file and parses
  its header with PIL (which proves the format and the size, not every
  pixel; a JPEG cut short after its header still decodes, with a grey tail,
  so it does not stop a run). Policy ``data_checks.bad_images``: ``'stop'``
  (default) lists the bad files and stops; ``'skip'`` leaves them out of the
  dataset (through its ``indices``) and says how many.
* boxes mmdet drops while loading (no area, outside the image, a category
  that is not one of the classes) and images ``filter_empty_gt`` removes:
  the run trains on less, silently. :func:`count_coco_annotations` counts
  them with mmdet 3.3's rules (``CocoDataset.parse_data_info`` and
  ``filter_data``); the counts are printed, and a share above
  ``data_checks.max_dropped`` (default 0.05) stops the run, since that is a
  wrong ``metainfo`` or a broken converter, not noise.

Set them with ``--cfg-options data_checks.bad_images=skip
data_checks.max_dropped=0.2`` (a top-level config key the runner ignores).
"""
import copy
import importlib
import json
import os
import os.path as osp
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

from PIL import Image

from .data_checks import (CLS_TYPES, COCO_TYPES, SEG_TYPES, WRAPPERS,
                          DataCheckError, _is_local, _type_name)

DEFAULTS = dict(bad_images='stop', max_dropped=0.05, scan_threads=8)
# formats OpenCV's imdecode reads (mmcv's default backend); PIL opens more
CV2_FORMATS = ('JPEG', 'MPO', 'PNG', 'BMP', 'TIFF', 'WEBP', 'PPM', 'JPEG2000')
SHOW_BAD = 10  # bad files named in a message


def data_check_options(cfg) -> dict:
    """``cfg.data_checks`` with defaults, validated."""
    options = dict(DEFAULTS)
    options.update(cfg.get('data_checks') or {})
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise DataCheckError(f'data_checks: unknown keys {unknown}; the keys '
                             f'are {sorted(DEFAULTS)}')
    if options['bad_images'] not in ('stop', 'skip'):
        raise DataCheckError(
            f"data_checks.bad_images={options['bad_images']!r}: use 'stop' "
            f"(the default) or 'skip'")
    drop = options['max_dropped']
    if not isinstance(drop, (int, float)) or not 0 <= drop <= 1:
        raise DataCheckError(f'data_checks.max_dropped={drop!r}: give a '
                             f'fraction in [0, 1], e.g. 0.05')
    return options


# ------------------------------------------------------------ which files
def _join(*parts) -> str:
    parts = [p for p in parts if p]
    return osp.join(*parts) if parts else ''


def _prefix(ds, key: str) -> str:
    prefix = ds.get('data_prefix') or {}
    if isinstance(prefix, str):
        return prefix
    return prefix.get(key, '') if isinstance(prefix, dict) else ''


def _coco_files(ds) -> Tuple[List[str], Optional[dict]]:
    root = ds.get('data_root') or ''
    ann = _join(root, ds.get('ann_file') or '')
    with open(ann, encoding='utf-8') as f:
        data = json.load(f)
    folder = _join(root, _prefix(ds, 'img'))
    return [_join(folder, img['file_name']) for img in data['images']
            if isinstance(img, dict) and 'file_name' in img], data


def _seg_files(ds) -> List[str]:
    root = ds.get('data_root') or ''
    img_dir = _join(root, _prefix(ds, 'img_path'))
    seg_dir = _join(root, _prefix(ds, 'seg_map_path'))
    img_suffix = ds.get('img_suffix', '.jpg')
    seg_suffix = ds.get('seg_map_suffix', '.png')
    ann = ds.get('ann_file') or ''
    if ann:
        with open(_join(root, ann), encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    else:
        names = []
        for folder, _, files in os.walk(img_dir, followlinks=True):
            rel = osp.relpath(folder, img_dir)
            names += [osp.normpath(osp.join(rel, n[:-len(img_suffix)]))
                      for n in files if n.endswith(img_suffix)]
        names.sort()
    files = [osp.join(img_dir, n + img_suffix) for n in names]
    if seg_dir:
        files += [osp.join(seg_dir, n + seg_suffix) for n in names]
    return files


def _cls_files(ds) -> List[str]:
    root = ds.get('data_root') or ''
    split = ds.get('split') or ''
    prefix = ds.get('data_prefix')
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    prefix = prefix or split
    ann = ds.get('ann_file') or ''
    if not ann and split and osp.isfile(osp.join(root, 'meta',
                                                 f'{split}.txt')):
        ann = osp.join('meta', f'{split}.txt')
    folder = _join(root, prefix)
    if not ann:  # a folder per class: every file found there is read
        files = []
        for where, _, names in os.walk(folder, followlinks=True):
            files += [osp.join(where, n) for n in sorted(names)
                      if not n.startswith('.')]
        return files
    files = []
    with open(_join(root, ann), encoding='utf-8') as f:
        for line in f:
            parts = line.strip().rsplit(maxsplit=1)
            if parts:
                files.append(_join(folder, parts[0]))
    return files


def leaf_datasets(cfg, loaders) -> List[Tuple[str, dict, str]]:
    """``(key, dataset config, kind)`` of every local dataset of a known type
    under the ``loaders`` (wrappers unwrapped); kind is coco / seg / cls."""
    found = []

    def walk(ds, key):
        name = _type_name(ds)
        if name == 'ConcatDataset' and isinstance(ds.get('datasets'), list):
            for i, sub in enumerate(ds['datasets']):
                if isinstance(sub, dict):
                    walk(sub, f'{key}.datasets.{i}')
            return
        if name in WRAPPERS and isinstance(ds.get('dataset'), dict):
            walk(ds['dataset'], f'{key}.dataset')
            return
        backend = (ds.get('backend_args') or {}).get('backend', 'local')
        if not _is_local(ds.get('data_root') or '') or backend != 'local':
            return
        scope = ds.get('_scope_', cfg.get('default_scope'))
        kind = {('mmdet', True): 'coco'}.get((scope, name in COCO_TYPES))
        if scope == 'mmseg' and name in SEG_TYPES:
            kind = 'seg'
        elif scope == 'mmpretrain' and name in CLS_TYPES:
            kind = 'cls'
        if kind:
            found.append((key, ds, kind))

    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if isinstance(loader_cfg, dict) and isinstance(
                loader_cfg.get('dataset'), dict):
            walk(loader_cfg['dataset'], f'{loader}.dataset')
    return found


# ------------------------------------------------------------------ scan
def check_image(path: str) -> Optional[str]:
    """Why ``path`` cannot be loaded, or None: it must exist, be a file and
    have an image header OpenCV can decode (read with PIL, header only)."""
    try:
        with Image.open(path) as img:
            fmt, (w, h) = img.format, img.size
    except FileNotFoundError:
        return 'missing'
    except IsADirectoryError:
        return 'a folder, not a file'
    except OSError as e:  # PIL.UnidentifiedImageError is an OSError
        if osp.isfile(path) and osp.getsize(path) == 0:
            return 'empty (0 bytes)'
        return f'not a readable image ({type(e).__name__})'
    except Exception as e:  # a corrupt header PIL chokes on
        return f'not a readable image ({type(e).__name__}: {e})'
    if fmt not in CV2_FORMATS:
        return f'a {fmt} image, which OpenCV (mmcv\'s decoder) cannot read'
    if w < 1 or h < 1:
        return f'an image of size {w}x{h}'
    return None


class _Progress:
    """mmengine's progress bar on stderr, updated every ``every`` files."""

    def __init__(self, total: int, every: int = 500):
        from mmengine.utils import ProgressBar
        self.bar = ProgressBar(total, file=sys.stderr) if total else None
        self.every, self.pending = every, 0

    def step(self, flush: bool = False):
        self.pending += not flush
        if self.bar and (self.pending >= self.every or flush) and \
                self.pending:
            self.bar.update(self.pending)
            self.pending = 0


def scan_images(paths: List[str], threads: int = 8,
                progress: bool = True) -> Dict[str, str]:
    """``{path: problem}`` for the paths of ``paths`` that cannot be loaded
    (see :func:`check_image`); reads them with ``threads`` threads (the time
    is the disk's: a header is the first few KB)."""
    bad = {}
    bar = _Progress(len(paths)) if progress else None
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for path, problem in zip(paths, pool.map(check_image, paths,
                                                 chunksize=64)):
            if problem:
                bad[path] = problem
            if bar:
                bar.step()
    if bar:
        bar.step(flush=True)
        if bar.bar:
            sys.stderr.write('\n')
    return bad


# ----------------------------------------------------------- annotations
def count_coco_annotations(data: dict, classes, filter_cfg: Optional[dict],
                           test_mode: bool = False) -> dict:
    """What mmdet 3.3's ``CocoDataset`` keeps of the COCO json ``data`` for
    ``classes``: its ``parse_data_info`` skips annotations marked
    ``ignore``, boxes with no overlap with the image, boxes with
    ``area <= 0`` or a side < 1, and categories that are not among the
    classes; crowd boxes are kept as ignored regions. Its ``filter_data``
    (training only) removes, with ``filter_empty_gt``, images without any
    annotation of the classes' categories, and images smaller than
    ``min_size``.

    Returns a dict of counts: ``annotations``, ``kept``, ``crowd``,
    ``ignore_flag``, ``outside``, ``degenerate``, ``unknown_category``,
    ``orphans`` (of images not in the json), ``images``, ``negatives``
    (images with no annotation at all: legitimate negatives, never a loss,
    though ``filter_empty_gt`` removes them), ``removed_empty`` (every image
    ``filter_empty_gt`` removes, negatives included), ``removed_small``,
    ``nothing_to_learn`` (images kept that have annotations, but all crowd
    or dropped); and under ``examples`` what was dropped, by kind, so that a
    user can find it in the file: ``(annotation id, image id, bbox)`` for
    each dropped annotation (the first :data:`SHOW_BAD` of each kind) and,
    for ``unknown_category``, ``{category id: count}``.
    """
    names = set(classes)
    cat_ids = {c['id'] for c in data['categories']
               if isinstance(c, dict) and c.get('name') in names}
    images = {img['id']: img for img in data['images']
              if isinstance(img, dict) and 'id' in img}
    counts = dict.fromkeys(
        ('annotations', 'kept', 'crowd', 'ignore_flag', 'outside',
         'degenerate', 'unknown_category', 'orphans', 'images',
         'negatives', 'removed_empty', 'removed_small', 'nothing_to_learn'),
        0)
    counts['images'] = len(images)
    examples = {k: [] for k in ('ignore_flag', 'outside', 'degenerate',
                                'orphans')}
    examples['unknown_category'] = {}
    in_cat, learnable, annotated = set(), set(), set()

    def drop(kind, ann):
        counts[kind] += 1
        if len(examples[kind]) < SHOW_BAD:
            examples[kind].append(
                (ann.get('id'), ann.get('image_id'), ann.get('bbox')))

    for ann in data['annotations']:
        counts['annotations'] += 1
        img = images.get(ann.get('image_id'))
        if img is None:
            drop('orphans', ann)
            continue
        annotated.add(ann['image_id'])
        if ann.get('category_id') in cat_ids:
            in_cat.add(ann['image_id'])
        if ann.get('ignore', False):
            drop('ignore_flag', ann)
            continue
        x1, y1, w, h = ann['bbox']
        inter_w = max(0, min(x1 + w, img['width']) - max(x1, 0))
        inter_h = max(0, min(y1 + h, img['height']) - max(y1, 0))
        if inter_w * inter_h == 0:
            drop('outside', ann)
        elif ann['area'] <= 0 or w < 1 or h < 1:
            drop('degenerate', ann)
        elif ann['category_id'] not in cat_ids:
            counts['unknown_category'] += 1
            unknown = examples['unknown_category']
            unknown[ann['category_id']] = unknown.get(
                ann['category_id'], 0) + 1
        else:
            counts['kept'] += 1
            if ann.get('iscrowd', False):
                counts['crowd'] += 1
            else:
                learnable.add(ann['image_id'])
    filter_cfg = filter_cfg or {}
    filtering = not test_mode and filter_cfg
    min_size = filter_cfg.get('min_size', 0) if filtering else 0
    for img_id, img in images.items():
        negative = img_id not in annotated
        counts['negatives'] += negative
        if filtering and filter_cfg.get('filter_empty_gt', False) and \
                img_id not in in_cat:
            counts['removed_empty'] += 1
        elif min(img['width'], img['height']) < min_size:
            counts['removed_small'] += 1
        elif img_id not in learnable and not negative:
            counts['nothing_to_learn'] += 1
    counts['examples'] = examples
    return counts


def _dropped(c: dict) -> int:
    return (c['ignore_flag'] + c['outside'] + c['degenerate'] +
            c['unknown_category'] + c['orphans'])


def _lost_images(c: dict, filter_empty_gt: bool) -> int:
    """Images the run loses: removed or left with nothing to learn from,
    though they have annotations (negatives are not lost, whether
    ``filter_empty_gt`` removes them or not)."""
    removed_negatives = c['negatives'] if filter_empty_gt else 0
    return (c['removed_empty'] - removed_negatives + c['removed_small'] +
            c['nothing_to_learn'])


def describe_dropped(c: dict) -> str:
    """Where the dropped annotations are: their ids, images and boxes, and
    the category ids that are not among the classes."""
    ex = c['examples']
    parts = []
    for kind, what in (('outside', 'no area inside the image'),
                       ('degenerate', 'area <= 0 or a side < 1'),
                       ('ignore_flag', 'marked ignore'),
                       ('orphans', 'image id not in the file')):
        if ex[kind]:
            shown = ', '.join(f'id {a} (image {i}, bbox {b})'
                              for a, i, b in ex[kind])
            more = (f' and {c[kind] - len(ex[kind])} more'
                    if c[kind] > len(ex[kind]) else '')
            parts.append(f'{what}: {shown}{more}')
    if ex['unknown_category']:
        ids = ', '.join(f'{k} ({n} annotations)' for k, n in sorted(
            ex['unknown_category'].items(), key=lambda kv: str(kv[0])))
        parts.append(f'category ids that are not one of the classes: {ids}')
    return '; '.join(parts)


def describe_counts(key: str, c: dict, num_classes: int) -> str:
    return (
        f'{key}: {c["annotations"]} annotations, {c["kept"]} kept '
        f'({c["crowd"]} of them crowd, trained as ignored regions), '
        f'{_dropped(c)} dropped ({c["outside"]} with no area inside their '
        f'image (a width or height <= 0, or outside it), {c["degenerate"]} '
        f'with area <= 0 or a side < 1, {c["unknown_category"]} '
        f'of a category that is not one of the {num_classes} classes, '
        f'{c["ignore_flag"]} marked ignore, {c["orphans"]} of images not '
        f'in the file); {c["images"]} images, {c["removed_empty"]} removed '
        f'by filter_empty_gt (no annotation of the classes), '
        f'{c["removed_small"]} by min_size, {c["nothing_to_learn"]} kept '
        f'with no box to learn from (crowd or dropped boxes only), '
        f'{c["negatives"]} without any annotation (negatives)' +
        (f'. Dropped: {describe_dropped(c)}' if _dropped(c) else ''))


# ---------------------------------------------------------------- skip
def _indices_without(cfg, ds_cfg: dict, bad: Dict[str, str]) -> List[int]:
    """The ``indices`` that leave the files of ``bad`` out of the dataset
    ``ds_cfg``, found by building it as the library will (with its own
    filtering) and looking at the paths of each sample."""
    scope = ds_cfg.get('_scope_', cfg.get('default_scope'))
    importlib.import_module(f'{scope}.utils').register_all_modules(
        init_default_scope=False)
    from mmengine.registry import DATASETS, DefaultScope
    built_cfg = copy.deepcopy(ds_cfg)
    built_cfg['pipeline'] = []
    with DefaultScope.overwrite_default_scope(scope):
        dataset = DATASETS.build(built_cfg)
    given = ds_cfg.get('indices')
    bad_paths = {osp.normpath(p) for p in bad}
    keep = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        paths = [info.get(k) for k in ('img_path', 'seg_map_path')]
        if not any(p and osp.normpath(p) in bad_paths for p in paths):
            keep.append(i)
    if isinstance(given, (list, tuple)):  # positions in the user's subset
        keep = [given[i] for i in keep]
    return keep


# ------------------------------------------------------------ together
def scan_datasets(cfg, loaders, out=None) -> None:
    """Scan the images of the datasets of ``loaders`` and count the COCO
    annotations mmdet drops; print what was found to ``out`` (stdout);
    raise :class:`DataCheckError` per the ``data_checks`` options. May set
    ``indices`` on dataset configs (``bad_images='skip'``)."""
    out = out or sys.stdout
    options = data_check_options(cfg)
    for key, ds, kind in leaf_datasets(cfg, loaders):
        data = None
        try:
            if kind == 'coco':
                files, data = _coco_files(ds)
            elif kind == 'seg':
                files = _seg_files(ds)
            else:
                files = _cls_files(ds)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # what data_checks did not refuse is the library's
        if data is not None:
            _check_annotations(cfg, key, ds, data, options, out)
        print(f'{key}: checking that its {len(files)} image files load',
              file=out, flush=True)
        start = time.perf_counter()
        bad = scan_images(files, options['scan_threads'])
        seconds = time.perf_counter() - start
        if not bad:
            print(f'{key}: {len(files)} image files, all readable '
                  f'({seconds:.2f} s)', file=out, flush=True)
            continue
        listed = '; '.join(f'{p} ({why})'
                           for p, why in list(bad.items())[:SHOW_BAD])
        more = f' and {len(bad) - SHOW_BAD} more' if len(bad) > SHOW_BAD \
            else ''
        if options['bad_images'] == 'stop':
            raise DataCheckError(
                f'{key}: {len(bad)} of its {len(files)} image files cannot '
                f'be loaded: {listed}{more}; training would stop when the '
                f'dataloader reaches one. Restore or re-download them, or '
                f'remove them from the annotation file; if a few bad files '
                f'are expected, skip them with `--cfg-options '
                f'data_checks.bad_images=skip`')
        keep = _indices_without(cfg, ds, bad)
        ds['indices'] = keep
        print(f'{key}: skipping {len(bad)} image files that cannot be loaded'
              f' (data_checks.bad_images=skip): {listed}{more}; '
              f'{len(keep)} samples remain', file=out, flush=True)


def _check_annotations(cfg, key, ds, data, options, out) -> None:
    from .data_checks import _DatasetCheck
    classes = (ds.get('metainfo') or {}).get('classes') or \
        _DatasetCheck.default_classes('mmdet.datasets', 'CocoDataset')
    if not classes:
        return
    try:
        counts = count_coco_annotations(
            data, classes, ds.get('filter_cfg'), ds.get('test_mode', False))
    except (KeyError, TypeError, ValueError) as e:
        raise DataCheckError(
            f'{key}: an annotation of {ds.get("ann_file")!r} lacks a field '
            f'mmdet reads ({type(e).__name__}: {e}); each needs image_id, '
            f'category_id, bbox [x, y, w, h] and area, and each image id, '
            f'width and height') from None
    print(describe_counts(key, counts, len(classes)), file=out, flush=True)
    limit = options['max_dropped']
    total = counts['annotations']
    dropped = _dropped(counts)
    if total and dropped / total > limit:
        raise DataCheckError(
            f'{key}: mmdet would drop {dropped} of the {total} annotations '
            f'({dropped / total:.1%}, more than data_checks.max_dropped='
            f'{limit:g}): {counts["unknown_category"]} of a category that is '
            f'not one of the classes, {counts["outside"] + counts["degenerate"]}'
            f' with no area ({describe_dropped(counts)}); check '
            f'{key}.metainfo.classes against the categories of the json and '
            f'the tool that wrote it, or raise the limit with `--cfg-options '
            f'data_checks.max_dropped=...` if that is intended')
    filter_empty_gt = bool(
        (ds.get('filter_cfg') or {}).get('filter_empty_gt', False))
    lost = _lost_images(counts, filter_empty_gt)
    removed_annotated = counts['removed_empty'] - (
        counts['negatives'] if filter_empty_gt else 0)
    if counts['images'] and not ds.get('test_mode', False) and \
            lost / counts['images'] > limit:
        raise DataCheckError(
            f'{key}: {lost} of the {counts["images"]} images that have '
            f'annotations would give nothing to train on '
            f'({lost / counts["images"]:.1%}, more than '
            f'data_checks.max_dropped={limit:g}): of the '
            f'{counts["removed_empty"]} removed by filter_empty_gt, '
            f'{removed_annotated} have annotations of no class, '
            f'{counts["removed_small"]} by '
            f'min_size, {counts["nothing_to_learn"]} with only crowd or '
            f'dropped boxes ({counts["negatives"]} images without any '
            f'annotation are negatives and not counted); check '
            f'{key}.metainfo.classes and the json, or raise the limit with '
            f'`--cfg-options data_checks.max_dropped=...` if that is intended')
