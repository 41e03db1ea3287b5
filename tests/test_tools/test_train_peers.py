"""tools/analysis/train_peers.py without training: what each run is given
(its epochs, its schedule) and the table it writes. The tool trains end to
end in test_fmnist_train.py."""
import json
import os.path as osp

import pytest
from common import ROOT, load_tool

tool = load_tool('analysis/train_peers.py')
CROWNS = osp.join(ROOT, 'configs', 'crowns')
HATNET = osp.join(CROWNS, 'retinanet_hatnet_tiny_crowns.py')
R18 = osp.join(CROWNS, 'retinanet_r18_crowns.py')


def test_a_step_schedule_moves_with_the_epochs():
    options = tool.schedule_options(HATNET, 17)
    assert 'train_cfg.max_epochs=17' in options
    assert 'default_hooks.checkpoint.interval=17' in options
    # the steps at 16 and 22 of 24 epochs move to the same fractions of 17;
    # the warm-up (by iteration) stays
    assert 'param_scheduler.1.milestones=[11,16]' in options
    assert not any(o.startswith('param_scheduler.0.') for o in options)


def test_every_step_of_a_step_schedule_keeps_its_place():
    # mmpretrain's ResNet recipe, squeezed to steps at 2, 3 and 4 of 5
    # epochs: all three steps move, none is dropped
    options = tool.schedule_options(
        osp.join(ROOT, 'configs', 'fashion_mnist', 'resnet18_fmnist.py'), 11)
    assert 'param_scheduler.0.milestones=[4,7,9]' in options


@pytest.mark.parametrize('epochs, problem', [
    (['12', '17', '19'], '3 numbers for 2 configs; give one for all or one '
     'per config'),
    (['0'], '--epochs 0: give at least 1')])
def test_wrong_epochs_are_refused_before_any_training(epochs, problem,
                                                      tmp_path):
    # (the command line shows a ToolError as one line and exit status 2)
    with pytest.raises(tool.ToolError) as error:
        tool.main([HATNET, R18, '--epochs', *epochs, '--work-dir',
                   str(tmp_path)])
    assert problem in str(error.value)
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_the_table_gives_each_config_its_epochs_and_training_time():
    runs = [dict(config='hatnet', seed=s, epochs=12, AP50=ap, s_per_iter=t,
                 train_s=round(t * 276))
            for s, ap, t in ((0, 0.1, 3.0), (1, 0.2, 3.2))]
    runs.append(dict(config='r18', seed=0, epochs=17, AP50=0.05,
                     s_per_iter=2.0, train_s=782))
    lines = tool.table(runs).splitlines()
    assert lines[2] == ('| config | seeds | epochs | AP50 | s / iter '
                        '| training (s) |')
    assert lines[4] == '| hatnet | 0,1 | 12 | 0.150 ± 0.071 | 3.10 | 856 |'
    assert lines[5] == '| r18 | 0 | 17 | 0.050 | 2.00 | 782 |'


def test_a_run_of_other_epochs_is_not_taken_for_the_one_asked(tmp_path):
    # a finished 12-epoch run of seed 0, as mmengine logs it
    log = tmp_path / 'retinanet_hatnet_tiny_crowns' / 'seed0' / '20261207' / \
        'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({'coco/bbox_mAP': 0.03, 'coco/bbox_mAP_50': 0.12,
                               'coco/bbox_mAP_s': 0.01, 'step': 12}) + '\n')
    assert tool.read_run(str(log.parents[2]))['epochs'] == 12
    with pytest.raises(tool.ToolError) as error:
        tool.main([HATNET, '--epochs', '24', '--seeds', '0', '--work-dir',
                   str(tmp_path)])
    assert 'holds a run of 12 epochs, not 24' in str(error.value)
    # asked as it was run, it is read, not trained again
    tool.main([HATNET, '--epochs', '12', '--seeds', '0', '--work-dir',
               str(tmp_path)])
    runs = json.loads((tmp_path / 'peers.json').read_text())['runs']
    assert runs == [dict(config='retinanet_hatnet_tiny_crowns', seed=0,
                         AP=0.03, AP50=0.12, AP_small=0.01, epochs=12,
                         s_per_iter=None, train_s=None)]


def test_a_run_of_other_options_is_not_taken_for_the_one_asked(tmp_path):
    # a finished run of seed 0, the config's 24 epochs, and the config
    # mmengine saved beside it: a head without a norm (mmdet's default)
    run = tmp_path / 'retinanet_hatnet_tiny_crowns' / 'seed0'
    (run / '20261207' / 'vis_data').mkdir(parents=True)
    (run / '20261207' / 'vis_data' / 'scalars.json').write_text(json.dumps(
        {'coco/bbox_mAP': 0.03, 'coco/bbox_mAP_50': 0.12,
         'coco/bbox_mAP_s': 0.01, 'step': 24}) + '\n')
    (run / 'retinanet_hatnet_tiny_crowns.py').write_text(
        "model = dict(bbox_head=dict(num_classes=1))\n")
    gn = 'model.bbox_head.norm_cfg.type=GN'
    with pytest.raises(tool.ToolError) as error:
        tool.main([HATNET, '--seeds', '0', '--work-dir',
                   str(tmp_path), '--cfg-options', gn])
    assert f'holds a run trained without {gn}:' in str(error.value)
    # an option it was trained with is no reason to train again
    tool.main([HATNET, '--seeds', '0', '--work-dir',
               str(tmp_path), '--cfg-options',
               'model.bbox_head.num_classes=1'])
    runs = json.loads((tmp_path / 'peers.json').read_text())['runs']
    assert [r['AP50'] for r in runs] == [0.12]
    # one that cannot apply to it is missing too
    assert tool.options_missing(HATNET, str(run), [
        'model.bbox_head.num_classes.type=GN']) == [
        'model.bbox_head.num_classes.type=GN']


def test_a_run_moved_to_another_folder_still_has_its_training_time(tmp_path):
    # mmengine's last_checkpoint holds the path the run had when it trained
    run = tmp_path / 'now' / 'seed0'
    run.mkdir(parents=True)
    import torch
    torch.save({'meta': {'iter': 240}}, run / 'epoch_6.pth')
    (run / 'last_checkpoint').write_text(
        str(tmp_path / 'then' / 'seed0' / 'epoch_6.pth'))
    assert tool.trained_iterations(str(run)) == 240
    # without the checkpoint there is no training time, and no traceback
    (run / 'epoch_6.pth').unlink()
    assert tool.trained_iterations(str(run)) is None
