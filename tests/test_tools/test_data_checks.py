"""Bad data stops tools/train.py and tools/test.py before the runner is
built, with a message that names the problem and the fix, and without a
work dir (mmhatnet_tools.data_checks)."""
import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from common import ROOT, load_tool
from mmengine.config import Config, DictAction
from PIL import Image
from toy_options import data_options

from mmhatnet_tools.data_checks import DataCheckError, check_datasets

TOY = os.path.join(ROOT, 'configs', 'toy')
MAKE_TOY = os.path.join(ROOT, 'tools', 'dataset_converters',
                        'make_toy_data.py')
CONFIGS = dict(coco='retinanet_hatnet_tiny_toy.py', ade='fpn_hatnet_tiny_toy.py',
               imagenet='hatnet_tiny_in1k_toy.py')
LOADERS = ['train_dataloader', 'val_dataloader']


def _tool(name):
    return load_tool(f'{name}.py')


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """Pristine toy sets, copied by each test that spoils one."""
    roots = {}
    for kind in CONFIGS:
        roots[kind] = tmp_path_factory.mktemp(f'good_{kind}')
        subprocess.run([sys.executable, MAKE_TOY, kind, str(roots[kind]),
                        '--train', '4', '--val', '2', '--size', '32',
                        '--overwrite'], check=True, capture_output=True)
    return roots


def _copy(toy, kind, tmp_path):
    root = tmp_path / f'toy_{kind}'
    shutil.copytree(toy[kind], root)
    return root


