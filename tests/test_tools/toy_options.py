"""--cfg-options that point a toy config at a test's own toy COCO copy
(every dataloader and evaluator, so nothing reads the repo's data/)."""


def coco_data_options(data):
    data = f'{str(data).rstrip("/")}/'
    ann = f'{data}annotations/instances_val2017.json'
    options = [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={data}',
                    f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options
