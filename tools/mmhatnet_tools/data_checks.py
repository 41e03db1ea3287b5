# Copyright (c) mmhatnet contributors. All rights reserved.
"""A quick look at the data a config points to, before the runner is built.

OpenMMLab datasets fail late and deep on bad data (a missing folder is a
``FileNotFoundError`` from inside the dataloader build, a COCO json whose
categories do not match the config's classes silently trains on nothing, a
label value of 9 for 5 classes makes CrossEntropy fail inside torch). The
checks here find those problems in a second or so and say what is wrong and
what to do; ``tools/train.py`` and ``tools/test.py`` run them first.

Only local, known dataset types are checked (mmdet ``CocoDataset``, mmseg
``BaseSegDataset`` / ``ADE20KDataset``, mmpretrain ``ImageNet`` /
``CustomDataset``, and the usual wrappers around them); anything else, URLs
and non-local storage backends are left to the library.
"""
import json
import os
import os.path as osp
from typing import Iterable, Optional

import numpy as np
from PIL import Image

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
COCO_TYPES = ('CocoDataset', )
SEG_TYPES = ('BaseSegDataset', 'ADE20KDataset')
CLS_TYPES = ('ImageNet', 'CustomDataset')
WRAPPERS = ('RepeatDataset', 'ClassBalancedDataset', 'MultiImageMixDataset')
# how many label maps the segmentation check reads
SEG_SAMPLES = 20
# COCO jsons larger than this are not parsed here (the real train2017 one is
# ~450 MB and mmdet reads it anyway); only their existence is checked
MAX_JSON_BYTES = 64 * 1024**2
MAKE_TOY = 'tools/dataset_converters/make_toy_data.py'


class DataCheckError(ValueError):
    """The data a config points to cannot work; the message says why and
    what to do."""


