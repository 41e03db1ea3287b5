# HAT-Net-Medium on ImageNet-1k: as hatnet_small_in1k.py.
_base_ = './hatnet_small_in1k.py'

model = dict(
    backbone=dict(arch='medium', drop_path_rate=0.2),
    head=dict(in_channels=512))
