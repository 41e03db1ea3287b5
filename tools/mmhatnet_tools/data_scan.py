# Copyright (c) mmhatnet contributors. All rights reserved.
"""Before training: read the header of every image a loader will read, and
name the annotations mmdet drops.

:mod:`.data_checks` looks at folders, annotation files and label maps; what
it cannot see costs most on a long run:

* an image listed but missing, or a file that is not an image OpenCV (mmcv's
  decoder) can read: the run dies in the dataloader at the first epoch that
  draws it, hours in on COCO. :func:`scan_images` opens every file the
  dataset lists and parses its header with PIL (which proves the format and
  the size, not every pixel; a JPEG cut short after its header still
  decodes, with a grey tail, so it does not stop a run). Policy
  ``data_checks.bad_images``: ``'stop'`` (default) lists the bad files and
  stops; ``'skip'`` leaves them out of the dataset (through its ``indices``)
  and says how many.
* annotations mmdet drops while loading and images its ``filter_cfg``
  removes: the run trains on less, silently. The dataset is built as the
  config gives it (mmdet decides what is kept) and compared with its json by
  :func:`count_coco_annotations`, which names what was left out; the counts
  are printed, and a share above ``data_checks.max_dropped`` (default 0.05)
  stops the run, since that is a wrong ``metainfo`` or a broken converter,
  not noise.

Set them with ``--cfg-options data_checks.bad_images=skip
data_checks.max_dropped=0.2`` (a top-level config key the runner ignores).
"""
import contextlib
import io
import json
import os.path as osp
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

from PIL import Image

from .data_checks import DataCheckError, build_dataset, leaf_datasets

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


def load_dataset(cfg, ds_cfg: dict):
    """``(dataset, parsed)``: the dataset of ``ds_cfg`` as the runner gets it
    (its library's parsing and ``filter_cfg``; no ``indices``), and what its
    ``load_data_list`` gave before the filtering (read once)."""
    dataset = build_dataset(cfg, ds_cfg, lazy=True)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' chatter
        parsed = dataset.load_data_list()
    dataset.load_data_list = lambda: list(parsed)
    dataset.full_init()
    return dataset, parsed


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


def scan_images(paths: List[str], threads: int = 8,
                progress: bool = True) -> Dict[str, str]:
    """``{path: problem}`` for the paths of ``paths`` that cannot be loaded
    (see :func:`check_image`); reads them with ``threads`` threads (the time
    is the disk's: a header is the first few KB). The progress bar (on
    stderr) moves every 500 files."""
    from mmengine.utils import ProgressBar
    bad = {}
    bar = ProgressBar(len(paths), file=sys.stderr) \
        if progress and paths else None
    with ThreadPoolExecutor(max(1, threads)) as pool:
        problems = pool.map(check_image, paths, chunksize=64)
        for n, (path, problem) in enumerate(zip(paths, problems), 1):
            if problem:
                bad[path] = problem
            if bar and (n % 500 == 0 or n == len(paths)):
                bar.update(n - bar.completed)
    if bar:
        sys.stderr.write('\n')
    return bad


# ----------------------------------------------------------- annotations
def _left_out(raw: list, instances: list, cat2label: dict) -> list:
    """The annotations of ``raw`` (one image's, in file order) with no
    instance in ``instances`` (what mmdet kept of them, in the same order):
    each is matched, in order, to the next instance with its box and label
    (two identical boxes may swap ids, nothing else)."""
    left, j = [], 0
    for ann in raw:
        try:
            x, y, w, h = ann['bbox']
            same = j < len(instances) and \
                instances[j]['bbox'] == [x, y, x + w, y + h] and \
                instances[j]['bbox_label'] == cat2label.get(
                    ann['category_id'])
        except (KeyError, TypeError, ValueError):
            same = False
        j += same
        if not same:
            left.append(ann)
    return left


