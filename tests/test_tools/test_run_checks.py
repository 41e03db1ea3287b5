"""What tools/train.py refuses before the work dir exists, with one
``error:`` line and exit status 2: command-line mistakes, images that do not
load, annotations mmdet would drop in bulk, a backbone that does not fit its
neck (mmhatnet_tools.cli, .data_scan, mmhatnet.apis.fit_check);
and the same neck check on a model built by any tool."""
import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from common import ROOT, load_tool
from mmengine.config import Config, DictAction
from toy_options import coco_data_options

from mmhatnet_tools.data_scan import (count_coco_annotations, load_dataset,
                                      scan_datasets)

TOY = os.path.join(ROOT, 'configs', 'toy')
RETINANET = os.path.join(TOY, 'retinanet_hatnet_tiny_toy.py')
MAKE_TOY = os.path.join(ROOT, 'tools', 'dataset_converters',
                        'make_toy_data.py')
LOADERS = ['train_dataloader', 'val_dataloader']


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('good') / 'toy_coco'
    subprocess.run([sys.executable, MAKE_TOY, 'coco', str(root), '--train',
                    '6', '--val', '2', '--size', '40'], check=True,
                   capture_output=True)
    return root


@pytest.fixture
def coco(toy, tmp_path):
    """A copy of the toy COCO set to spoil, and its train json."""
    root = tmp_path / 'toy_coco'
    shutil.copytree(toy, root)
    return root, root / 'annotations' / 'instances_train2017.json'


def _train(args, monkeypatch, tmp_path):
    """tools/train.py's main() in this process; returns its one stderr line
    (it must stop with status 2, before building the runner)."""
    tool = load_tool('train.py')
    monkeypatch.setattr(sys, 'argv', ['train.py', *map(str, args)])
    monkeypatch.setattr(tool, 'build_runner', pytest.fail)
    monkeypatch.chdir(tmp_path)
    stderr, stdout = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exc, \
            contextlib.redirect_stderr(stderr), \
            contextlib.redirect_stdout(stdout):
        tool.main()
    assert exc.value.code == 2
    lines = [line for line in stderr.getvalue().splitlines()
             if not line.startswith(('[', ' '))]  # the progress bar
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    assert not (tmp_path / 'work_dirs').exists()
    return lines[0]


def _train_on(root, monkeypatch, tmp_path, *options):
    return _train([RETINANET, '--work-dir', tmp_path / 'work',
                   '--cfg-options', *coco_data_options(root), *options],
                  monkeypatch, tmp_path)


def _cfg(root, *options):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(RETINANET)
    cfg.merge_from_dict(parser.parse_args(
        ['--cfg-options', *coco_data_options(root), *options]).cfg_options)
    return cfg


# ------------------------------------------------------------ command line
def test_missing_config_as_a_user_runs_it(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'train.py'),
         'configs/nope.py'], cwd=tmp_path, capture_output=True, text=True,
        timeout=300)
    assert out.returncode == 2
    assert out.stderr == (
        "error: the config file 'configs/nope.py' does not exist; give the "
        "path of a config file, e.g. configs/toy/retinanet_hatnet_tiny_toy.py"
        " (the configs are under configs/)\n")
    assert os.listdir(tmp_path) == []


def test_config_with_a_syntax_error_names_its_file_and_line(tmp_path):
    """In the config itself or in a base it inherits: the file, the line and
    the code, no traceback (mmengine's own error names neither for a
    base)."""
    base = tmp_path / 'base.py'
    base.write_text(f"_base_ = '{RETINANET}'\nmodel = dict(\n"
                    f"    backbone=dict(arch='tiny'\n")
    child = tmp_path / 'child.py'
    child.write_text("_base_ = './base.py'\n")
    for config in (base, child):
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, 'tools', 'train.py'),
             str(config), '--work-dir', str(tmp_path / 'work')],
            cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 2, out.stderr[-2000:]
        assert out.stderr.strip().splitlines()[-1] == (
            f"error: {base}, line 3: '(' was never closed "
            f"(backbone=dict(arch='tiny'); the config is not valid Python, "
            f"fix it there")
        assert 'Traceback' not in out.stderr
        assert not (tmp_path / 'work').exists()


