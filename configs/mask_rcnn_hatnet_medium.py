# Mask R-CNN with HAT-Net-Medium, 1x on COCO: as mask_rcnn_hatnet_small.py.
_base_ = './mask_rcnn_hatnet_small.py'

pretrained = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Medium.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='medium', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 512]))