def count_coco_annotations(data: dict, dataset, parsed: list) -> dict:
    """What mmdet's ``CocoDataset`` ``dataset`` kept of its COCO json
    ``data``: ``parsed`` is what its ``load_data_list`` gave (see
    :func:`load_dataset`), ``dataset`` what its ``filter_cfg`` left.

    Returns a dict of counts: ``annotations``, ``kept`` (``crowd`` of them,
    which mmdet keeps as ignored regions), ``box`` (left out by mmdet for
    their box or an ``ignore`` mark), ``unknown_category`` (of a category
    that is not one of the classes), ``orphans`` (of images not in the
    json), ``images``, ``negatives`` (images with no annotation at all:
    legitimate negatives, never a loss), ``removed`` (images the dataset's
    filtering removes, ``removed_negatives`` of them negatives),
    ``nothing_to_learn`` (images kept that have annotations, but all crowd
    or dropped); and under ``examples`` what was dropped, so that a user can
    find it in the file: ``(annotation id, image, bbox)`` for the first
    :data:`SHOW_BAD` of ``box`` (image: its file name) and ``orphans``
    (image: its id), and
    ``{category id: count}`` for ``unknown_category``.
    """
    files = {img.get('id'): img.get('file_name') for img in data['images']
             if isinstance(img, dict)}
    anns_of = defaultdict(list)
    for ann in data['annotations']:
        anns_of[ann.get('image_id')].append(ann)
    kept_ids = {dataset.get_data_info(i)['img_id']
                for i in range(len(dataset))}
    orphans = [a for i in set(anns_of) - set(files) for a in anns_of[i]]
    c = Counter(annotations=len(data['annotations']), images=len(parsed),
                orphans=len(orphans))
    unknown = Counter()
    examples = dict(box=[], unknown_category=unknown, orphans=[
        (a.get('id'), a.get('image_id'), a.get('bbox'))
        for a in orphans[:SHOW_BAD]])
    for info in parsed:
        raw, instances = anns_of.get(info['img_id'], []), info['instances']
        c['kept'] += len(instances)
        c['crowd'] += sum(bool(i['ignore_flag']) for i in instances)
        c['negatives'] += not raw
        if info['img_id'] not in kept_ids:
            c['removed'] += 1
            c['removed_negatives'] += not raw
        elif raw and all(i['ignore_flag'] for i in instances):
            c['nothing_to_learn'] += 1
        for ann in _left_out(raw, instances, dataset.cat2label):
            if ann.get('category_id') not in dataset.cat2label:
                unknown[ann.get('category_id')] += 1
                continue
            c['box'] += 1
            if len(examples['box']) < SHOW_BAD:
                examples['box'].append((ann.get('id'), files[info['img_id']],
                                        ann.get('bbox')))
    c['unknown_category'] = sum(unknown.values())
    counts = {k: c[k] for k in (
        'annotations', 'kept', 'crowd', 'box', 'unknown_category', 'orphans',
        'images', 'negatives', 'removed', 'removed_negatives',
        'nothing_to_learn')}
    counts['examples'] = examples
    return counts


def _dropped(c: dict) -> int:
    return c['box'] + c['unknown_category'] + c['orphans']


def _lost_images(c: dict) -> int:
    """Images the run loses: removed or left with nothing to learn from,
    though they have annotations (negatives are not lost, whether the
    filtering removes them or not)."""
    return c['removed'] - c['removed_negatives'] + c['nothing_to_learn']


def describe_dropped(c: dict) -> str:
    """Where the dropped annotations are: their ids, images and boxes, and
    the category ids that are not among the classes."""
    ex = c['examples']
    parts = []
    for kind, what in (('box', 'left out for their box or an ignore mark'),
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
        f'{_dropped(c)} dropped ({c["box"]} left out by mmdet for their box '
        f'or an ignore mark, {c["unknown_category"]} of a category that is '
        f'not one of the {num_classes} classes, {c["orphans"]} of images not'
        f' in the file); {c["images"]} images, {c["removed"]} removed by '
        f'the dataset\'s filter_cfg ({c["removed_negatives"]} of them '
        f'negatives), {c["nothing_to_learn"]} kept with no box to learn '
        f'from (crowd or dropped boxes only), {c["negatives"]} without any '
        f'annotation (negatives)' +
        (f'. Dropped: {describe_dropped(c)}' if _dropped(c) else ''))


