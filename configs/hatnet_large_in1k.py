# HAT-Net-Large on ImageNet-1k: as hatnet_small_in1k.py.
_base_ = './hatnet_small_in1k.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),
    head=dict(in_channels=640))
