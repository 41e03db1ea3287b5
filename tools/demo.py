#!/usr/bin/env python
"""Run a detector, instance segmenter, segmentor or classifier of ours on an
image or a folder of images and draw what it predicts.

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR]
        [--score-thr 0.3] [--device cpu] [--amp [--amp-dtype {fp16,bf16}]]
        [--cfg-options k=v ...]

INPUT is an image or a folder (searched recursively for images). The model is
built by the library the config's ``default_scope`` names, as its own demo
does: mmdet's ``init_detector`` / ``inference_detector``, mmseg's
``init_model`` / ``inference_model``, mmpretrain's ``init_model`` /
``inference_model``. The pictures are drawn by that library's visualiser
(``DetLocalVisualizer``: boxes, masks and class names with scores above
``--score-thr``; ``SegLocalVisualizer``: the classes colour-coded over the
image, with their names; mmpretrain's ``UniversalVisualizer``: the top class
and its score) at the image's own size, and written to ``--out-dir`` (default
``demo_out/``) under the image's name and relative path, each to a temporary
file first and then renamed, so a picture there is always complete.

CHECKPOINT is one that tools/train.py wrote or, for a ``hatnet_*_in1k``
config, a released HAT-Net ImageNet checkpoint as downloaded (converted on
the fly, as tools/test.py does), or an ONNX file of tools/deployment/export.py
(run in ONNX Runtime, with the library's post-processing). The class names
come from the checkpoint's ``dataset_meta`` (the runner saves them), else
from the config's test dataset ``metainfo``, else the library's default for
the config's dataset.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # mmhatnet_tools

import numpy as np

from mmhatnet_tools.cli import (ToolError, add_amp_arguments, add_cfg_options,
                                run_or_exit)

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                  '.tiff', '.webp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the predictions of a HAT-Net detector, segmentor '
        'or classifier on images')
    parser.add_argument('input', help='an image, or a folder of images')
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('--out-dir', default='demo_out',
                        help='folder for the pictures (default: demo_out)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detectors: draw boxes/masks scoring at least '
                        'this (default 0.3)')
    parser.add_argument('--device', default='cpu',
                        help="device, e.g. 'cpu' (default) or 'cuda:0'")
    add_amp_arguments(parser, 'predict')
    add_cfg_options(parser)
    return parser.parse_args(argv)


# ------------------------------------------------------------- the inputs
def find_images(path: str):
    """``[(image path, path relative to the input)]``, sorted."""
    if osp.isfile(path):
        return [(path, osp.basename(path))]
    if not osp.isdir(path):
        raise ToolError(f'input {path!r} does not exist; give an image or a '
                        f'folder of images')
    found = []
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMG_EXTENSIONS):
                full = osp.join(root, name)
                found.append((full, osp.relpath(full, path)))
    if not found:
        raise ToolError(f'the folder {path!r} holds no images '
                        f'({"/".join(IMG_EXTENSIONS)}); give a folder with '
                        f'images or an image')
    return found


def read_rgb(path: str) -> np.ndarray:
    import mmcv
    try:
        img = mmcv.imread(path, channel_order='rgb')
    except Exception as e:  # noqa: BLE001 (any decoder error)
        raise ToolError(f'cannot read the image {path!r}: {e}') from None
    if img is None:
        raise ToolError(f'cannot read the image {path!r}: not an image file')
    return img


def write_atomic(rgb: np.ndarray, out: str) -> None:
    """Write ``rgb`` to ``out`` (format from its extension) through a
    temporary file in the same folder."""
    import mmcv

    from mmhatnet.utils.files import atomic_output
    os.makedirs(osp.dirname(out), exist_ok=True)
    with atomic_output(out) as tmp:
        if not mmcv.imwrite(rgb[..., ::-1], tmp, auto_mkdir=False):
            raise ToolError(f'could not write {out!r}')


# -------------------------------------------------------------- the model
def load_config(config: str, cfg_options):
    from mmhatnet.apis import read_model_config
    try:
        return read_model_config(config, cfg_options)
    except ValueError as e:
        raise ToolError(str(e)) from None


def dataset_metainfo(cfg) -> dict:
    """The class names and palette of the config's test set, as the
    library's dataset class gives them (its defaults merged with the
    config's ``metainfo``; built lazily, no file is read)."""
    import copy
    import importlib

    from mmengine.registry import DefaultScope
    scope = cfg.default_scope
    dataset = copy.deepcopy(cfg.test_dataloader.dataset)
    while dataset.get('type') in ('RepeatDataset', 'ClassBalancedDataset'):
        dataset = dataset.dataset
    dataset['lazy_init'] = True
    registry = importlib.import_module(f'{scope}.registry').DATASETS
    try:
        with DefaultScope.overwrite_default_scope(scope):
            meta = dict(registry.build(dataset).metainfo)
    except Exception:  # noqa: BLE001 (a dataset that needs its files)
        meta = dict(dataset.get('metainfo') or {})
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in meta.items()}


