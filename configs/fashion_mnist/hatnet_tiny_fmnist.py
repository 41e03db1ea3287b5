# HAT-Net-Tiny on Fashion-MNIST: the paper's Table 2 in miniature, on real
# photographs of clothes (Zalando; 10 classes, 28x28 greyscale), written by
#   python tools/dataset_converters/real_data.py fashion-mnist \
#       data/fashion_mnist
# train: the first 2,560 of the 60,000 training images (242-278 of each
# class); val: all 10,000 test images (1,000 of each). 5 epochs at batch 64:
# 200 iterations, sized so that the four models of
#   python tools/analysis/train_peers.py configs/fashion_mnist/*.py --seeds 0
# train in about 15 minutes on a 2-core CPU (estimated from a few iterations
# of each: 0.5-2 s per iteration), and validate in about 3. From random
# weights, no stochastic depth.
#
# The peers (resnet18_fmnist.py, pvtv2_b0_fmnist.py, swin_t_fmnist.py) each
# keep their own recipe and share with this one the images, the input (56 px,
# three channels, Fashion-MNIST's normalisation), the test transform, the
# epochs, the batch and the seed; the rules below about the data are theirs
# too.
#
# What differs from the ImageNet recipe (configs/hatnet_small_in1k.py: DeiT's,
# through PVT's code), and why (not measured one by one):
# * input 56x56: each 28x28 image upsampled 2x (an integer factor), 224 / 4,
#   so every model sees the ImageNet input at a quarter of its side; HAT-Net's
#   stride-8 map (7x7) is one G1=7 grid and Swin's stride-4 and stride-8 maps
#   (14, 7) are whole 7x7 windows. G1/G2 are the ImageNet values;
# * three channels: the greyscale image repeated (torchvision's Grayscale
#   with three output channels, through mmpretrain's torchvision wrapper,
#   before any other transform), so RandAugment's colour operations work on
#   it as on a photograph;
# * normalisation by Fashion-MNIST's own mean and std (72.94, 90.02 on every
#   channel, the 60,000 training images) instead of ImageNet's;
# * RandAugment pads rotated/sheared/translated images with black, the
#   clothes' background, not ImageNet's mean colour; RandomErasing fills with
#   noise of Fashion-MNIST's mean and std;
# * test: the whole image resized to 56, no centre crop (256/224): the item
#   fills its frame, a centre crop would cut off sleeves and hems;
# * the schedule's shape at `max_epochs` epochs: the warm-up is 5/300 of it,
#   then cosine to 1e-5, both per iteration (per epoch, 5 epochs would be a
#   staircase); lr 1e-3 x 64 / 1024 (the recipe's linear rule);
# * the data loaded in the training process (num_workers=0): on 2 cores a
#   loader process takes a core from the model's two threads;
# * validation and one checkpoint at the end; the log every 10 iterations
#   (tools/analysis/train_peers.py reads its times).
_base_ = '../hatnet_tiny_in1k.py'

data_root = 'data/fashion_mnist/'
num_classes = 10
size = 56
train_images = 2560
batch_size = 64
max_epochs = 5
warmup_epochs = max_epochs * 5 / 300
base_lr = 1e-3

model = dict(
    backbone=dict(drop_path_rate=0.0),
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
