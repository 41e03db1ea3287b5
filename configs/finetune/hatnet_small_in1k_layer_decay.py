# Fine-tuning HAT-Net-Small from the released ImageNet-1k weights with
# layer-wise lr decay, the way transformer backbones are fine-tuned (BEiT,
# mmpretrain's ViT/ConvNeXt fine-tuning configs). An example of the
# mechanism, not a recipe of the paper (which trains from scratch without
# it; no paper config switches it on).
#
# The head gets lr 5e-4, the last of the 16 blocks 5e-4 x 0.75, each block
# below 0.75 times the one above (a downsampling layer goes with the block
# after it), the stem 5e-4 x 0.75^17. Change the data, the head's
# num_classes and the schedule for your task. `flat_decay_mult=0.0` keeps
# norms and biases without weight decay, as the ImageNet config does.
# The constructor is mmpretrain's; it asks the model for each parameter's
# depth, which HATNet.get_layer_depth gives.
_base_ = '../hatnet_small_in1k.py'

pretrained = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Small.pth'  # noqa: E501
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True, layer_decay_rate=0.75, flat_decay_mult=0.0))

max_epochs = 30
warmup_epochs = 2
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs)
]
