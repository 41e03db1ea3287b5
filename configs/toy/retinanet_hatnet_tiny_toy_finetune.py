# The main job's detector: HAT-Net-Tiny RetinaNet on the toy COCO set,
# fine-tuned from a HAT-Net-Tiny classifier pretrained on the toy ImageNet set
# (configs/toy/hatnet_tiny_in1k_toy.py), the way a COCO run starts from the
# released ImageNet weights:
#   python tools/train.py configs/toy/hatnet_tiny_in1k_toy.py \
#       --work-dir work_dirs/main_job/pretrain
#   python tools/train.py configs/toy/retinanet_hatnet_tiny_toy_finetune.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/main_job/pretrain/epoch_N.pth
# (tools/run_main_job.sh does both). The classifier checkpoint holds the whole
# ImageClassifier; the backbone takes its `backbone.` weights and leaves the
# head. G1/G2 change from the ImageNet values the classifier was trained with
# to the dense-task ones (they hold no parameters, as in the paper).
_base_ = './retinanet_hatnet_tiny_toy.py'

pretrained = 'work_dirs/main_job/pretrain/epoch_8.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        _delete_=True, type='Pretrained', checkpoint=pretrained)),
    # the real head is 256 wide; at 128 it costs a quarter, so the CPU spends
    # its time on the backbone and the toy run affords 1.5x the iterations
    bbox_head=dict(feat_channels=128))

# schedule: 128 toy images (as run_main_job.sh writes them), 15 epochs of 32
# iterations, lr x0.1 after epochs 11 and 14
max_epochs = 15
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[11, 14], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# per-class AP in the metrics (coco/<class>_precision)
val_evaluator = dict(classwise=True)
test_evaluator = val_evaluator