def _config(kind, root, *extra):
    """The toy config of ``kind`` on ``root``, with ``extra`` options, as
    the tools read ``--cfg-options``."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(
        ['--cfg-options', *data_options(root, coco=kind == 'coco'),
         *extra]).cfg_options
    cfg = Config.fromfile(os.path.join(TOY, CONFIGS[kind]))
    cfg.merge_from_dict(options)
    return cfg


def _message(cfg, loaders=LOADERS):
    with pytest.raises(DataCheckError) as exc:
        check_datasets(cfg, loaders)
    return str(exc.value)


# --------------------------------------------------------------- the checks
@pytest.mark.parametrize('kind', list(CONFIGS))
def test_the_toy_sets_pass(toy, kind):
    check_datasets(_config(kind, toy[kind]),
                   ['train_dataloader', 'val_dataloader', 'test_dataloader'])


@pytest.mark.parametrize('kind', list(CONFIGS))
def test_missing_data_root(tmp_path, kind):
    root = tmp_path / 'nowhere'
    message = _message(_config(kind, root))
    assert message.startswith(
        f"train_dataloader.dataset: data_root '{root}/' does not exist; ")
    assert (f'generate a toy set there with `python tools/dataset_converters/'
            f'make_toy_data.py {kind} {root}/`') in message
    assert ('or point the config at your data with `--cfg-options '
            'train_dataloader.dataset.data_root=/path/to/data/`') in message


@pytest.mark.parametrize('kind', list(CONFIGS))
def test_empty_data_root(tmp_path, kind):
    root = tmp_path / 'empty'
    root.mkdir()
    message = _message(_config(kind, root))
    assert f"data_root '{root}/' is empty; generate a toy set" in message


def test_image_folder_without_images(toy, tmp_path):
    root = _copy(toy, 'coco', tmp_path)
    for f in (root / 'train2017').iterdir():
        f.unlink()
    message = _message(_config('coco', root))
    assert (f"the image folder '{root}/train2017/' contains no "
            f".jpg/.jpeg/") in message


def test_coco_json_that_is_not_json(toy, tmp_path):
    root = _copy(toy, 'coco', tmp_path)
    ann = root / 'annotations' / 'instances_train2017.json'
    ann.write_text('{"images": [1, 2,')  # cut off mid-way
    message = _message(_config('coco', root))
    assert (f"train_dataloader.dataset: the annotation file '{ann}' is not "
            f"valid JSON (Expecting value at line 1 column 18)") in message
    assert ('point `--cfg-options train_dataloader.dataset.ann_file=...` at '
            'a COCO instances json') in message


@pytest.mark.parametrize('drop', [('annotations', ), ('images', 'categories')])
def test_coco_json_without_its_lists(toy, tmp_path, drop):
    root = _copy(toy, 'coco', tmp_path)
    ann = root / 'annotations' / 'instances_val2017.json'
    data = json.loads(ann.read_text())
    for key in drop:
        del data[key]
    ann.write_text(json.dumps(data))
    message = _message(_config('coco', root))
    missing = ', '.join(repr(k) for k in drop)
    assert message.startswith(
        f"val_dataloader.dataset: the annotation file '{ann}' is not a COCO "
        f"instances json: it has no {missing}; ")


def test_coco_json_that_is_a_list(toy, tmp_path):
    root = _copy(toy, 'coco', tmp_path)
    ann = root / 'annotations' / 'instances_train2017.json'
    ann.write_text('[]')
    assert ('is not a COCO instances json: it holds a list, not an object '
            'with images, annotations and categories') in _message(
                _config('coco', root))


def test_coco_classes_not_in_the_json(toy, tmp_path):
    cfg = _config('coco', toy['coco'])
    cfg.train_dataloader.dataset.metainfo = dict(classes=('circle', 'dog'))
    message = _message(cfg)
    assert ("the classes ['dog'] of the config are not categories of" in
            message)
    assert ('set `train_dataloader.dataset.metainfo.classes` (and the '
            'num_classes of the model head)') in message


def test_missing_coco_metric_json(toy, tmp_path):
    cfg = _config('coco', toy['coco'])
    cfg.test_evaluator.ann_file = str(tmp_path / 'gone.json')
    message = _message(cfg, ['test_dataloader'])
    assert message == (
        f"test_evaluator: the annotation file '{tmp_path / 'gone.json'}' of "
        f"the metric CocoMetric does not exist; point it at the json of the "
        f"evaluated set with `--cfg-options test_evaluator.ann_file=...`")


def _spoil_label_map(root, value):
    path = sorted((root / 'annotations' / 'training').iterdir())[0]
    label = np.array(Image.open(path))
    label[0, :3] = value
    Image.fromarray(label).save(path)
    return path


def test_segmentation_labels_outside_the_classes(toy, tmp_path):
    root = _copy(toy, 'ade', tmp_path)
    path = _spoil_label_map(root, 9)
    message = _message(_config('ade', root))
    assert message == (
        f"train_dataloader.dataset: the label map '{path}' holds the values "
        f"[9], outside the 5 classes of the config (reduce_zero_label=True "
        f"maps 0 to 255 (ignored) and v to v-1, so the PNG values may be 0, "
        f"1..5 and 255); such a value makes the CrossEntropy loss fail deep "
        f"inside torch; fix the label maps, or the classes / num_classes / "
        f"`train_dataloader.dataset.reduce_zero_label` of the config")


def test_segmentation_labels_without_reduce_zero_label(toy, tmp_path):
    """Without the reduction the PNG values are the labels: 5 is out of
    range for 5 classes, 255 is ignored."""
    root = _copy(toy, 'ade', tmp_path)
    path = _spoil_label_map(root, 5)
    label = np.array(Image.open(path))
    label[1, :3] = 255
    Image.fromarray(label).save(path)
    cfg = _config('ade', root, 'train_dataloader.dataset.reduce_zero_label='
                  'False', 'train_dataloader.dataset.pipeline.1.'
                  'reduce_zero_label=False')
    message = _message(cfg, ['train_dataloader'])
    assert f"the label map '{path}' holds the values [5]," in message
    assert ('(reduce_zero_label=False: the PNG values are the labels, 0..4, '
            'and 255 is ignored)') in message


def test_classifier_label_out_of_range(toy, tmp_path):
    root = _copy(toy, 'imagenet', tmp_path)
    ann = root / 'meta' / 'train.txt'
    lines = ann.read_text().splitlines()
    lines[2] = lines[2].rsplit(' ', 1)[0] + ' 7'
    ann.write_text('\n'.join(lines) + '\n')
    message = _message(_config('imagenet', root))
    assert message == (
        f"train_dataloader.dataset: line 3 of '{root}/meta/train.txt' has "
        f"the label 7, outside the 4 classes of the config (0..3); fix the "
        f"annotation file, or the classes / num_classes of the config")


# ---------------------------------------------------------------- the tools
def _run_tool(name, args, monkeypatch):
    """Run tools/NAME.py's main() in this process; returns the message of
    its one ``error:`` line (exit status 2)."""
    tool = _tool(name)
    monkeypatch.setattr(sys, 'argv', [f'{name}.py', *map(str, args)])
    built = []
    monkeypatch.setattr(tool, 'build_runner', built.append)
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as exc, \
            contextlib.redirect_stderr(stderr):
        tool.main()
    assert built == []  # stopped before the runner
    assert exc.value.code == 2
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    return lines[0]


def test_train_stops_before_the_runner(toy, tmp_path, monkeypatch):
    root = _copy(toy, 'ade', tmp_path)
    path = _spoil_label_map(root, 9)
    work = tmp_path / 'work'
    message = _run_tool('train', [
        os.path.join(TOY, CONFIGS['ade']), '--work-dir', work,
        '--cfg-options', *data_options(root)], monkeypatch)
    assert message.startswith(f"error: train_dataloader.dataset: the label "
                              f"map '{path}' holds the values [9]")
    assert not work.exists()


def test_train_checks_the_val_set_too(toy, tmp_path, monkeypatch):
    root = _copy(toy, 'coco', tmp_path)
    (root / 'annotations' / 'instances_val2017.json').write_text('oops')
    message = _run_tool('train', [
        os.path.join(TOY, CONFIGS['coco']), '--work-dir', tmp_path / 'work',
        '--cfg-options', *data_options(root, coco=True)], monkeypatch)
    assert message.startswith('error: val_dataloader.dataset: the annotation '
                              'file')
    assert 'is not valid JSON' in message
    assert not (tmp_path / 'work').exists()


def _mmengine_checkpoint(folder):
    """A checkpoint in mmengine's format (not a released one): test.py
    reads its keys only, before the data; the runner would load it."""
    import torch
    path = folder / 'model.pth'
    torch.save({'meta': {}, 'state_dict': {'backbone.x': torch.zeros(1)}},
               path)
    return path


def test_test_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'not a checkpoint')
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'test.py'),
         os.path.join(TOY, CONFIGS['coco']), str(ckpt)],
        cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert (f"error: could not read '{ckpt}' as a PyTorch checkpoint") \
        in out.stderr
    assert 'the file is not a PyTorch checkpoint at all' in out.stderr
    assert 'Traceback' not in out.stderr
    assert os.listdir(cwd) == []


def test_test_stops_before_the_runner(toy, tmp_path, monkeypatch):
    root = _copy(toy, 'imagenet', tmp_path)
    ann = root / 'meta' / 'val.txt'
    ann.write_text(ann.read_text().replace(' 1\n', ' -1\n', 1))
    ckpt = _mmengine_checkpoint(tmp_path)
    work = tmp_path / 'work'
    message = _run_tool('test', [
        os.path.join(TOY, CONFIGS['imagenet']), ckpt, '--work-dir', work,
        '--cfg-options', *data_options(root)], monkeypatch)
    assert message == (
        f"error: test_dataloader.dataset: line 2 of '{root}/meta/val.txt' "
        f"has the label -1, outside the 4 classes of the config (0..3); fix "
        f"the annotation file, or the classes / num_classes of the config")
    assert not work.exists()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_command_line_exit_code_and_no_work_dir(tmp_path, tool):
    """As a user runs it: nonzero exit, the message on stderr, and no
    work_dirs/ (the default work dir, under the current folder) at all."""
    root = tmp_path / 'no_data'
    ckpt = _mmengine_checkpoint(tmp_path)
    args = [os.path.join(TOY, CONFIGS['coco'])]
    if tool == 'test':
        args.append(str(ckpt))
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', f'{tool}.py'), *args,
         '--cfg-options', *data_options(root, coco=True)],
        cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    loader = 'train' if tool == 'train' else 'test'
    assert (f"error: {loader}_dataloader.dataset: data_root '{root}/' does "
            f"not exist; generate a toy set there with `python "
            f"tools/dataset_converters/make_toy_data.py coco {root}/`") \
        in out.stderr
    assert 'Traceback' not in out.stderr
    assert os.listdir(cwd) == []  # no work_dirs/<config>/<timestamp>/
