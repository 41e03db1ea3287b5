# ResNet-18 on Fashion-MNIST with its own recipe, mmpretrain's
# resnet/resnet18_8xb32_in1k.py (SGD with momentum, x0.1 steps,
# RandomResizedCrop and flip only, cross-entropy without label smoothing or
# Mixup/CutMix), beside HAT-Net-Tiny's hatnet_tiny_fmnist.py: the images,
# input, test transform, epochs, batch and seed of
# _base_/fashion_mnist_56px.py. From random weights (the recipe has no
# stochastic depth).
#
# What differs from the recipe besides: the schedule's shape at `max_epochs`
# epochs: x0.1 at 30, 60 and 90% of it rounded to whole epochs (the recipe:
# epochs 30, 60, 90 of 100; at 5 epochs: 2, 3, 4); lr 0.1 x 64 / 256 (its
# linear rule).
_base_ = [
    'mmpretrain::resnet/resnet18_8xb32_in1k.py',
    './_base_/fashion_mnist_56px.py'
]
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

max_epochs = _base_.max_epochs
base_lr = 0.1

model = dict(head=dict(num_classes=_base_.num_classes))
data_preprocessor = _base_.fmnist_preprocessor
train_pipeline = _base_.to_three_channels + [
    dict(type='RandomResizedCrop', scale=_base_.size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = _base_.fmnist_test_pipeline
train_dataloader = dict(
    _base_.fmnist_train_dataloader,
    dataset=dict(_base_.fmnist_train_dataloader.dataset,
                 pipeline=train_pipeline))
val_dataloader = _base_.fmnist_val_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.fmnist_evaluator
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=base_lr * _base_.batch_size / 256))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, gamma=0.1,
         milestones=[round(max_epochs * f) for f in (0.3, 0.6, 0.9)])
]
train_cfg = _base_.fmnist_train_cfg
default_hooks = _base_.fmnist_hooks
auto_scale_lr = _base_.fmnist_auto_scale_lr
randomness = _base_.fmnist_randomness