def test_resume_path_that_does_not_exist(monkeypatch, tmp_path):
    line = _train([RETINANET, '--resume', 'work/epoch_9.pth'], monkeypatch,
                  tmp_path)
    assert line == (
        "error: --resume 'work/epoch_9.pth': no such checkpoint file; give "
        "the path of one (e.g. WORK_DIR/epoch_3.pth), or pass --resume "
        "without a path to continue from the last checkpoint of the work dir")


@pytest.mark.parametrize('launcher, missing', [
    ('pytorch', 'RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT'),
    ('slurm', 'SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST')])
def test_launcher_without_its_environment(monkeypatch, tmp_path, launcher,
                                          missing):
    for var in missing.split(', '):
        monkeypatch.delenv(var, raising=False)
    line = _train([RETINANET, '--launcher', launcher], monkeypatch, tmp_path)
    assert line.startswith(
        f'error: --launcher {launcher} needs the environment variables its '
        f'launcher sets, and {missing} are not set; start it with `bash '
        f'tools/')
    assert line.endswith('or drop --launcher to train in one process')


# ---------------------------------------------------------------- the model
def test_backbone_size_that_does_not_fit_the_neck(toy, monkeypatch,
                                                  tmp_path):
    line = _train_on(toy, monkeypatch, tmp_path, 'model.backbone.arch=small')
    assert line == (
        "error: model.neck.in_channels=[48, 96, 240, 384] does not fit the "
        "backbone: HATNet(arch='small', out_indices=(0, 1, 2, 3)) gives the "
        "stage widths [64, 128, 320, 512], so its outputs have [64, 128, "
        "320, 512] channels; set model.neck.in_channels=[64, 128, 320, 512],"
        " or use the backbone size the neck was written for")


def test_out_indices_that_do_not_fit_the_neck(toy, monkeypatch, tmp_path):
    line = _train_on(toy, monkeypatch, tmp_path,
                     'model.backbone.out_indices=(1,2,3)')
    assert line.startswith(
        "error: model.neck.in_channels=[48, 96, 240, 384] takes 4 feature "
        "maps but HATNet(arch='tiny', out_indices=(1, 2, 3)) gives the stage "
        "widths [48, 96, 240, 384]: out_indices=(1, 2, 3) returns 3 ([96, "
        "240, 384]); give model.backbone.out_indices one stage per entry")


def test_a_model_built_from_a_config_checks_its_neck_first(toy):
    """The API that builds a config's model (the demo, the export, the FLOP
    counter) refuses a neck that does not fit before building anything;
    nothing is checked at the forward (no global hook)."""
    from mmhatnet.apis import build_config_model
    with pytest.raises(ValueError) as exc:
        build_config_model(_cfg(toy, 'model.backbone.arch=small'))
    assert str(exc.value).startswith(
        "model.neck.in_channels=[48, 96, 240, 384] does not fit the "
        "backbone: HATNet(arch='small', out_indices=(0, 1, 2, 3))")
    good = build_config_model(_cfg(toy))
    hooks = torch.nn.modules.module._global_forward_pre_hooks
    assert len(good.extract_feat(torch.rand(1, 3, 64, 64))) == 5
    assert len(hooks) == 0


# ------------------------------------------------------------------ images
def test_missing_and_undecodable_images_stop_the_run(coco, monkeypatch,
                                                     tmp_path):
    root, _ = coco
    images = sorted((root / 'train2017').iterdir())
    images[1].unlink()
    images[3].write_bytes(b'<html>404 Not Found</html>')
    line = _train_on(root, monkeypatch, tmp_path)
    assert line == (
        f"error: train_dataloader.dataset: 2 of its 6 image files cannot be "
        f"loaded: {images[1]} (missing); {images[3]} (not a readable image "
        f"(UnidentifiedImageError)); training would stop when the dataloader "
        f"reaches one. Restore or re-download them, or remove them from the "
        f"annotation file; if a few bad files are expected, skip them with "
        f"`--cfg-options data_checks.bad_images=skip`")


