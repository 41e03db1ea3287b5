#!/usr/bin/env python
"""Run a detector, instance segmenter, segmentor or classifier of ours on an
image or a folder of images and draw what it predicts.

    python tools/demo.py INPUT CONFIG CHECKPOINT [--out-dir DIR]
        [--score-thr 0.3] [--device cpu] [--amp [--amp-dtype {fp16,bf16}]]
        [--cfg-options k=v ...]

INPUT is an image or a folder (searched recursively for images). The model
is built, run and drawn by the inferencer of the library the config's
``default_scope`` names: mmdet's ``DetInferencer`` (boxes, masks and class
names with scores above ``--score-thr``), mmseg's ``MMSegInferencer`` (the
classes colour-coded over the image, with their names), mmpretrain's
``ImageClassificationInferencer`` (the top class and its score), at the
image's own size. The pictures are written to ``--out-dir`` (default
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


def build_inferencer(cfg, checkpoint: str, device: str):
    """The library's inferencer of ``cfg``'s model (mmdet's
    ``DetInferencer``, mmseg's ``MMSegInferencer``, mmpretrain's
    ``ImageClassificationInferencer``: the model, the test pipeline, the
    visualiser), with ``checkpoint`` loaded here and not by it: the
    inferencers load what fits of another model's checkpoint (and warn),
    read neither a released HAT-Net checkpoint nor an ONNX file, and without
    class names in the checkpoint fall back to COCO's or Cityscapes' instead
    of the config's (:func:`dataset_metainfo`)."""
    import warnings

    from mmhatnet.apis import load_released_classifier, released_state_dict
    scope = cfg.default_scope
    onnx = checkpoint.lower().endswith('.onnx')
    released = None if onnx else released_state_dict(checkpoint)
    if released is not None and scope != 'mmpretrain':
        raise ToolError(
            f'{checkpoint!r} is a released HAT-Net ImageNet checkpoint: a '
            f'backbone and an ImageNet classifier, no {scope} head; give a '
            f'checkpoint trained with this config (the released weights go '
            f'into its backbone init_cfg) or a hatnet_*_in1k config')
    if isinstance(cfg.model.get('backbone'), dict):
        # the checkpoint replaces any pretrained init; nothing to download
        cfg.model.backbone.init_cfg = None
    # the pictures are written here (atomically), not by the visualiser
    default = dict(mmdet='DetLocalVisualizer', mmseg='SegLocalVisualizer',
                   mmpretrain='UniversalVisualizer')[scope]
    cfg.visualizer = {'type': default, **(cfg.get('visualizer') or {}),
                      'vis_backends': None, 'save_dir': None}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "weights is None, use COCO..."
        if scope == 'mmdet':
            from mmdet.apis import DetInferencer
            inferencer = DetInferencer(cfg, device=device,
                                       show_progress=False)
        elif scope == 'mmseg':
            from mmseg.apis import MMSegInferencer
            inferencer = MMSegInferencer(cfg, device=device)
        else:
            from mmpretrain.apis import ImageClassificationInferencer
            from mmpretrain.visualization import UniversalVisualizer
            inferencer = ImageClassificationInferencer(
                cfg, pretrained=False, device=device)
            inferencer.visualizer = UniversalVisualizer(
                name=f'mmhatnet_demo_{id(inferencer)}')
    model, meta = inferencer.model, None
    if released is not None:
        load_released_classifier(model, released, checkpoint)
    elif onnx:  # tools/deployment/export.py
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
    if scope == 'mmseg':  # its visualize() passes them as keywords
        meta = {k: meta[k] for k in ('classes', 'palette') if k in meta}
    model.dataset_meta = inferencer.visualizer.dataset_meta = meta
    inferencer.model = model.to(device).eval()
    return inferencer


def draw(inferencer, scope: str, path: str, rgb: np.ndarray,
         score_thr: float) -> np.ndarray:
    """The picture (RGB, the image's size) of the prediction on the image at
    ``path`` (already read as ``rgb``), drawn by the inferencer's
    visualiser."""
    if scope == 'mmdet':
        return inferencer(path, return_vis=True, no_save_vis=True,
                          pred_score_thr=score_thr,
                          return_datasamples=True)['visualization'][0]
    if scope == 'mmseg':
        return inferencer(path, return_vis=True)['visualization']
    # mmpretrain's inferencer draws only into a window or a folder of its
    # own: its visualiser draws the prediction here
    result = inferencer(path, return_datasamples=True)[0]
    return inferencer.visualizer.visualize_cls(
        rgb, result, classes=inferencer.model.dataset_meta.get('classes'),
        draw_gt=False, show=False)


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
    inferencer = build_inferencer(cfg, args.checkpoint, args.device)
    written = []
    for path, rel in images:
        rgb = read_rgb(path)  # unreadable: a clear error, not a traceback
        # the backbone and neck under autocast, the heads in fp32
        with autocast_features(inferencer.model, device_type, dtype):
            picture = draw(inferencer, cfg.default_scope, path, rgb,
                           args.score_thr)
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
