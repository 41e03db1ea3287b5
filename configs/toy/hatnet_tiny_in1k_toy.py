# HAT-Net-Tiny classifier on the toy ImageNet set written by
#   python tools/dataset_converters/make_toy_data.py imagenet data/toy_imagenet
# It inherits the real ImageNet config (the whole DeiT recipe) and overrides
# only the data root and classes, the image scale, the schedule, the batch
# size and two colour operations of RandAugment (see `rand_policies`). The
# main job (tools/run_main_job.sh) pretrains with it on 512 toy images of 128
# pixels (8 epochs of 32 iterations) before fine-tuning a detector from the
# checkpoint.
_base_ = '../hatnet_tiny_in1k.py'

data_root = 'data/toy_imagenet/'
metainfo = dict(classes=('circle', 'square', 'triangle', 'cross'))
crop = 112  # the real 224 at 1/2
batch_size = 16
max_epochs = 8
warmup_epochs = 2

model = dict(head=dict(num_classes=len(metainfo['classes'])))
data_preprocessor = dict(num_classes=len(metainfo['classes']))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
# RandAugment's 'timm_increasing' set of the real recipe without Invert and
# Solarize. The toy classes differ by colour as well as shape, and Invert
# turns the yellow of the crosses (245, 200, 30) into (10, 55, 225), next to
# the blue of the triangles (40, 90, 220), and that blue into yellow (Solarize
# at magnitude ~9 inverts nearly every pixel too): pretrained with them, the
# backbone learns that the two colours mean either class, and the detector
# then confuses triangles with crosses.
rand_policies = [
    dict(type='AutoContrast'),
    dict(type='Equalize'),
    dict(type='Rotate', magnitude_range=(0, 30)),
    dict(type='Posterize', magnitude_range=(4, 0)),
    dict(type='SolarizeAdd', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_range=(0, 0.9)),
    dict(type='Contrast', magnitude_range=(0, 0.9)),
    dict(type='Brightness', magnitude_range=(0, 0.9)),
    dict(type='Sharpness', magnitude_range=(0, 0.9)),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_range=(0, 0.45), direction='horizontal'),
    dict(type='Translate', magnitude_range=(0, 0.45), direction='vertical'),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies=rand_policies, num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean],
                      interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=bgr_mean,
         fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=crop * 256 // 224, edge='short',
         backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))  # 4 classes: top-5 means nothing
test_evaluator = val_evaluator

# schedule: the 300-epoch recipe compressed to max_epochs on this tiny set
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs)
]
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs // 2, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=1024)
randomness = dict(seed=0)
