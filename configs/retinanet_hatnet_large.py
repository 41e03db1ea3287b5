# RetinaNet with HAT-Net-Large, 1x on COCO: as retinanet_hatnet_small.py.
_base_ = './retinanet_hatnet_small.py'

pretrained = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Large.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='large', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 320, 640]))
