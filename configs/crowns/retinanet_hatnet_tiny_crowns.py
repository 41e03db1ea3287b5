# RetinaNet with HAT-Net-Tiny on real aerial photographs: tree crowns of the
# deepforest 2.1.0 wheel (NEON sites YELL, OSBS, SOAP; crowns boxed by
# people), tiled into 320x320 tiles by
#   python tools/dataset_converters/real_data.py crowns data/crowns
# train: 98 tiles / 1206 crowns of three photographs (8 tiles have no crown
# and are left out of training by filter_empty_gt); val: the 20 tiles / 453
# crowns of the held-out photograph 2019_YELL_2_541000_4977000_image_crop.
# Crowns are 19 / 38 / 60 px (side, p10 / p50 / p90), COCO 'small' to
# 'medium'.
#
# The peers (configs/crowns/retinanet_{r18,pvtv2_b0,swin_t}_crowns.py) inherit
# everything here and replace only the backbone and the neck's in_channels:
# same detector, data, input size, anchors, schedule, optimizer, batch and
# seed, and the same start (random weights: init_cfg=None, no stochastic
# depth; nothing here is pretrained).
#
# What differs from the COCO recipe (configs/retinanet_hatnet_tiny.py), and
# why (only the GroupNorm head was measured on its own):
# * input at the tiles' own size (a Resize to the same 320x320 scale, which
#   only sets the scale factor); `scale` is the knob for a larger input;
# * anchors of half the COCO size (octave_base_scale 2: 16-25 px at stride 8,
#   32-50 at 16, 64-101 at 32): COCO's smallest anchor (32 px) has an IoU
#   below the 0.4 negative threshold with a 19 px crown;
# * a head 128 wide instead of 256 (as the main job's toy fine-tuning): one
#   class, and at 256 the head's convs are ~3/4 of the detector's FLOPs at
#   320x320, so a CPU would spend its time on the head, not the backbone;
# * GroupNorm in the head's convs, as detectors trained from scratch have
#   it (He et al., "Rethinking ImageNet Pre-training"): without it the
#   ResNet-18 and Swin-T peers barely learned, and HAT-Net-Tiny learned
#   less (docs/performance.md, both runs);
# * horizontal, vertical and diagonal flips (a photograph from above has no
#   up or down);
# * AdamW 2e-4 at batch 4 (the toy from-scratch recipe's), gradient clipping
#   at norm 10, a 100-iteration warm-up and x0.1 at 2/3 and 11/12 of the
#   schedule.
_base_ = '../retinanet_hatnet_tiny.py'

data_root = 'data/crowns/'
metainfo = dict(classes=('tree', ), palette=[(0, 200, 60)])
scale = (320, 320)
batch_size = 4
max_epochs = 24

model = dict(
    backbone=dict(drop_path_rate=0.0, init_cfg=None),
    bbox_head=dict(
        num_classes=1,
        feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        anchor_generator=dict(octave_base_scale=2)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25],
         direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[16, 22], gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0)
