# ResNet-18 on Fashion-MNIST with its own recipe, mmpretrain's
# resnet/resnet18_8xb32_in1k.py (SGD with momentum, x0.1 steps,
# RandomResizedCrop and flip only, cross-entropy without label smoothing or
# Mixup/CutMix), beside HAT-Net-Tiny's hatnet_tiny_fmnist.py: the same
# images, input (56 px, three channels, Fashion-MNIST's normalisation), test
# transform, epochs, batch, data loading and seed, for the reasons given
# there. From random weights (the recipe has no stochastic depth).
#
# What differs from the recipe besides: the schedule's shape at `max_epochs`
# epochs: x0.1 at 30, 60 and 90% of it rounded to whole epochs (the recipe:
# epochs 30, 60, 90 of 100; at 5 epochs: 2, 3, 4); lr 0.1 x 64 / 256 (its
# linear rule); validation and one checkpoint at the end, the log every 10
# iterations.
_base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

data_root = 'data/fashion_mnist/'
num_classes = 10
size = 56
train_images = 2560
batch_size = 64
max_epochs = 5
base_lr = 0.1

model = dict(head=dict(num_classes=num_classes))
mean, std = [72.94] * 3, [90.02] * 3
data_preprocessor = dict(num_classes=num_classes, mean=mean, std=std)

to_three_channels = [
    dict(type='NumpyToPIL'),
    dict(type='torchvision/Grayscale', num_output_channels=3),
    dict(type='PILToNumpy'),
]
train_pipeline = to_three_channels + [
    dict(type='RandomResizedCrop', scale=size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
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

optim_wrapper = dict(optimizer=dict(lr=base_lr * batch_size / 256))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, gamma=0.1,
         milestones=[round(max_epochs * f) for f in (0.3, 0.6, 0.9)])
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# the lr above is for this batch: --auto-scale-lr scales it from here
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
randomness = dict(seed=0)
