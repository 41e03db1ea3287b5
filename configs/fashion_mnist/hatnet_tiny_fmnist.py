# HAT-Net-Tiny on Fashion-MNIST: the paper's Table 2 in miniature, on real
# photographs of clothes, with the hatnet_*_in1k recipe, from random weights,
# no stochastic depth. The images, input, augmentations, test transform,
# epochs, batch and seed are those of _base_/fashion_mnist_56px.py, shared
# with the peers (resnet18_fmnist.py, pvtv2_b0_fmnist.py, swin_t_fmnist.py).
# Four models in about 15 minutes on a 2-core CPU:
#   python tools/analysis/train_peers.py configs/fashion_mnist/*.py --seeds 0
#
# What differs from the ImageNet recipe (configs/hatnet_small_in1k.py: DeiT's,
# through PVT's code) besides the data, and why:
# * at 56 px HAT-Net's stride-8 map (7x7) is one G1=7 grid; G1/G2 are the
#   ImageNet values;
# * the schedule's shape at `max_epochs` epochs: the warm-up is 5/300 of it,
#   then cosine to 1e-5, both per iteration (per epoch, 5 epochs would be a
#   staircase); lr 1e-3 x 64 / 1024 (the recipe's linear rule).
_base_ = ['../hatnet_tiny_in1k.py', './_base_/fashion_mnist_56px.py']

max_epochs = _base_.max_epochs
warmup_epochs = max_epochs * 5 / 300
base_lr = 1e-3

model = dict(
    backbone=dict(drop_path_rate=0.0),
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
