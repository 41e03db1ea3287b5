# HAT-Net-Tiny on ImageNet-1k: as hatnet_small_in1k.py.
_base_ = './hatnet_small_in1k.py'

model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.1),
    head=dict(in_channels=384))
