"""mmhatnet added to an environment that already has its torch and mmcv
(the torch 2.1 stack mmcv's prebuilt wheels serve, or the newest torch):
installing it changes nothing there, and the backbone trains on that torch."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
import torch
from common import ROOT

# a training step of every frozen_stages, at an odd size, in fp32 and under
# bf16 autocast; in a child process, so that a crash of torch (torch <= 2.13
# segfaulted in a GroupNorm backward here) fails the test instead of the run
TRAIN_STEPS = r'''
import sys, torch
from mmhatnet.models import HATNet
frozen = int(sys.argv[1])
for dtype in ('fp32', 'bf16'):
    torch.manual_seed(0)
    model = HATNet(arch='tiny', frozen_stages=frozen, drop_path_rate=0.1)
    model.init_weights()
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.SGD(trainable or [torch.zeros(1)], lr=0.1)
    x = torch.rand(2, 3, 97, 131)
    with torch.autocast('cpu', dtype=torch.bfloat16,
                        enabled=dtype == 'bf16'):
        outs = model(x)
    assert [tuple(o.shape) for o in outs] == [
        (2, 48, 25, 33), (2, 96, 13, 17), (2, 240, 7, 9), (2, 384, 4, 5)]
    loss = sum(o.float().square().mean() for o in outs)
    if trainable:
        loss.backward()
        optimizer.step()
        assert all(torch.isfinite(p.grad).all() for p in trainable), dtype
        assert any(not torch.equal(p, b)
                   for p, b in zip(trainable, before)), dtype
    assert all(p.grad is None for p in model.parameters()
               if not p.requires_grad), dtype
    print(dtype, 'ok', len(trainable))
'''


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3, 4])
def test_a_training_step_runs_for_every_frozen_stages(frozen_stages):
    """HAT-Net-Tiny at 97x131 in fp32 and under bf16 autocast."""
    out = subprocess.run(
        [sys.executable, '-c', TRAIN_STEPS, str(frozen_stages)],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (
        f'torch {torch.__version__}: exit status {out.returncode}\n'
        f'{out.stderr[-3000:]}')
    trained = int(out.stdout.split()[-1])
    assert (trained == 0) == (frozen_stages == 4)


def test_installing_mmhatnet_changes_nothing_in_the_environment():
    """`pip install -e .` into this environment (the lane's torch and mmcv
    already there) would install mmhatnet and nothing else: the declared
    requirements hold for every tested lane, and mmcv is not one of them
    (an environment's mmcv or mmcv-lite stays what it is). Without the
    machine's pip configuration: what mmhatnet demands, not a site's cap
    (these machines cap torch at 2.14.1, which the newest lane exceeds)."""
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    out = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
         '--no-build-isolation', '--disable-pip-version-check', '--quiet',
         '--report', '-', '-e', ROOT],
        capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout[out.stdout.index('{'):])
    names = sorted(item['metadata']['name'] for item in report['install'])
    assert names == ['mmhatnet'], names


# run outside the clone, so that `import mmhatnet` goes through the
# editable install's finder, not the current folder
EDITABLE_BASES = r'''
import importlib.util, os.path as osp, sys
import mmhatnet
from mmengine.config import Config
root = sys.argv[1]
assert mmhatnet.__file__ == osp.join(root, 'mmhatnet', '__init__.py')
path, scope = Config._get_cfg_path(
    'mmhatnet::retinanet/retinanet_hatnet_tiny.py', 'mine.py')
assert scope == 'mmhatnet', scope
assert path == osp.join(root, 'mmhatnet', '.mim', 'configs', 'retinanet',
                        'retinanet_hatnet_tiny.py'), path
# each config is the clone's own file, so that an edit there shows
print(osp.realpath(osp.join(osp.dirname(path), '..', 'toy')))
if importlib.util.find_spec('mmdet'):
    cfg = Config.fromfile('mine.py')
    print(cfg.model.type, cfg.model.backbone.type, cfg.model.backbone.arch)
'''


def test_the_editable_install_serves_mmhatnet_bases(tmp_path):
    """The lane's `pip install -e .` (tools/install.sh) writes the clone's
    mmhatnet/.mim/ as links, as mmdet's develop mode does: a config in
    another folder inherits ours through `mmhatnet::`, read by mmengine."""
    (tmp_path / 'mine.py').write_text(
        "_base_ = 'mmhatnet::toy/retinanet_hatnet_tiny_toy.py'\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run(
        [sys.executable, '-c', EDITABLE_BASES, ROOT], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split('\n')
    assert lines[0] == os.path.join(ROOT, 'configs', 'toy')
    if importlib.util.find_spec('mmdet'):
        assert lines[1] == 'RetinaNet HATNet tiny', out.stdout


def test_the_onnx_export_names_the_torch_it_needs(monkeypatch):
    """On a torch before 2.6 (this lane's, or one pretended) the export
    refuses with the torch it needs, before it looks for onnx."""
    from mmhatnet.deployment import DeployError, export_onnx
    from mmhatnet.models.utils import torch_compat
    if torch_compat.TORCH_VERSION >= (2, 6):
        monkeypatch.setattr(torch_compat, 'TORCH_VERSION', (2, 5))
    model = torch.nn.Module()
    model.backbone = torch.nn.Identity()
    with pytest.raises(DeployError, match=r'needs torch >= 2\.6; this is '
                       rf'torch {re.escape(torch.__version__)}'):
        export_onnx(model, os.devnull)
