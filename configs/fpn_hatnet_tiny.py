# Semantic FPN with HAT-Net-Tiny on ADE20K: as fpn_hatnet_small.py.
_base_ = './fpn_hatnet_small.py'

pretrained = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Tiny.pth'  # noqa: E501
model = dict(
    backbone=dict(
        arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[48, 96, 240, 384]))
