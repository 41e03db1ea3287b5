# Copyright (c) mmhatnet contributors. All rights reserved.
"""A quick look at the data a config points to, before the runner is built.

OpenMMLab datasets fail late and deep on bad data (a missing folder is a
``FileNotFoundError`` from inside the dataloader build, a COCO json whose
categories do not match the config's classes silently trains on nothing, a
label value of 9 for 5 classes makes CrossEntropy fail inside torch). The
checks here find those problems in a second or so and say what is wrong and
what to do; ``tools/train.py`` and ``tools/test.py`` run them first. What a
dataset lists, its classes and its labels are read from the dataset itself,
built by its library from the config (:func:`build_dataset`).

Only local, known dataset types are checked (mmdet ``CocoDataset``, mmseg
``BaseSegDataset`` / ``ADE20KDataset``, mmpretrain ``ImageNet`` /
``CustomDataset``, and the usual wrappers around them); anything else, URLs
and non-local storage backends are left to the library.
"""
import copy
import importlib
import json
import os
import os.path as osp
import warnings
from typing import Iterable, List, Optional, Tuple

import numpy as np

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
KINDS = dict(CocoDataset=('mmdet', 'coco'), BaseSegDataset=('mmseg', 'seg'),
             ADE20KDataset=('mmseg', 'seg'), ImageNet=('mmpretrain', 'cls'),
             CustomDataset=('mmpretrain', 'cls'))
TOY_KIND = dict(coco='coco', seg='ade', cls='imagenet')  # make_toy_data's
WRAPPERS = ('RepeatDataset', 'ClassBalancedDataset', 'MultiImageMixDataset')
# how many label maps the segmentation check reads
SEG_SAMPLES = 20
# the label value mmseg's losses ignore
SEG_IGNORE = 255
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
        for key, ds, kind in leaf_datasets(cfg, [loader]):
            check = _DatasetCheck(cfg, ds, key, kind)
            getattr(check, kind)()
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


def _is_local(path) -> bool:
    return isinstance(path, str) and '://' not in path


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
        if not _is_local(ds.get('data_root') or '') or backend != 'local' \
                or ds.get('file_client_args'):
            return
        scope, kind = KINDS.get(name, (None, None))
        if kind and scope == ds.get('_scope_', cfg.get('default_scope')):
            found.append((key, ds, kind))

    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if isinstance(loader_cfg, dict) and isinstance(
                loader_cfg.get('dataset'), dict):
            walk(loader_cfg['dataset'], f'{loader}.dataset')
    return found


def build_dataset(cfg, ds_cfg: dict, lazy: bool = False):
    """The dataset of ``ds_cfg`` as its library builds it (its own type,
    files, metainfo and ``filter_cfg``), with no pipeline and without
    ``indices``; ``lazy``: not loaded yet (``full_init`` loads it)."""
    from mmengine.registry import DATASETS, DefaultScope
    scope = ds_cfg.get('_scope_', cfg.get('default_scope'))
    importlib.import_module(f'{scope}.utils').register_all_modules(
        init_default_scope=False)
    built = copy.deepcopy(ds_cfg)
    built.pop('indices', None)
    built.update(pipeline=[], lazy_init=lazy, serialize_data=False)
    with DefaultScope.overwrite_default_scope(scope):
        return DATASETS.build(built)


def _has_image(folder: str, suffixes=IMG_EXTENSIONS) -> bool:
    """Whether ``folder`` holds at least one image, at any depth (stops at
    the first one)."""
    from mmengine.utils import scandir
    return next(scandir(folder, suffixes, recursive=True,
                        case_sensitive=False), None) is not None


