"""--cfg-options that point a toy config at a test's own toy data copy
(every dataloader and evaluator, so nothing reads the repo's data/)."""

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
