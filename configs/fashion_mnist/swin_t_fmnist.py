# Swin-T on Fashion-MNIST with its own recipe, mmpretrain's
# swin_transformer/swin-tiny_16xb64_in1k.py (AdamW, 20 warm-up epochs of 300,
# cosine, gradient clipping at 5, DeiT's augmentations, Mixup/CutMix, label
# smoothing), beside HAT-Net-Tiny's hatnet_tiny_fmnist.py: the same images,
# input (56 px, three channels, Fashion-MNIST's normalisation), test
# transform, epochs, batch, data loading and seed, for the reasons given
# there, and the same changes to the augmentations (black padding, erasing
# noise of Fashion-MNIST's statistics). From random weights (the recipe's
# truncated normal init) without stochastic depth (the recipe's is 0.2).
#
# What differs from the recipe besides: img_size 56, and windows of 7, 7, 4
# and 2 on the 14, 7, 4 and 2 token maps of the stages: the original Swin
# shrinks a window to a map smaller than it (and does not shift it), which
# mmpretrain leaves to the config (it refuses such a map unless padded); the
# schedule's shape at `max_epochs` epochs: warm-up 20/300 of it, then cosine
# to 1e-5, both per iteration; lr 1e-3 x 64 / 1024 (its linear rule);
# validation and one checkpoint at the end, the log every 10 iterations.
_base_ = 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py'
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

data_root = 'data/fashion_mnist/'
num_classes = 10
size = 56
train_images = 2560
batch_size = 64
max_epochs = 5
warmup_epochs = max_epochs * 20 / 300
base_lr = 1e-3

model = dict(
    backbone=dict(
        img_size=size,
        drop_path_rate=0.0,
        stage_cfgs=[dict(), dict(), dict(window_size=4),
                    dict(window_size=2)]),
    head=dict(num_classes=num_classes))
mean, std = [72.94] * 3, [90.02] * 3
data_preprocessor = dict(num_classes=num_classes, mean=mean, std=std)

to_three_channels = [
    dict(type='NumpyToPIL'),
    dict(type='torchvision/Grayscale', num_output_channels=3),
    dict(type='PILToNumpy'),
]
train_pipeline = to_three_channels + [
    dict(type='RandomResizedCrop', scale=size, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=0, interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=mean,
         fill_std=std),
    dict(type='PackInputs'),
]
test_pipeline = to_three_channels + [
    dict(type='ResizeEdge', scale=size, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='FashionMNIST',
        data_root=data_root,
        split='train',
        download=False,
        indices=train_images,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='FashionMNIST',
        data_root=data_root,
        split='test',
        test_mode=True,
        download=False,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=base_lr * batch_size / 1024))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# the lr above is for this batch: --auto-scale-lr scales it from here
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
randomness = dict(seed=0)
