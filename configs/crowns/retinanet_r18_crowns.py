# The crown detector of retinanet_hatnet_tiny_crowns.py with mmdet's
# ResNet-18 (11.2M parameters) in place of HAT-Net-Tiny, from the same start
# (random weights). From scratch the stem is not frozen and BatchNorm learns
# its statistics (COCO's frozen_stages=1 / norm_eval=True keep the ImageNet
# ones, which there are none of here).
_base_ = './retinanet_hatnet_tiny_crowns.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]))
