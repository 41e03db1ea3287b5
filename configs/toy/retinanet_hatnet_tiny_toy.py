# HAT-Net-Tiny RetinaNet from scratch on the toy COCO set written by
#   python tools/dataset_converters/make_toy_data.py coco data/toy_coco
# It inherits the real COCO config and overrides only the data root and
# classes, the image scale, the schedule and the batch size. The backbone
# starts from random weights: no download is possible here. The main job
# fine-tunes it from a toy-pretrained backbone instead
# (retinanet_hatnet_tiny_toy_finetune.py).
_base_ = '../retinanet_hatnet_tiny.py'

data_root = 'data/toy_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'cross'),
    palette=[(220, 20, 60), (0, 160, 60), (30, 60, 220), (230, 200, 0)])
scale = (240, 192)  # toy images (256 high, 256-320 wide) at 3/4 size
batch_size = 4
max_epochs = 20

model = dict(
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=len(metainfo['classes'])))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
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
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# schedule: the 1x recipe compressed to max_epochs on this tiny set
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[13, 18],
         gamma=0.1)
]
# total batch 4 instead of 16, yet a 2x higher lr than the real config: the
# toy run starts from scratch and has only 320 iterations (docs/changelog.md
# has what 14 epochs at 3e-4 gave instead)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs // 2, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
# a fixed seed: without it two runs of the main job ended at mAP 0.18 and 0.41
randomness = dict(seed=0)