class _DatasetCheck:

    def __init__(self, cfg, ds, key, kind):
        self.cfg, self.ds, self.key = cfg, ds, key
        self.kind = TOY_KIND[kind]
        self.root = ds.get('data_root') or ''

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

    def check_root(self) -> None:
        if self.root and not osp.isdir(self.root):
            self.fail(f'data_root {self.root!r} does not exist')
        if self.root and not os.listdir(self.root):
            self.fail(f'data_root {self.root!r} is empty')

    def check_image_dir(self, prefix: str, what='image folder',
                        suffixes=IMG_EXTENSIONS, joined=False):
        folder = prefix if joined else self.join(prefix)
        if not _is_local(prefix) or not folder:
            return
        if not osp.isdir(folder):
            self.fail(f'the {what} {folder!r} does not exist' + (
                '' if joined else
                f' (data_root {self.root!r} + data_prefix {prefix!r})'))
        if not _has_image(folder, suffixes):
            self.fail(f'the {what} {folder!r} contains no '
                      f'{"/".join(suffixes)} files')

    def build(self, lazy=False):
        """The dataset, built by its library (see :func:`build_dataset`)."""
        try:
            return build_dataset(self.cfg, self.ds, lazy)
        except Exception as e:
            self.fail(f'{_type_name(self.ds)} cannot be built from the '
                      f'config ({type(e).__name__}: {e})',
                      'fix the dataset config or its files')

    # ---- mmdet COCO -----------------------------------------------------
    def coco(self):
        self.check_root()
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
        classes = self.build(lazy=True).metainfo.get('classes') or ()
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

    # ---- mmseg ----------------------------------------------------------
    def seg(self):
        self.check_root()
        prefix = self.ds.get('data_prefix') or {}
        if not isinstance(prefix, dict):
            return
        seg_suffix = self.ds.get('seg_map_suffix', '.png')
        self.check_image_dir(prefix.get('img_path', ''), 'image folder',
                             (self.ds.get('img_suffix', '.jpg'), ))
        self.check_image_dir(prefix.get('seg_map_path', ''),
                             'label map folder', (seg_suffix, ))
        if not prefix.get('seg_map_path'):
            return
        dataset = self.build()
        classes = dataset.metainfo.get('classes')
        if not classes:
            return  # without classes, which labels are valid is unknown
        from mmcv import imread
        load = self.load_annotations()
        num_classes = len(classes)
        for i in range(min(len(dataset), SEG_SAMPLES)):
            info = dataset.get_data_info(i)
            try:  # the labels the pipeline's LoadAnnotations gives
                labels = load(info)['gt_seg_map']
                raw = imread(info['seg_map_path'], 'unchanged',
                             backend='pillow')
            except Exception:
                continue  # unreadable: the image scan or mmseg says so
            outside = (labels != SEG_IGNORE) & (labels >= num_classes)
            if not outside.any():
                continue
            bad = np.unique(raw.reshape(labels.shape)[outside])
            reduce = load.reduce_zero_label
            rule = ('reduce_zero_label=True maps 0 to 255 (ignored) and '
                    f'v to v-1, so the PNG values may be 0, 1..'
                    f'{num_classes} and 255' if reduce else
                    'reduce_zero_label=False: the PNG values are the '
                    f'labels, 0..{num_classes - 1}, and 255 is ignored')
            self.fail(
                f'the label map {info["seg_map_path"]!r} holds the values '
                f'{bad.tolist()}, outside the {num_classes} classes of '
                f'the config ({rule}); such a value makes the '
                f'CrossEntropy loss fail deep inside torch',
                'fix the label maps, or the classes / num_classes / '
                f'`{self.key}.reduce_zero_label` of the config')

    def load_annotations(self):
        """mmseg's ``LoadAnnotations`` as the dataset's pipeline sets it
        (its ``reduce_zero_label``, else the dataset's)."""
        from mmseg.datasets.transforms import LoadAnnotations
        args = next((step for step in self.ds.get('pipeline') or []
                     if isinstance(step, dict)
                     and 'LoadAnnotations' in str(step.get('type'))), {})
        with warnings.catch_warnings():  # its reduce_zero_label deprecation
            warnings.simplefilter('ignore')
            return LoadAnnotations(
                **{k: v for k, v in args.items() if k != 'type'})

    # ---- mmpretrain -----------------------------------------------------
    def cls(self):
        self.check_root()
        lazy = self.build(lazy=True)  # its split / ann_file / data_prefix
        ann = lazy.ann_file
        folder = lazy.data_prefix.get('img_path', '')
        if folder or not ann:
            self.check_image_dir(folder, joined=True)
        if not ann or not _is_local(ann):
            return
        if not osp.isfile(ann):
            self.fail(f'the annotation file {ann!r} does not exist')
        classes = lazy.metainfo.get('classes')
        if not classes:
            return
        num_classes = len(classes)
        dataset = self.build()  # read as mmpretrain reads it: line i is i
        for i in range(len(dataset)):
            label = dataset.get_data_info(i).get('gt_label', 0)
            if not 0 <= label < num_classes:
                self.fail(
                    f'line {i + 1} of {ann!r} has the label {label}, '
                    f'outside the {num_classes} classes of the config '
                    f'(0..{num_classes - 1})',
                    'fix the annotation file, or the classes / '
                    'num_classes of the config')
