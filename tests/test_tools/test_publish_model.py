"""tools/model_converters/publish_model.py: only state_dict and meta are
kept, the name carries the date and the sha256 prefix that torch.hub's hash
check reads, the output appears whole or not at all, and user errors are
one 'error:' line with exit status 2."""
import datetime
import hashlib
import os
import subprocess
import sys

import pytest
import torch
from common import ROOT, load_tool
from torch.hub import HASH_REGEX

import mmhatnet  # noqa: F401  (weights_only reads mmengine checkpoints)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

TOOL = os.path.join(ROOT, 'tools', 'model_converters', 'publish_model.py')


def publish(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A checkpoint shaped like the runner's: weights, meta, optimizer,
    schedulers and message hub."""
    from mmengine.logging import MessageHub
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    hub = MessageHub.get_instance('publish_test')
    hub.update_scalar('train/loss', 1.0)
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth'
    torch.save(dict(
        meta=dict(epoch=1, iter=2, hook_msgs=dict(last_ckpt='/x/epoch_1.pth'),
                  dataset_meta=dict(classes=('a', 'b'))),
        state_dict=model.state_dict(), optimizer=opt.state_dict(),
        message_hub=hub.state_dict(), param_schedulers=[]), path)
    return path


def test_publishes_weights_with_hash_in_name(trained, tmp_path):
    out = publish(trained, tmp_path / 'retinanet_hatnet_tiny.pth')
    assert out.returncode == 0, out.stderr
    files = os.listdir(tmp_path)
    assert len(files) == 1, files  # no temporary left behind
    name = files[0]
    date = datetime.date.today().strftime('%Y%m%d')
    assert name.startswith(f'retinanet_hatnet_tiny_{date}-')
    data = (tmp_path / name).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert HASH_REGEX.search(name).group(1) == sha[:8]
    assert sha in out.stdout
    ckpt = torch.load(tmp_path / name, weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    assert 'hook_msgs' not in ckpt['meta']
    assert ckpt['meta']['dataset_meta'] == dict(classes=('a', 'b'))
    src = torch.load(trained, weights_only=WEIGHTS_ONLY)['state_dict']
    for key, value in src.items():
        assert torch.equal(ckpt['state_dict'][key], value)
    # torch.hub's own check accepts it, as after a download
    torch.hub.download_url_to_file(
        (tmp_path / name).as_uri(), str(tmp_path / 'copy.pth'),
        hash_prefix=HASH_REGEX.search(name).group(1), progress=False)


@pytest.mark.parametrize('case', ['missing', 'not_a_checkpoint', 'no_state',
                                  'no_folder', 'hash_in_wrong_place'])
def test_user_errors_are_one_line(case, trained, tmp_path, capsys):
    """In-process (the tool's main), to spare a Python start per case."""
    src, dst = trained, tmp_path / 'out.pth'
    if case == 'missing':
        src, expect = tmp_path / 'nope.pth', 'does not exist'
    elif case == 'not_a_checkpoint':
        src = tmp_path / 'notes.pth'
        src.write_text('hello')
        expect = 'cannot read'
    elif case == 'no_state':
        src = tmp_path / 'bare.pth'
        torch.save({'weight': torch.zeros(1)}, src)
        expect = 'has no state_dict'
    elif case == 'no_folder':
        dst, expect = tmp_path / 'nowhere' / 'out.pth', 'does not exist'
    else:
        dst, expect = tmp_path / 'fpn-1.5x.pth', 'hash from the wrong place'
    before = set(os.listdir(tmp_path))
    with pytest.raises(SystemExit) as exited:
        load_tool('model_converters/publish_model.py').main([str(src), str(dst)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    assert expect in lines[0]
    assert set(os.listdir(tmp_path)) == before  # nothing written
