# The crown detector of retinanet_hatnet_tiny_crowns.py with mmdet's PVTv2-B0
# (3.4M parameters) in place of HAT-Net-Tiny, from the same start (random
# weights, no stochastic depth).
_base_ = './retinanet_hatnet_tiny_crowns.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='PyramidVisionTransformerV2',
        embed_dims=32,
        num_layers=[2, 2, 2, 2],
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 160, 256]))
