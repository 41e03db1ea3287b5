# The crown detector of retinanet_hatnet_tiny_crowns.py with mmdet's Swin-T
# (27.5M parameters, patch 4, window 7) in place of HAT-Net-Tiny, from the
# same start (random weights, no stochastic depth).
_base_ = './retinanet_hatnet_tiny_crowns.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        drop_path_rate=0.0,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        convert_weights=False,
        init_cfg=None),
    neck=dict(in_channels=[96, 192, 384, 768]))