def test_skip_policy_leaves_the_bad_images_out(coco):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    root, _ = coco
    images = sorted((root / 'train2017').iterdir())
    images[2].write_bytes(images[2].read_bytes()[:0])  # empty file
    cfg = _cfg(root, 'data_checks.bad_images=skip')
    out = io.StringIO()
    scan_datasets(cfg, LOADERS, out=out)
    assert (f'train_dataloader.dataset: skipping 1 image files that cannot '
            f'be loaded (data_checks.bad_images=skip): {images[2]} (empty '
            f'(0 bytes)); 5 samples remain') in out.getvalue()
    register_all_modules()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert len(paths) == 5 and str(images[2]) not in paths


# ------------------------------------------------------------- annotations
def _spoil(ann):
    """Plant what mmdet drops or cannot learn from; returns the json."""
    data = json.loads(ann.read_text())
    anns, ids = data['annotations'], [img['id'] for img in data['images']]

    def first_of(image):
        return next(a for a in anns if a['image_id'] == ids[image])

    first_of(0)['bbox'][2] = -3.0  # a negative width
    first_of(3)['category_id'] = 999  # not a category
    first_of(4)['bbox'][3] = 0.5  # a height < 1
    spoiled = [first_of(i)['id'] for i in (0, 4)]
    for a in anns:
        if a['image_id'] == ids[1]:
            a['iscrowd'] = 1  # a crowd-only image
    data['annotations'] = [a for a in anns if a['image_id'] != ids[2]]
    ann.write_text(json.dumps(data))  # image 2 has no annotation left
    data['spoiled'] = spoiled  # (not in the file)
    return data


def test_annotation_counts_are_what_mmdet_keeps(coco):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    root, ann = coco
    data = _spoil(ann)
    cfg = _cfg(root)
    ds_cfg = cfg.train_dataloader.dataset
    counts = count_coco_annotations(data, *load_dataset(cfg, ds_cfg))
    register_all_modules()
    dataset = DATASETS.build(ds_cfg)
    instances = [dataset.get_data_info(i)['instances']
                 for i in range(len(dataset))]
    assert counts['kept'] == sum(len(x) for x in instances)
    assert counts['crowd'] == sum(i['ignore_flag'] for x in instances
                                  for i in x) > 0
    assert counts['box'] == 2  # the negative width, the height < 1
    assert counts['unknown_category'] == 1 and counts['removed'] == 1
    assert len(dataset) == counts['images'] - counts['removed']
    # image 2 has no annotation: a negative, which filter_empty_gt removes
    assert counts['negatives'] == counts['removed_negatives'] == 1
    # what was dropped is named: annotation ids, their boxes, category ids
    examples = counts['examples']
    outside, degenerate = data['spoiled']
    assert sorted(a for a, _, _ in examples['box']) == sorted(
        [outside, degenerate])
    files = {img['id']: img['file_name'] for img in data['images']}
    assert {(a['id'], files[a['image_id']], tuple(a['bbox']))
            for a in data['annotations'] if a['id'] in data['spoiled']} == {
                (a, i, tuple(b)) for a, i, b in examples['box']}
    assert examples['unknown_category'] == {999: 1}
    # images mmdet keeps with no box to learn from: the crowd-only one, and
    # any whose only box was spoiled
    assert counts['nothing_to_learn'] == sum(
        not any(i['ignore_flag'] == 0 for i in x) for x in instances) >= 1
    out = io.StringIO()  # (a share that large is refused by default)
    scan_datasets(_cfg(root, 'data_checks.max_dropped=1.0'),
                  ['train_dataloader'], out=out)
    text = out.getvalue()
    assert (f"train_dataloader.dataset: {counts['annotations']} "
            f"annotations, {counts['kept']} kept ({counts['crowd']} of them "
            f"crowd, trained as ignored regions), 3 dropped (2 left out by "
            f"mmdet for their box or an ignore mark, 1 of a category that is "
            f"not one of the 4 classes, 0 of images not in the file); 6 "
            f"images, 1 removed by the dataset's filter_cfg (1 of them "
            f"negatives)") in text
    assert f'id {outside} (image {files[data["images"][0]["id"]]}, bbox [' \
        in text
    assert 'category ids that are not one of the classes: 999 (1 ' in text