# ------------------------------------------------------------ together
def scan_datasets(cfg, loaders, out=None) -> None:
    """Scan the images of the datasets of ``loaders`` and name the COCO
    annotations mmdet drops; print what was found to ``out`` (stdout);
    raise :class:`DataCheckError` per the ``data_checks`` options. May set
    ``indices`` on dataset configs (``bad_images='skip'``)."""
    out = out or sys.stdout
    options = data_check_options(cfg)
    for key, ds, kind in leaf_datasets(cfg, loaders):
        try:
            dataset, parsed = load_dataset(cfg, ds)
        except Exception as e:
            raise DataCheckError(
                f'{key}: {ds.get("type")} cannot be built from the config '
                f'({type(e).__name__}: {e}); fix the dataset config or its '
                f'files') from None
        given = ds.get('indices')
        positions = list(range(len(dataset))) if given is None else \
            list(range(given)) if isinstance(given, int) else list(given)
        samples = [dataset.get_data_info(i) for i in positions]
        files = {i: [s[k] for k in ('img_path', 'seg_map_path') if s.get(k)]
                 for i, s in zip(positions, samples)}
        del samples
        if kind == 'coco':
            with open(dataset.ann_file, encoding='utf-8') as f:
                data = json.load(f)
            _check_annotations(key, ds, dataset, parsed, data, options, out)
        del parsed
        paths = [p for i in positions for p in files[i]]
        print(f'{key}: checking that its {len(paths)} image files load',
              file=out, flush=True)
        start = time.perf_counter()
        bad = scan_images(paths, options['scan_threads'])
        seconds = time.perf_counter() - start
        if not bad:
            print(f'{key}: {len(paths)} image files, all readable '
                  f'({seconds:.2f} s)', file=out, flush=True)
            continue
        listed = '; '.join(f'{p} ({why})'
                           for p, why in list(bad.items())[:SHOW_BAD])
        more = f' and {len(bad) - SHOW_BAD} more' if len(bad) > SHOW_BAD \
            else ''
        if options['bad_images'] == 'stop':
            raise DataCheckError(
                f'{key}: {len(bad)} of its {len(paths)} image files cannot '
                f'be loaded: {listed}{more}; training would stop when the '
                f'dataloader reaches one. Restore or re-download them, or '
                f'remove them from the annotation file; if a few bad files '
                f'are expected, skip them with `--cfg-options '
                f'data_checks.bad_images=skip`')
        # positions in the dataset mmdet/mmseg/mmpretrain built, which is
        # what `indices` selects from
        ds['indices'] = [i for i in positions
                         if not any(p in bad for p in files[i])]
        print(f'{key}: skipping {len(bad)} image files that cannot be loaded'
              f' (data_checks.bad_images=skip): {listed}{more}; '
              f'{len(ds["indices"])} samples remain', file=out, flush=True)


def _check_annotations(key, ds, dataset, parsed, data, options, out) -> None:
    counts = count_coco_annotations(data, dataset, parsed)
    print(describe_counts(key, counts, len(dataset.metainfo['classes'])),
          file=out, flush=True)
    limit = options['max_dropped']
    total = counts['annotations']
    dropped = _dropped(counts)
    if total and dropped / total > limit:
        raise DataCheckError(
            f'{key}: mmdet would drop {dropped} of the {total} annotations '
            f'({dropped / total:.1%}, more than data_checks.max_dropped='
            f'{limit:g}): {counts["unknown_category"]} of a category that is '
            f'not one of the classes, {counts["box"]} left out for their box'
            f' or an ignore mark ({describe_dropped(counts)}); check '
            f'{key}.metainfo.classes against the categories of the json and '
            f'the tool that wrote it, or raise the limit with `--cfg-options '
            f'data_checks.max_dropped=...` if that is intended')
    lost = _lost_images(counts)
    if counts['images'] and not ds.get('test_mode', False) and \
            lost / counts['images'] > limit:
        raise DataCheckError(
            f'{key}: {lost} of the {counts["images"]} images that have '
            f'annotations would give nothing to train on '
            f'({lost / counts["images"]:.1%}, more than '
            f'data_checks.max_dropped={limit:g}): '
            f'{counts["removed"] - counts["removed_negatives"]} removed by '
            f'the dataset\'s filter_cfg {ds.get("filter_cfg")}, '
            f'{counts["nothing_to_learn"]} with only crowd or dropped boxes '
            f'({counts["negatives"]} images without any annotation are '
            f'negatives and not counted); check {key}.metainfo.classes and '
            f'the json, or raise the limit with `--cfg-options '
            f'data_checks.max_dropped=...` if that is intended')
