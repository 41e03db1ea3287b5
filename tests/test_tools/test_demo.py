"""tools/demo.py: a detector, an instance segmenter and a segmentor of ours
(random init, saved as a checkpoint) draw their predictions on toy images,
one picture per image, at the image's size, with the library's visualiser."""
import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from common import ROOT, load_tool
from PIL import Image

TOY = os.path.join(ROOT, 'configs', 'toy')
TOOL = os.path.join(ROOT, 'tools', 'demo.py')
MAKE_TOY = os.path.join(ROOT, 'tools', 'dataset_converters',
                        'make_toy_data.py')

CASES = {
    # config, toy data kind, image folder inside the toy set
    'retinanet': ('retinanet_hatnet_tiny_toy.py', 'coco', 'val2017'),
    'mask_rcnn': ('mask_rcnn_hatnet_tiny_toy.py', 'coco', 'val2017'),
    'semantic_fpn': ('fpn_hatnet_tiny_toy.py', 'ade', 'images/validation'),
    'classifier': ('hatnet_tiny_in1k_toy.py', 'imagenet', 'val'),
}


def _demo():
    return load_tool('demo.py')


def run(*args, subprocess_run=False):
    """Run the tool: in this process (the libraries are imported once), or
    as a user does, in a subprocess. Returns (exit code, stdout, stderr)."""
    args = [str(a) for a in args]
    if subprocess_run:
        out = subprocess.run([sys.executable, TOOL, *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
        return out.returncode, out.stdout, out.stderr
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(stderr):
        try:
            _demo().main(args)
        except SystemExit as e:
            code = e.code
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    roots = {}
    for kind in ('coco', 'ade', 'imagenet'):
        roots[kind] = tmp_path_factory.mktemp(f'toy_{kind}')
        subprocess.run([sys.executable, MAKE_TOY, kind, str(roots[kind]),
                        '--train', '0', '--val', '2', '--size', '64',
                        '--overwrite'], check=True, capture_output=True)
    return roots


def _random_checkpoint(config, path):
    """A checkpoint of the config's model as built (random init), with no
    dataset_meta: the tool takes the class names from the config."""
    from mmhatnet_tools.complexity import build_model, load_model_config
    torch.manual_seed(0)
    model = build_model(load_model_config(config))
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp('ckpt')
    return {case: _random_checkpoint(os.path.join(TOY, config),
                                     folder / f'{case}.pth')
            for case, (config, _, _) in CASES.items()}


def _sizes(folder):
    sizes = {}
    for path in sorted(folder.rglob('*')):
        if path.is_file():
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                sizes[str(path.relative_to(folder))] = (im.format, im.size)
    return sizes


@pytest.mark.parametrize('case', list(CASES))
def test_draws_one_picture_per_image(case, toy, checkpoints, tmp_path):
    config, kind, images = CASES[case]
    folder = toy[kind] / images
    out_dir = tmp_path / 'out'
    # one case as a user runs it, the others in this process (faster)
    code, stdout, stderr = run(folder, os.path.join(TOY, config),
                               checkpoints[case], '--out-dir', out_dir,
                               subprocess_run=case == 'retinanet')
    assert code == 0, stderr[-4000:]
    inputs = sorted(str(p.relative_to(folder)) for p in folder.rglob('*')
                    if p.is_file())
    assert len(inputs) == 2
    written = _sizes(out_dir)
    assert sorted(written) == inputs  # same names, nothing else (no temp)
    for name in inputs:
        with Image.open(folder / name) as im:
            assert written[name] == ('JPEG', im.size)
    assert f'2 picture(s) written to {out_dir}' in stdout


def test_pictures_show_the_predictions(toy, checkpoints, tmp_path):
    """With every box kept (--score-thr 0) the detector's picture differs
    from the image; with none kept (--score-thr 1) it is the image itself
    (re-encoded)."""
    config, _, images = CASES['retinanet']
    image = toy['coco'] / images / '000000000001.jpg'
    pictures = {}
    for thr in ('0', '1'):
        out_dir = tmp_path / thr
        # the model keeps every box (its own threshold would drop all the
        # ~0.01 scores of a random init); --score-thr decides what is drawn
        code, _, stderr = run(image, os.path.join(TOY, config),
                              checkpoints['retinanet'], '--out-dir', out_dir,
                              '--score-thr', thr, '--cfg-options',
                              'model.test_cfg.score_thr=0')
        assert code == 0, stderr[-4000:]
        with Image.open(out_dir / image.name) as im:
            pictures[thr] = np.asarray(im.convert('RGB')).astype(int)
    with Image.open(image) as im:
        original = np.asarray(im.convert('RGB')).astype(int)
    assert np.abs(pictures['1'] - original).mean() < 3  # JPEG noise only
    assert np.abs(pictures['0'] - original).mean() > 3  # boxes drawn


def test_segmentor_colours_the_classes(toy, checkpoints, tmp_path):
    config, _, images = CASES['semantic_fpn']
    image = sorted((toy['ade'] / images).iterdir())[0]
    code, _, stderr = run(image, os.path.join(TOY, config),
                          checkpoints['semantic_fpn'], '--out-dir', tmp_path)
    assert code == 0, stderr[-4000:]
    with Image.open(tmp_path / image.name) as im:
        picture = np.asarray(im.convert('RGB')).astype(int)
    with Image.open(image) as im:
        original = np.asarray(im.convert('RGB')).astype(int)
    # a class colour over every pixel (measured: 99.9 % of them change by
    # more than 8 levels; JPEG re-encoding alone moves them by 1-4)
    assert (np.abs(picture - original).max(-1) > 8).mean() > 0.9


def _fails(args, capsys):
    """Run the tool in this process (fast: these fail before any model is
    built); returns its stderr."""
    with pytest.raises(SystemExit) as exc:
        _demo().main([str(a) for a in args])
    assert exc.value.code == 2
    return capsys.readouterr().err


ERRORS = [
    ('input', "error: input '{tmp}/none' does not exist; give an image or a "
     "folder of images"),
    ('config', "error: config '{tmp}/none' does not exist"),
    ('checkpoint', "error: checkpoint '{tmp}/none' does not exist"),
]


@pytest.mark.parametrize('what,message', ERRORS)
def test_missing_files(toy, checkpoints, tmp_path, capsys, what, message):
    args = dict(input=toy['coco'] / 'val2017',
                config=os.path.join(TOY, CASES['retinanet'][0]),
                checkpoint=checkpoints['retinanet'])
    args[what] = tmp_path / 'none'
    err = _fails([args['input'], args['config'], args['checkpoint'],
                  '--out-dir', tmp_path / 'out'], capsys)
    assert message.format(tmp=tmp_path) in err
    assert not (tmp_path / 'out').exists()


def test_empty_folder_and_bad_options(toy, checkpoints, tmp_path, capsys):
    config = os.path.join(TOY, CASES['retinanet'][0])
    ckpt = checkpoints['retinanet']
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('no image here')
    err = _fails([empty, config, ckpt, '--out-dir', tmp_path / 'out'],
                 capsys)
    assert (f"error: the folder '{empty}' holds no images (.jpg/.jpeg/.png"
            in err)
    assert 'give a folder with images or an image' in err

    folder = toy['coco'] / 'val2017'
    before = sorted(os.listdir(folder))
    err = _fails([folder, config, ckpt, '--out-dir', folder], capsys)
    assert (f"error: --out-dir '{folder}' is the input folder: the pictures "
            f"would replace the images; choose another folder") in err
    err = _fails([folder / '000000000001.jpg', config, ckpt, '--out-dir',
                  folder], capsys)
    assert 'is the input folder: the pictures would replace the images' in err
    err = _fails([folder, config, ckpt, '--out-dir', folder / 'vis'], capsys)
    assert (f"error: --out-dir '{folder / 'vis'}' is inside the input "
            f"folder: the pictures would be taken for images the next time; "
            f"choose a folder outside it") in err
    assert sorted(os.listdir(folder)) == before

    err = _fails([folder, config, ckpt, '--out-dir', tmp_path / 'out',
                  '--score-thr', '1.5'], capsys)
    assert 'error: --score-thr must be in [0, 1], got 1.5' in err
    assert not (tmp_path / 'out').exists()


def test_checkpoint_of_another_model(toy, checkpoints, tmp_path, capsys):
    """A segmentor's weights given with a detector's config: refused (the
    libraries would load what fits and draw a half-random model)."""
    err = _fails([toy['coco'] / 'val2017', os.path.join(
        TOY, CASES['retinanet'][0]), checkpoints['semantic_fpn'],
        '--out-dir', tmp_path / 'out'], capsys)
    assert (f"error: checkpoint '{checkpoints['semantic_fpn']}' does not fit "
            f"the model of the config: ") in err
    assert "22 of the model's keys are not in it (first: neck." in err
    assert "46 of its keys are not the model's (first: neck." in err
    assert ('4 shapes differ (first: neck.lateral_convs.0.conv.weight '
            '(256, 48, 1, 1) vs (256, 96, 1, 1)') in err
    assert err.rstrip().endswith('give the checkpoint trained with this '
                                 'config')
    assert not (tmp_path / 'out').exists()