def check_datasets(cfg, loaders: Iterable[str]) -> None:
    """Check the datasets of the dataloaders ``loaders`` (e.g.
    ``['train_dataloader', 'val_dataloader']``) of ``cfg``; raise
    :class:`DataCheckError` on the first problem found."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, dict) or not isinstance(
                loader_cfg.get('dataset'), dict):
            continue
        _check(cfg, loader_cfg['dataset'], f'{loader}.dataset')
        if loader.endswith('_dataloader'):
            _check_evaluator(cfg, loader[:-len('_dataloader')] + '_evaluator')


def _check_evaluator(cfg, key: str) -> None:
    """A COCO-style metric reads its own ``ann_file`` (not the dataset's)
    when the test loop is built, after the runner made its work dir: check
    that it exists."""
    evaluators = cfg.get(key)
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    if not isinstance(evaluators, (list, tuple)):
        return
    for i, ev in enumerate(evaluators):
        if not isinstance(ev, dict):
            continue
        name = f'{key}.ann_file' if len(evaluators) == 1 \
            else f'{key}.{i}.ann_file'
        ann = ev.get('ann_file')
        if _is_local(ann) and ann and not osp.isfile(ann):
            raise DataCheckError(
                f'{key}: the annotation file {ann!r} of the metric '
                f'{ev.get("type")} does not exist; point it at the json of '
                f'the evaluated set with `--cfg-options {name}=...`')


def _type_name(ds) -> str:
    t = ds.get('type')
    if isinstance(t, str):
        return t.split('.')[-1]
    return getattr(t, '__name__', '')


def _check(cfg, ds, key: str) -> None:
    name = _type_name(ds)
    if name == 'ConcatDataset' and isinstance(ds.get('datasets'), list):
        for i, sub in enumerate(ds['datasets']):
            if isinstance(sub, dict):
                _check(cfg, sub, f'{key}.datasets.{i}')
        return
    if name in WRAPPERS and isinstance(ds.get('dataset'), dict):
        _check(cfg, ds['dataset'], f'{key}.dataset')
        return
    scope = ds.get('_scope_', cfg.get('default_scope'))
    if scope == 'mmdet' and name in COCO_TYPES:
        _DatasetCheck(cfg, ds, key, 'coco').coco()
    elif scope == 'mmseg' and name in SEG_TYPES:
        _DatasetCheck(cfg, ds, key, 'ade').seg(name)
    elif scope == 'mmpretrain' and name in CLS_TYPES:
        _DatasetCheck(cfg, ds, key, 'imagenet').cls(name)


def _is_local(path) -> bool:
    return isinstance(path, str) and '://' not in path


def _has_image(folder: str, suffixes=IMG_EXTENSIONS) -> bool:
    """Whether ``folder`` holds at least one image, at any depth (stops at
    the first one)."""
    for _, _, files in os.walk(folder, followlinks=True):
        if any(f.lower().endswith(suffixes) for f in files):
            return True
    return False


class _DatasetCheck:

    def __init__(self, cfg, ds, key, kind):
        self.cfg, self.ds, self.key, self.kind = cfg, ds, key, kind
        self.root = ds.get('data_root') or ''
        backend = (ds.get('backend_args') or {}).get('backend', 'local')
        self.local = (_is_local(self.root) and backend == 'local'
                      and not ds.get('file_client_args'))

    # ---- messages -------------------------------------------------------
    def fix_root(self) -> str:
        root = self.root or f'data/toy_{self.kind}/'
        return (f'generate a toy set there with `python {MAKE_TOY} '
                f'{self.kind} {root}`, or point the config at your data with '
                f'`--cfg-options {self.key}.data_root=/path/to/data/`')

    def fail(self, problem: str, fix: Optional[str] = None):
        raise DataCheckError(f'{self.key}: {problem}; '
                             f'{fix or self.fix_root()}')

    # ---- shared ---------------------------------------------------------
    def join(self, path: str) -> str:
        if path and not osp.isabs(path) and self.root:
            return osp.join(self.root, path)
        return path or self.root

    def check_root(self) -> bool:
        """False when the data is not local (nothing more to check)."""
        if not self.local:
            return False
        if self.root and not osp.isdir(self.root):
            self.fail(f'data_root {self.root!r} does not exist')
        if self.root and not os.listdir(self.root):
            self.fail(f'data_root {self.root!r} is empty')
        return True

    def check_image_dir(self, prefix: str, what='image folder',
                        suffixes=IMG_EXTENSIONS) -> Optional[str]:
        if not _is_local(prefix):
            return None
        folder = self.join(prefix)
        if not folder:
            return None
        if not osp.isdir(folder):
            self.fail(f'the {what} {folder!r} does not exist (data_root '
                      f'{self.root!r} + data_prefix {prefix!r})')
        if not _has_image(folder, suffixes):
            self.fail(f'the {what} {folder!r} contains no '
                      f'{"/".join(suffixes)} files')
        return folder

    def classes(self):
        metainfo = self.ds.get('metainfo') or {}
        classes = metainfo.get('classes')
        return None if classes is None else tuple(classes)

    # ---- mmdet COCO -----------------------------------------------------
    def coco(self):
        if not self.check_root():
            return
        prefix = self.ds.get('data_prefix') or {}
        if isinstance(prefix, dict):
            self.check_image_dir(prefix.get('img', ''))
        ann = self.ds.get('ann_file') or ''
        if not _is_local(ann) or not ann:
            return
        path = self.join(ann)
        if not osp.isfile(path):
            self.fail(f'the annotation file {path!r} does not exist')
        if osp.getsize(path) > MAX_JSON_BYTES:
            return
        fix = ('write it again (e.g. with the tool that made it) or point '
               f'`--cfg-options {self.key}.ann_file=...` at a COCO '
               'instances json')
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            self.fail(f'the annotation file {path!r} is not valid JSON '
                      f'({e.msg} at line {e.lineno} column {e.colno})', fix)
        except (OSError, UnicodeDecodeError) as e:
            self.fail(f'cannot read the annotation file {path!r} ({e})', fix)
        if not isinstance(data, dict):
            self.fail(f'the annotation file {path!r} is not a COCO '
                      f'instances json: it holds a {type(data).__name__}, '
                      f'not an object with images, annotations and '
                      f'categories', fix)
        missing = [k for k in ('images', 'annotations', 'categories')
                   if k not in data]
        if missing:
            self.fail(f'the annotation file {path!r} is not a COCO '
                      f'instances json: it has no '
                      f'{", ".join(repr(k) for k in missing)}', fix)
        not_lists = [k for k in ('images', 'annotations', 'categories')
                     if not isinstance(data[k], list)]
        if not_lists:
            self.fail(f'the annotation file {path!r} is not a COCO '
                      f'instances json: '
                      f'{", ".join(repr(k) for k in not_lists)} must be '
                      f'lists', fix)
        classes = self.classes()
        if classes is None:
            classes = self.default_classes('mmdet.datasets', 'CocoDataset')
        if classes is None:
            return
        names = {c.get('name') for c in data['categories']
                 if isinstance(c, dict)}
        absent = [c for c in classes if c not in names]
        if absent:
            self.fail(
                f'the classes {absent} of the config are not categories of '
                f'{path!r} (it has {sorted(map(str, names))}), so mmdet '
                f'would find no objects of them and train on nothing',
                f'set `{self.key}.metainfo.classes` (and the num_classes of '
                f'the model head) to the categories of the json, or use a '
                f'json with these categories')

    @staticmethod
    def default_classes(module: str, name: str):
        try:
            import importlib
            cls = getattr(importlib.import_module(module), name)
            return tuple(cls.METAINFO['classes'])
        except Exception:
            return None

    # ---- mmseg ----------------------------------------------------------
    def seg(self, name: str):
        if not self.check_root():
            return
        prefix = self.ds.get('data_prefix') or {}
        if not isinstance(prefix, dict):
            return
        ade = name == 'ADE20KDataset'
        img_suffix = self.ds.get('img_suffix', '.jpg')
        seg_suffix = self.ds.get('seg_map_suffix', '.png')
        self.check_image_dir(prefix.get('img_path', ''), 'image folder',
                             (img_suffix, ))
        seg_dir = self.check_image_dir(
            prefix.get('seg_map_path', ''), 'label map folder', (seg_suffix, ))
        if seg_dir is None or self.ds.get('ann_file'):
            return
        classes = self.classes()
        if classes is None:
            if not ade:  # BaseSegDataset without classes: unknown
                return
            classes = self.default_classes('mmseg.datasets', 'ADE20KDataset')
        elif ade:
            return  # a subset of ADE's classes gets a label_map: skip
        if not classes:
            return
        num_classes = len(classes)
        reduce = self.ds.get('reduce_zero_label', ade)
        for step in self.ds.get('pipeline') or []:
            if isinstance(step, dict) and 'LoadAnnotations' in str(
                    step.get('type')) and step.get('reduce_zero_label') \
                    is not None:
                reduce = step['reduce_zero_label']
        ignore = 255
        for path in self.label_maps(seg_dir, seg_suffix):
            try:
                with Image.open(path) as img:
                    values = np.unique(np.asarray(img))
            except Exception:
                continue  # unreadable: mmseg says so itself
            after = values.astype(np.int64)
            if reduce:
                after = np.where(after == 0, 256, after) - 1
                after[after == 254] = 255  # mmseg's reduction keeps 255
            bad = values[(after != ignore)
                         & ((after < 0) | (after >= num_classes))]
            if len(bad):
                rule = ('reduce_zero_label=True maps 0 to 255 (ignored) and '
                        f'v to v-1, so the PNG values may be 0, 1..'
                        f'{num_classes} and 255' if reduce else
                        'reduce_zero_label=False: the PNG values are the '
                        f'labels, 0..{num_classes - 1}, and 255 is ignored')
                self.fail(
                    f'the label map {path!r} holds the values '
                    f'{bad.tolist()}, outside the {num_classes} classes of '
                    f'the config ({rule}); such a value makes the '
                    f'CrossEntropy loss fail deep inside torch',
                    'fix the label maps, or the classes / num_classes / '
                    f'`{self.key}.reduce_zero_label` of the config')

    @staticmethod
    def label_maps(folder: str, suffix: str):
        """The first ``SEG_SAMPLES`` label maps, in name order."""
        found = []
        for root, dirs, files in os.walk(folder, followlinks=True):
            dirs.sort()
            found += [osp.join(root, f) for f in sorted(files)
                      if f.endswith(suffix)]
            if len(found) >= SEG_SAMPLES:
                break
        return found[:SEG_SAMPLES]

    # ---- mmpretrain -----------------------------------------------------
    def cls(self, name: str):
        if not self.check_root():
            return
        split = self.ds.get('split') or ''
        prefix = self.ds.get('data_prefix') or split
        if isinstance(prefix, dict):
            prefix = prefix.get('img_path', '')
        ann = self.ds.get('ann_file') or ''
        if not ann and split and osp.isfile(
                osp.join(self.root, 'meta', f'{split}.txt')):
            ann = osp.join('meta', f'{split}.txt')
        if prefix or not ann:
            self.check_image_dir(prefix)
        if not ann or not _is_local(ann):
            return
        path = self.join(ann)
        if not osp.isfile(path):
            self.fail(f'the annotation file {path!r} does not exist')
        classes = self.classes()
        if classes is None and name == 'ImageNet':
            classes = self.default_classes('mmpretrain.datasets', 'ImageNet')
        if not classes:
            return
        num_classes = len(classes)
        try:
            with open(path, encoding='utf-8') as f:
                for lineno, line in enumerate(f, 1):
                    parts = line.rsplit(maxsplit=1)
                    if len(parts) != 2:
                        continue
                    try:
                        label = int(parts[1])
                    except ValueError:
                        continue
                    if not 0 <= label < num_classes:
                        self.fail(
                            f'line {lineno} of {path!r} has the label '
                            f'{label}, outside the {num_classes} classes of '
                            f'the config (0..{num_classes - 1})',
                            'fix the annotation file, or the classes / '
                            'num_classes of the config')
        except (OSError, UnicodeDecodeError) as e:
            self.fail(f'cannot read the annotation file {path!r} ({e})',
                      'check the file')
