"""--cfg-options that point a toy config at a test's own toy data copy
(every dataloader and evaluator, so nothing reads the repo's data/), and the
shallow HAT-Net that keeps end-to-end runs cheap."""

# HAT-Net-Tiny's widths (so necks and heads of the Tiny configs fit) with one
# block per stage: every module of the backbone, a fraction of its cost
SHALLOW_ARCH = dict(embed_dims=[48, 96, 240, 384], head_dim=48,
                    mlp_ratios=[8, 8, 4, 4], depths=[1, 1, 1, 1],
                    kernel_sizes=[3, 3, 3, 3])


def shallow_config(base: str) -> str:
    """The text of a config that is ``base`` (an absolute path) with the
    shallow backbone."""
    return (f'_base_ = [{base!r}]\n'
            f'model = dict(backbone=dict(arch=dict(_delete_=True, '
            f'**{SHALLOW_ARCH!r})))\n')


LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def data_options(root, *, coco=False):
    """Options for any toy config: every dataloader reads ``root`` in the
    main process; with ``coco=True`` the COCO evaluators read its val json."""
    data = f'{str(root).rstrip("/")}/'
    options = []
    if coco:
        ann = f'{data}annotations/instances_val2017.json'
        options += [f'val_evaluator.ann_file={ann}',
                    f'test_evaluator.ann_file={ann}']
    for loader in LOADERS:
        options += [f'{loader}.dataset.data_root={data}',
                    f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options


def coco_data_options(root):
    return data_options(root, coco=True)
