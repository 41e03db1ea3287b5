# PVTv2-B0 (3.4M parameters, mmdet's backbone: no mmpretrain config has
# PVTv2) on Fashion-MNIST: the classifier of hatnet_tiny_fmnist.py with
# PVTv2-B0 in place of HAT-Net-Tiny, under mmpretrain's GlobalAveragePooling
# neck and LinearClsHead. Its recipe is the same: PVTv2 trains on ImageNet
# with DeiT's recipe through PVT's code, which is where HAT-Net's comes from
# (AdamW 1e-3 at batch 1024, weight decay 0.05 but not on norms and biases,
# 5 warm-up epochs of 300, cosine, no gradient clipping, DeiT's
# augmentations, Mixup/CutMix, label smoothing 0.1). From random weights
# (mmdet's init) without stochastic depth (PVTv2-B0's is 0.1).
#
# TuplePVTv2 (tools/mmhatnet_tools/peer_models.py) is mmdet's
# PyramidVisionTransformerV2 returning a tuple, which mmpretrain's neck
# wants, instead of a list; tools/train.py puts tools/ on sys.path.
_base_ = './hatnet_tiny_fmnist.py'
custom_imports = dict(
    imports=['mmhatnet', 'mmhatnet_tools.peer_models'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='TuplePVTv2',
        embed_dims=32,
        num_layers=[2, 2, 2, 2],
        out_indices=(3, ),
        drop_path_rate=0.0,
        init_cfg=None),
    head=dict(in_channels=256))