def load_weights(model, checkpoint: str):
    """Load the mmengine checkpoint (or bare state dict) ``checkpoint`` into
    ``model``, every key (a checkpoint of another model is refused, where
    the libraries' loaders would load what fits and warn); returns its
    ``meta.dataset_meta`` or None."""
    from mmengine.runner import CheckpointLoader
    from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present
    try:
        ckpt = CheckpointLoader.load_checkpoint(checkpoint,
                                                map_location='cpu')
    except Exception as e:  # noqa: BLE001 (damaged, not a checkpoint)
        first = (str(e).strip().splitlines() or [''])[0][:200]
        raise ToolError(f'cannot read the checkpoint {checkpoint!r} '
                        f'({type(e).__name__}: {first})') from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ToolError(f'{checkpoint!r} holds no state dict')
    state = dict(state)
    consume_prefix_in_state_dict_if_present(state, 'module.')
    from mmhatnet.models.utils import diff_state_dict
    diff = diff_state_dict(model.state_dict(), state)
    if diff:
        missing, unexpected = diff.missing, diff.unexpected
        mismatched = [f'{k} {in_ckpt} vs {in_model}'
                      for k, in_ckpt, in_model in diff.mismatched]
        problems = []
        if missing:
            problems.append(f'{len(missing)} of the model\'s keys are not in '
                            f'it (first: {", ".join(missing[:3])})')
        if unexpected:
            problems.append(f'{len(unexpected)} of its keys are not the '
                            f'model\'s (first: {", ".join(unexpected[:3])})')
        if mismatched:
            problems.append(f'{len(mismatched)} shapes differ (first: '
                            f'{"; ".join(mismatched[:3])})')
        raise ToolError(
            f'checkpoint {checkpoint!r} does not fit the model of the '
            f'config: {"; ".join(problems)}; give the checkpoint trained '
            f'with this config')
    model.load_state_dict(state, strict=True)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return meta.get('dataset_meta') if isinstance(meta, dict) else None


def build_model(cfg, checkpoint: str, device: str):
    """The model of ``cfg``, built by its library's own API, with
    ``checkpoint`` loaded (every key must fit), in eval mode, and its class
    names and palette (from the checkpoint, else from the config)."""
    import warnings

    from mmhatnet.apis import load_released_classifier, released_state_dict
    scope = cfg.default_scope
    released = None if checkpoint.lower().endswith('.onnx') else \
        released_state_dict(checkpoint)
    if released is not None and scope != 'mmpretrain':
        raise ToolError(
            f'{checkpoint!r} is a released HAT-Net ImageNet checkpoint: a '
            f'backbone and an ImageNet classifier, no {scope} head; give a '
            f'checkpoint trained with this config (the released weights go '
            f'into its backbone init_cfg) or a hatnet_*_in1k config')
    if isinstance(cfg.model.get('backbone'), dict):
        # the checkpoint replaces any pretrained init; nothing to download
        cfg.model.backbone.init_cfg = None
    # built without weights, loaded below: mmseg's init_model fails on a
    # checkpoint without 'meta', and the libraries load non-strictly
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "checkpoint is None, use COCO..."
        if scope == 'mmdet':
            from mmdet.apis import init_detector
            model = init_detector(cfg, None, device=device)
        elif scope == 'mmseg':
            from mmseg.apis import init_model
            model = init_model(cfg, None, device=device)
        else:
            from mmpretrain.apis import get_model
            model = get_model(cfg, pretrained=False, device=device)
    meta = None
    if released is not None:
        load_released_classifier(model, released, checkpoint)
    elif checkpoint.lower().endswith('.onnx'):  # tools/deployment/export.py
        from mmhatnet.deployment import DeployError, load_deployed
        try:
            model = load_deployed(model, checkpoint)
        except DeployError as e:
            raise ToolError(str(e)) from None
    else:
        meta = load_weights(model, checkpoint)
    if meta:
        meta = {k.lower(): v for k, v in meta.items()}
    else:
        meta = dataset_metainfo(cfg)
    model.dataset_meta = meta
    return model.to(device).eval()


