# Swin-T on Fashion-MNIST with its own recipe, mmpretrain's
# swin_transformer/swin-tiny_16xb64_in1k.py (AdamW, 20 warm-up epochs of 300,
# cosine, gradient clipping at 5, DeiT's augmentations, Mixup/CutMix, label
# smoothing), beside HAT-Net-Tiny's hatnet_tiny_fmnist.py: the images, input,
# augmentations, test transform, epochs, batch and seed of
# _base_/fashion_mnist_56px.py. From random weights (the recipe's truncated
# normal init) without stochastic depth (the recipe's is 0.2).
#
# What differs from the recipe besides: img_size 56, and windows of 7, 7, 4
# and 2 on the 14, 7, 4 and 2 token maps of the stages: the original Swin
# shrinks a window to a map smaller than it (and does not shift it), which
# mmpretrain leaves to the config (it refuses such a map unless padded); the
# schedule's shape at `max_epochs` epochs: warm-up 20/300 of it, then cosine
# to 1e-5, both per iteration; lr 1e-3 x 64 / 1024 (its linear rule).
_base_ = [
    'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py',
    './_base_/fashion_mnist_56px.py'
]
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

max_epochs = _base_.max_epochs
warmup_epochs = max_epochs * 20 / 300
base_lr = 1e-3

model = dict(
    backbone=dict(
        img_size=_base_.size,
        drop_path_rate=0.0,
        stage_cfgs=[dict(), dict(), dict(window_size=4),
                    dict(window_size=2)]),
    head=dict(num_classes=_base_.num_classes))
data_preprocessor = _base_.fmnist_preprocessor
train_pipeline = _base_.deit_train_pipeline
test_pipeline = _base_.fmnist_test_pipeline
train_dataloader = _base_.fmnist_train_dataloader
val_dataloader = _base_.fmnist_val_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.fmnist_evaluator
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=base_lr * _base_.batch_size / 1024))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = _base_.fmnist_train_cfg
default_hooks = _base_.fmnist_hooks
auto_scale_lr = _base_.fmnist_auto_scale_lr
randomness = _base_.fmnist_randomness