@pytest.mark.parametrize('filter_empty_gt', [True, False])
def test_images_without_objects_are_negatives_not_losses(
        coco, filter_empty_gt):
    """Tiles with no object are legitimate negatives: a set where a third of
    the images have no annotation passes, and the count says so."""
    root, ann = coco
    data = json.loads(ann.read_text())
    empty = [img['id'] for img in data['images']][:2]
    data['annotations'] = [a for a in data['annotations']
                           if a['image_id'] not in empty]
    ann.write_text(json.dumps(data))
    out = io.StringIO()
    cfg = _cfg(root, f'train_dataloader.dataset.filter_cfg.filter_empty_gt='
                     f'{filter_empty_gt}')
    scan_datasets(cfg, ['train_dataloader'], out=out)
    assert '0 kept with no box to learn from (crowd or dropped boxes ' \
        'only), 2 without any annotation (negatives)' in out.getvalue()


def test_a_large_drop_stops_the_run(coco, monkeypatch, tmp_path):
    """A json whose categories are not the config's (the typical wrong
    ``metainfo``) is refused; the limit is an option."""
    root, ann = coco
    data = json.loads(ann.read_text())
    circle = next(c['id'] for c in data['categories'] if c['name'] ==
                  'circle')
    total = len(data['annotations'])
    dropped = 0
    for a in data['annotations']:
        if a['category_id'] != circle:
            a['category_id'] = 77
            dropped += 1
    ann.write_text(json.dumps(data))
    line = _train_on(root, monkeypatch, tmp_path)
    assert line.startswith(
        f'error: train_dataloader.dataset: mmdet would drop {dropped} of the '
        f'{total} annotations ({dropped / total:.1%}, more than '
        f'data_checks.max_dropped=0.05): {dropped} of a category that is not '
        f'one of the classes, 0 left out for their box or an ignore mark '
        f'(category ids that are not one of the classes: 77 ({dropped} '
        f'annotations)); check '
        f'train_dataloader.dataset.metainfo.classes against the categories')
    assert line.endswith('`--cfg-options data_checks.max_dropped=...` if '
                         'that is intended')
    cfg = _cfg(root, 'data_checks.max_dropped=1.0')
    scan_datasets(cfg, ['train_dataloader'], out=io.StringIO())  # passes


@pytest.mark.parametrize('kind, config, spoil', [
    ('ade', 'fpn_hatnet_tiny_toy.py', 'annotations/training'),
    ('imagenet', 'hatnet_tiny_in1k_toy.py', 'train')])
def test_segmentation_and_classification_images_are_scanned(
        tmp_path, kind, config, spoil):
    """The label maps of a segmentation set are read too; a classification
    set's list of files is its annotation file."""
    from toy_options import data_options

    from mmhatnet_tools.data_checks import DataCheckError
    root = tmp_path / kind
    subprocess.run([sys.executable, MAKE_TOY, kind, str(root), '--train',
                    '3', '--val', '1', '--size', '32'], check=True,
                   capture_output=True)
    cfg = Config.fromfile(os.path.join(TOY, config))
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(
        ['--cfg-options', *data_options(root)]).cfg_options)
    scan_datasets(cfg, LOADERS, out=io.StringIO())  # the pristine set passes
    victim = sorted(p for p in (root / spoil).rglob('*') if p.is_file())[0]
    victim.write_bytes(b'GIF89a' + bytes(20))  # a GIF header
    with pytest.raises(DataCheckError) as exc:
        scan_datasets(cfg, LOADERS, out=io.StringIO())
    assert str(exc.value).startswith(
        'train_dataloader.dataset: 1 of its ')
    assert f'cannot be loaded: {victim} (' in str(exc.value)
