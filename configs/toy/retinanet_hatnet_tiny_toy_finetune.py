# The main job's detector: HAT-Net-Tiny RetinaNet on the toy COCO set,
# fine-tuned from a HAT-Net-Tiny classifier pretrained on the toy ImageNet set
# (configs/toy/hatnet_tiny_in1k_toy.py), the way a COCO run starts from the
# released ImageNet weights:
#   python tools/train.py configs/toy/hatnet_tiny_in1k_toy.py \
#       --work-dir work_dirs/main_job/pretrain
#   python tools/train.py configs/toy/retinanet_hatnet_tiny_toy_finetune.py \
#       --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/main_job/pretrain/epoch_N.pth
# (tools/run_main_job.sh does both). The classifier checkpoint holds the whole
# ImageClassifier; the backbone takes its `backbone.` weights and leaves the
# head. G1/G2 change from the ImageNet values the classifier was trained with
# to the dense-task ones (they hold no parameters, as in the paper).
_base_ = './retinanet_hatnet_tiny_toy.py'

pretrained = 'work_dirs/main_job/pretrain/epoch_8.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        _delete_=True, type='Pretrained', checkpoint=pretrained)),
    # the real head is 256 wide; at 128 it costs a quarter, so the CPU spends
    # its time on the backbone and the toy run affords 1.5x the iterations
    bbox_head=dict(feat_channels=128))

# The main job's toy COCO set (run_main_job.sh): 256 train and 128 val
# images 160 pixels high with objects of 20-50% of the shorter side,
#   python tools/dataset_converters/make_toy_data.py coco data/toy_coco \
#       --train 256 --val 128 --size 160 --object-size 0.2 0.5
# trained at its own size (200x160, no resize). Larger objects than the
# from-scratch config's set, a smaller image: every shape is a few cells of
# the stride-8 map, so the 640 iterations go into telling the classes apart
# rather than into finding 20-pixel crosses.
scale = (200, 160)
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule: 10 epochs of 64 iterations (batch 4), lr x0.1 after epoch 8
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[8], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# per-class AP in the metrics (coco/<class>_precision)
val_evaluator = dict(classwise=True)
test_evaluator = val_evaluator
