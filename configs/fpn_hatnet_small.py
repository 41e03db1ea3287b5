# Semantic FPN with HAT-Net-Small on ADE20K, 150 classes (the paper's Table 3,
# which follows PVT's recipe): 512x512 crops from images resized at a random
# ratio 0.5-2.0 of 2048x512 (cat_max_ratio 0.75), flip, photometric
# distortion; AdamW lr 1e-4 / wd 1e-4 with poly decay (power 0.9) over 80k
# iterations; single-scale test at shorter side 512 without flip; mIoU.
# Inherited from mmseg's ADE20K base: the pipelines, the FPN neck with four
# outputs and the FPNHead, the IoU metric.
#
# Batch: 4 GPUs x 4 images = 16. For another total batch B, scale the lr by
# B / 16, or pass --auto-scale-lr (auto_scale_lr.base_batch_size = 16).
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

# the released ImageNet-1k weights, loaded and converted on the fly
pretrained = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Small.pth'  # noqa: E501
max_iters = 80000

model = dict(
    pretrained=None,  # the base's ResNet weights; HAT-Net has its init_cfg
    backbone=dict(
        _delete_=True,
        type='HATNet',
        arch='small',
        g1=(8, 8, 8),  # G1: local grid size per H-MHSA stage
        g2=(16, 8, 4),  # G2: pooling ratio of the global keys/values
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 512]))

# mmhatnet's opt-ins (see docs/user_guides/own_config.md): the constructor
# lets the libraries' own `tools/train.py --amp` train on a CPU too, and the
# checkpoint hook writes checkpoints that a kill cannot leave half-written
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='MixedPrecisionOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=8000))
# inherited: 4 images per GPU
auto_scale_lr = dict(enable=False, base_batch_size=16)
