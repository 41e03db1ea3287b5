# HAT-Net-Tiny Semantic FPN on the toy ADE20K set written by
#   python tools/dataset_converters/make_toy_data.py ade data/toy_ade
# It inherits the real ADE20K config and overrides only the data root and
# classes, the image scale, the schedule and the batch size. The backbone
# starts from random weights: no download is possible here.
_base_ = '../fpn_hatnet_tiny.py'

data_root = 'data/toy_ade/'
# label PNGs hold 0 = ignore (reduce_zero_label maps it to 255), 1 = background
# and 2..5 the shapes, so after the reduction the classes are these five
metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle', 'cross'),
    palette=[(120, 120, 120), (220, 20, 60), (0, 160, 60), (30, 60, 220),
             (230, 200, 0)])
crop_size = (128, 128)
scale = (512, 128)  # the real (2048, 512) at 1/4: toy images are 256 high
batch_size = 4
max_iters = 400

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=None),
    decode_head=dict(num_classes=len(metainfo['classes'])))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
# ADE20KDataset pins its 150 class names (it refuses others), so the toy set is
# read by its parent class with exactly ADE20KDataset's settings: the same
# layout, suffixes and reduce_zero_label.
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(**dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(**dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule: the 80k poly recipe compressed to max_iters on this tiny set
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters // 2, max_keep_ckpts=2))
randomness = dict(seed=0)
