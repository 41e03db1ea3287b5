# RetinaNet with HAT-Net-Small, 1x schedule on COCO (the paper's Table 4, which
# follows PVT's recipe): FPN on the three stages of strides 8, 16 and 32
# (start_level=1; in_channels lists all four widths) plus two extra convs on
# the input (P6, P7), AdamW lr 1e-4 / wd 1e-4, 12 epochs with the
# lr x0.1 after epochs 8 and 11 and a linear warm-up, 1333x800 keep-ratio
# resize, flip 0.5, dense-task G1/G2.
#
# Batch: 8 GPUs x 2 images = 16. For another total batch B, scale the lr by
# B / 16, or pass --auto-scale-lr (auto_scale_lr.base_batch_size = 16).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)

# the released ImageNet-1k weights, loaded and converted on the fly
pretrained = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Small.pth'  # noqa: E501

model = dict(
    backbone=dict(
        _delete_=True,
        type='HATNet',
        arch='small',
        g1=(8, 8, 8),  # G1: local grid size per H-MHSA stage
        g2=(16, 8, 4),  # G2: pooling ratio of the global keys/values
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        in_channels=[64, 128, 320, 512],
        start_level=1,
        add_extra_convs='on_input',
        num_outs=5))

# mmhatnet's opt-ins (see docs/user_guides/own_config.md): the constructor
# lets the libraries' own `tools/train.py --amp` train on a CPU too, and the
# checkpoint hook writes checkpoints that a kill cannot leave half-written
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='MixedPrecisionOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
# inherited: 12 epochs, LinearLR warm-up (500 iters) + MultiStepLR [8, 11],
# 2 images per GPU, auto_scale_lr.base_batch_size=16