def build_visualizer(cfg, model):
    """The library's own visualiser, with the model's class names and
    palette, writing nothing by itself."""
    from mmengine.registry import VISUALIZERS
    scope = cfg.default_scope
    vis_cfg = dict(cfg.get('visualizer') or {})
    default = dict(mmdet='DetLocalVisualizer', mmseg='SegLocalVisualizer',
                   mmpretrain='UniversalVisualizer')[scope]
    vis_cfg.setdefault('type', default)
    # no backends: the pictures are written here (atomically), not by it;
    # a name of its own, as mmengine keeps one visualiser per name
    vis_cfg.update(vis_backends=None, save_dir=None,
                   name=f'mmhatnet_demo_{id(model)}', _scope_=scope)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = model.dataset_meta
    return visualizer


class Drawer:
    """Predicts on one image with the library's inference API and draws the
    prediction with its visualiser."""

    def __init__(self, cfg, model, score_thr: float):
        self.scope, self.model, self.score_thr = (cfg.default_scope, model,
                                                  score_thr)
        self.visualizer = build_visualizer(cfg, model)
        self.classes = model.dataset_meta.get('classes')
        if self.scope == 'mmpretrain':
            from mmpretrain.apis import ImageClassificationInferencer
            self.inferencer = ImageClassificationInferencer(
                model, pretrained=False, classes=self.classes)

    def __call__(self, rgb: np.ndarray, path: str) -> np.ndarray:
        """The picture (RGB, the image's size) for the image at ``path``,
        already read as ``rgb``."""
        vis = self.visualizer
        if self.scope == 'mmdet':
            from mmdet.apis import inference_detector
            result = inference_detector(self.model, path)
            vis.add_datasample('demo', rgb, data_sample=result,
                               draw_gt=False, show=False,
                               pred_score_thr=self.score_thr)
        elif self.scope == 'mmseg':
            from mmseg.apis import inference_model
            result = inference_model(self.model, path)
            vis.add_datasample('demo', rgb, data_sample=result,
                               draw_gt=False, show=False, with_labels=True)
        else:
            result = self.inferencer(path, return_datasamples=True)[0]
            vis.visualize_cls(rgb, result, classes=self.classes,
                              draw_gt=False, show=False)
        return vis.get_image()


# -------------------------------------------------------------------- main
def run(args) -> list:
    for what, path in (('config', args.config),
                       ('checkpoint', args.checkpoint)):
        if path.startswith(('http://', 'https://')) and what == 'checkpoint':
            continue
        if not osp.isfile(path):
            raise ToolError(f'{what} {path!r} does not exist')
    images = find_images(args.input)
    out_dir = osp.abspath(args.out_dir)
    src = osp.abspath(args.input)
    src_dir = src if osp.isdir(src) else osp.dirname(src)
    if out_dir == src_dir:
        raise ToolError(f'--out-dir {args.out_dir!r} is the input folder: '
                        f'the pictures would replace the images; choose '
                        f'another folder')
    if osp.isdir(src) and out_dir.startswith(src + os.sep):
        raise ToolError(f'--out-dir {args.out_dir!r} is inside the input '
                        f'folder: the pictures would be taken for images '
                        f'the next time; choose a folder outside it')
    if not 0 <= args.score_thr <= 1:
        raise ToolError(f'--score-thr must be in [0, 1], got '
                        f'{args.score_thr}')
    from mmhatnet.engine import (AmpUnsupportedError, autocast_features,
                                 resolve_amp_dtype)
    device_type = args.device.split(':')[0]
    dtype = None
    if args.amp or args.amp_dtype:
        try:
            dtype = resolve_amp_dtype(device_type, args.amp_dtype,
                                      cpu_fp16_ok=True)
        except AmpUnsupportedError as e:
            raise ToolError(str(e)) from None
    cfg = load_config(args.config, args.cfg_options)
    # transforms, models and visualisers are looked up in this scope
    # (mmpretrain's inferencer relies on it being set)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.default_scope)
    model = build_model(cfg, args.checkpoint, args.device)
    drawer = Drawer(cfg, model, args.score_thr)
    written = []
    for path, rel in images:
        # the backbone and neck under autocast, the heads in fp32
        with autocast_features(model, device_type, dtype):
            picture = drawer(read_rgb(path), path)
        out = osp.join(out_dir, rel)
        write_atomic(picture, out)
        written.append(out)
        print(f'{path} -> {out}')
    return written


def main(argv=None) -> None:
    args = parse_args(argv)
    written = run_or_exit(run, args)
    print(f'{len(written)} picture(s) written to {osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    main()
