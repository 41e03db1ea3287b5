# The data, input and budget that the four Fashion-MNIST classifiers beside
# this folder share (hatnet_tiny_fmnist.py, resnet18_fmnist.py,
# pvtv2_b0_fmnist.py, swin_t_fmnist.py), kept here once. Real photographs of
# clothes (Zalando; 10 classes, 28x28 greyscale), written by
#   python tools/dataset_converters/real_data.py fashion-mnist \
#       data/fashion_mnist
# train: the first 2,560 of the 60,000 training images (242-278 of each
# class); val: all 10,000 test images (1,000 of each). 5 epochs at batch 64:
# 200 iterations, sized so that the four models train in about 15 minutes on
# a 2-core CPU (0.5-2 s per iteration) and validate in about 3.
#
# Each config lists this file after its recipe in `_base_` and takes what it
# needs by name (`train_dataloader = _base_.fmnist_train_dataloader`, ...):
# mmengine refuses a key that two bases both set, so nothing here has the name
# of a config key (model, train_dataloader, default_hooks, ...).
#
# The rules, and why (not measured one by one):
# * input 56x56: each 28x28 image upsampled 2x (an integer factor), 224 / 4,
#   so every model sees the ImageNet input at a quarter of its side;
# * three channels: the greyscale image repeated (torchvision's Grayscale
#   with three output channels, through mmpretrain's torchvision wrapper,
#   before any other transform), so RandAugment's colour operations work on
#   it as on a photograph;
# * normalisation by Fashion-MNIST's own mean and std (72.94, 90.02 on every
#   channel, the 60,000 training images) instead of ImageNet's;
# * DeiT's augmentations (those of HAT-Net's, PVTv2's and Swin's recipes)
#   with RandAugment padding rotated/sheared/translated images with black,
#   the clothes' background, not ImageNet's mean colour, and RandomErasing
#   filling with noise of Fashion-MNIST's mean and std;
# * test: the whole image resized to 56, no centre crop (256/224): the item
#   fills its frame, a centre crop would cut off sleeves and hems;
# * the data loaded in the training process (num_workers=0): on 2 cores a
#   loader process takes a core from the model's two threads;
# * validation and one checkpoint at the end; the log every 10 iterations
#   (tools/analysis/train_peers.py reads its times); seed 0.
data_root = 'data/fashion_mnist/'
num_classes = 10
size = 56
train_images = 2560
batch_size = 64
max_epochs = 5
mean, std = [72.94] * 3, [90.02] * 3

to_three_channels = [
    dict(type='NumpyToPIL'),
    dict(type='torchvision/Grayscale', num_output_channels=3),
    dict(type='PILToNumpy'),
]
deit_train_pipeline = to_three_channels + [
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

fmnist_test_pipeline = to_three_channels + [
    dict(type='ResizeEdge', scale=size, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='PackInputs'),
]

fmnist_preprocessor = dict(num_classes=num_classes, mean=mean, std=std)
fmnist_loader = dict(
    batch_size=batch_size, num_workers=0, persistent_workers=False)
fmnist_train_dataloader = dict(
    fmnist_loader,
    dataset=dict(
        _delete_=True,
        type='FashionMNIST',
        data_root=data_root,
        split='train',
        download=False,
        indices=train_images,
        pipeline=deit_train_pipeline))
fmnist_val_dataloader = dict(
    fmnist_loader,
    dataset=dict(
        _delete_=True,
        type='FashionMNIST',
        data_root=data_root,
        split='test',
        test_mode=True,
        download=False,
        pipeline=fmnist_test_pipeline))
fmnist_evaluator = dict(topk=(1, ))
fmnist_train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
fmnist_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# the configs' lr is for this batch: --auto-scale-lr scales it from here
fmnist_auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
fmnist_randomness = dict(seed=0)
