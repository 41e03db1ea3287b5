"""tools/analysis/sweep_g1g2.py on the toy RetinaNet: one checkpoint
(random init, saved here) tested under three G1/G2 settings."""
import csv
import hashlib
import math
import os
import re
import subprocess
import sys

import pytest
import torch
from common import ROOT, load_tool
from PIL import Image
from toy_options import coco_data_options

CONFIG = os.path.join(ROOT, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')
TOOL = os.path.join(ROOT, 'tools', 'analysis', 'sweep_g1g2.py')
MAKE_TOY = os.path.join(ROOT, 'tools', 'dataset_converters',
                        'make_toy_data.py')
# the config's own, a coarser global pooling (G2 x2: fewer global keys), a
# smaller local window (G1 / 2)
SETTINGS = [((8, 8, 8), (16, 8, 4)), ((8, 8, 8), (32, 16, 8)),
            ((4, 4, 4), (16, 8, 4))]


def _text(values):
    return ','.join(map(str, values))


def _tool():
    return load_tool('analysis/sweep_g1g2.py')


def _sha1(state_dict):
    """Our own fingerprint of a state dict (names, dtypes, shapes, bytes in
    name order), as the tool documents it."""
    digest = hashlib.sha1()
    for name in sorted(state_dict):
        t = state_dict[name].contiguous().reshape(-1)
        digest.update(
            f'{name}:{t.dtype}:{tuple(state_dict[name].shape)}'.encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_coco')
    subprocess.run([sys.executable, MAKE_TOY, 'coco', str(root), '--train',
                    '0', '--val', '3', '--size', '64', '--overwrite'],
                   check=True, capture_output=True)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from mmhatnet_tools.complexity import build_model, load_model_config
    torch.manual_seed(0)
    model = build_model(load_model_config(CONFIG))
    model.init_weights()
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    state_dict = model.state_dict()
    torch.save(dict(state_dict=state_dict), path)
    return path, _sha1(state_dict)


@pytest.fixture(scope='module')
def sweep(toy, checkpoint, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('sweep')
    out = subprocess.run(
        [sys.executable, TOOL, CONFIG, str(checkpoint[0]), '--g1-g2',
         *[f'{_text(g1)}/{_text(g2)}' for g1, g2 in SETTINGS],
         '--out-dir', str(out_dir), '--cfg-options',
         *coco_data_options(toy),
         # keep the ~0.01 scores of a random init, so that mAP is computed
         'model.test_cfg.score_thr=0'],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    with open(out_dir / 'sweep_g1g2.csv') as f:
        rows = list(csv.DictReader(f))
    return out_dir, rows, out.stdout


def test_one_row_per_setting(sweep):
    _, rows, _ = sweep
    assert [(r['G1'], r['G2']) for r in rows] == [
        (_text(g1), _text(g2)) for g1, g2 in SETTINGS]
    for r in rows:
        assert 0.0 <= float(r['coco/bbox_mAP']) <= 1.0
        assert 0.0 <= float(r['coco/bbox_mAP_50']) <= 1.0


def test_flops_follow_g1_and_g2(sweep):
    out_dir, rows, _ = sweep
    own, coarse, small = ([float(r[k]) for k in (
        'FLOPs paper (G)', 'FLOPs complete (G)', 'attention FLOPs (G)')]
        for r in rows)
    # G2 x2: a quarter of the global keys -> fewer FLOPs in both counts
    # (global_kv runs on fewer pooled tokens) and less attention
    assert coarse[0] < own[0] and coarse[1] < own[1] and coarse[2] < own[2]
    # G1 / 2: the same modules (the paper's count ignores attention
    # matmuls) but smaller windows -> fewer attention FLOPs
    assert small[0] == own[0]
    assert small[2] < own[2] and small[1] < own[1]
    # the complete count minus its attention part is G1-independent
    assert math.isclose(small[1] - small[2], own[1] - own[2], rel_tol=1e-3)

    # the global keys at the reported input size
    table = (out_dir / 'sweep_g1g2.md').read_text()
    H, W = map(int, re.search(r'FLOPs at (\d+)x(\d+) \(H x W, the input '
                              r'size of (all 3|\d of the 3) test images\)',
                              table).group(1, 2))
    for r, (_, g2) in zip(rows, SETTINGS):
        keys = []
        for i, g in enumerate(g2):
            h, w = math.ceil(H / 2**(i + 2)), math.ceil(W / 2**(i + 2))
            keys.append(math.ceil(h / min(g, h)) * math.ceil(w / min(g, w)))
        assert r['global keys'] == _text(keys)


def test_flops_equal_get_flops_for_the_setting(sweep):
    """The same count as mmhatnet_tools.complexity on a model built with that
    G1/G2 in its config."""
    from mmhatnet_tools.complexity import complexity
    out_dir, rows, _ = sweep
    table = (out_dir / 'sweep_g1g2.md').read_text()
    shape = tuple(map(int, re.search(r'FLOPs at (\d+)x(\d+)',
                                     table).group(1, 2)))
    g1, g2 = SETTINGS[1]
    expected = complexity(CONFIG, shape, cfg_options={
        'model.backbone.g1': g1, 'model.backbone.g2': g2})
    assert rows[1]['FLOPs paper (G)'] == \
        f'{expected["paper_flops"] / 1e9:.4f}'
    assert rows[1]['FLOPs complete (G)'] == \
        f'{expected["complete_flops"] / 1e9:.4f}'


def test_weights_are_the_checkpoints_in_every_setting(sweep, checkpoint):
    _, rows, _ = sweep
    assert {r['weights SHA-1'] for r in rows} == {checkpoint[1]}


def test_markdown_png_and_nothing_half_written(sweep):
    out_dir, rows, stdout = sweep
    lines = (out_dir / 'sweep_g1g2.md').read_text().splitlines()
    assert lines[2].startswith('| G1 | G2 | global keys | FLOPs paper (G) |')
    assert len([line for line in lines[4:] if line.startswith('| ')]) == 3
    assert lines[4].startswith('| 8,8,8 | 16,8,4 |')
    with Image.open(out_dir / 'sweep_g1g2.png') as png:
        assert png.format == 'PNG'
        assert png.size == (700, 450)
        png.verify()
    assert not [p for p in os.listdir(out_dir) if p.startswith('.tmp')]
    assert f'png: {out_dir / "sweep_g1g2.png"}' in stdout


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize('setting', ['8,8,8', '8,8,8/16,8', '8,8,x/1,1,1',
                                     '8,8,8/16,8,0', '8/8/8'])
def test_bad_setting(checkpoint, tmp_path, capsys, setting):
    with pytest.raises(SystemExit) as exc:
        _tool().main([CONFIG, str(checkpoint[0]), '--g1-g2', setting,
                      '--out-dir', str(tmp_path / 'out')])
    assert exc.value.code == 2
    assert (f"error: --g1-g2 '{setting}': expected G1,G1,G1/G2,G2,G2, the "
            f"G1 value of each H-MHSA stage, a slash, then the G2 values, "
            f"all positive ints, e.g. 8,8,8/16,8,4") in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_setting_for_another_number_of_stages(toy, checkpoint, tmp_path,
                                              capsys):
    with pytest.raises(SystemExit):
        _tool().main([CONFIG, str(checkpoint[0]), '--g1-g2', '8,8/16,8',
                      '--out-dir', str(tmp_path / 'out'), '--cfg-options',
                      *coco_data_options(toy)])
    assert ('error: --g1-g2 8,8/16,8: this HAT-Net has 3 H-MHSA stages, so '
            '3 G1 and 3 G2 values') in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('what', ['config', 'checkpoint'])
def test_missing_files(checkpoint, tmp_path, capsys, what):
    paths = dict(config=CONFIG, checkpoint=str(checkpoint[0]))
    paths[what] = str(tmp_path / 'none')
    with pytest.raises(SystemExit):
        _tool().main([paths['config'], paths['checkpoint'], '--out-dir',
                      str(tmp_path / 'out')])
    assert f"error: {what} '{tmp_path / 'none'}' does not exist" in \
        capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_bad_test_data(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _tool().main([CONFIG, str(checkpoint[0]), '--out-dir',
                      str(tmp_path / 'out'), '--cfg-options',
                      *coco_data_options(tmp_path / 'gone')])
    assert (f"error: test_dataloader.dataset: data_root "
            f"'{tmp_path / 'gone'}/' does not exist") in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
