# HAT-Net-Small on ImageNet-1k (the paper's Table 2) with the DeiT recipe the
# paper follows (through PVT's code):
#   train: RandomResizedCrop 224 (bicubic), flip 0.5, RandAugment
#     (rand-m9-mstd0.5-inc1), RandomErasing 0.25, Mixup 0.8 / CutMix 1.0
#     (one of the two per batch), label smoothing 0.1;
#   AdamW lr 1e-3 at total batch 1024 (DeiT's 5e-4 x 1024 / 512), weight decay
#     0.05 (none on norms and biases), 5 linear warm-up epochs, cosine decay to
#     1e-5, 300 epochs, no gradient clipping;
#   stochastic depth: the paper does not state it; ours grows with depth,
#     0.1 (Tiny, Small), 0.2 (Medium), 0.3 (Large);
#   test: resize the short side to 256 (bicubic), centre crop 224, top-1/5.
# Not taken from DeiT: repeated augmentation and EMA (PVT does not use them
# either; mmpretrain's RepeatAugSampler and EMAHook can switch them on).
# G1/G2 are the paper's ImageNet values.
#
# Batch: 8 GPUs x 128 images = 1024. For another total batch B, scale the lr
# by B / 1024, or pass --auto-scale-lr (auto_scale_lr.base_batch_size=1024).
#
# The head is a LinearClsHead on globally pooled last-stage features: exactly
# the released classifier, so a released checkpoint evaluates as downloaded:
#   python tools/test.py configs/hatnet_small_in1k.py HAT-Net_Small.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

warmup_epochs = 5
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HATNet',
        arch='small',
        g1=(8, 7, 7),  # G1: local grid size per H-MHSA stage
        g2=(8, 4, 2),  # G2: pooling ratio of the global keys/values
        out_indices=(3, ),
        drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

# mmhatnet's opt-ins (see docs/user_guides/own_config.md): the constructor
# lets mmpretrain's own `tools/train.py --amp` train on a CPU too, and the
# checkpoint hook writes checkpoints that a kill cannot leave half-written
optim_wrapper = dict(
    constructor='MixedPrecisionOptimWrapperConstructor',
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0))
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs)
]
# inherited: 300 epochs, validation every epoch,
# auto_scale_lr.base_batch_size=1024
