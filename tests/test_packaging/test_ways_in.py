"""docs/get_started/ways_in.md, run as a user of the wheel runs it: every
```bash block of the page, in order, in one shell, in an empty folder, with
the wheel installed (``pip install --no-deps --target``, see conftest) and
nothing of the clone on the path. Then what those commands left behind is
checked, and the errors the page promises are provoked."""
import os
import os.path as osp
import re
import shutil
import sys

from wheel_helpers import ROOT, run, wheel_env


def test_the_page_commands_run(doc_run, wheel_site):
    work, rc, log = doc_run
    assert rc == 0, log[-8000:]
    # the installed package's files, not the clone's
    assert f'{wheel_site}/mmhatnet/.mim' in log
    assert ROOT + '/mmhatnet' not in log


def test_mim_train_and_our_train_one_iteration(doc_run):
    work, rc, log = doc_run
    assert rc == 0, log[-8000:]
    for name in ('my_retinanet', 'my_retinanet_py'):
        assert (work / 'work_dirs' / name / 'epoch_1.pth').is_file(), name
    # one iteration each, the loss logged
    done = re.findall(r'Epoch\(train\)\s+\[1\]\[1/1\].*loss: \d', log)
    assert len(done) == 2, log[-3000:]


def test_mim_test_and_get_flops(doc_run):
    work, rc, log = doc_run
    assert rc == 0, log[-8000:]
    # the 2 toy val images (one batch of the toy config's 4), tested with
    # the checkpoint mim train wrote
    assert re.search(r'Epoch\(test\)\s+\[1/1\]', log), log[-3000:]
    assert 'Load checkpoint from work_dirs/my_retinanet/epoch_1.pth' in log
    assert re.search(r'FLOPs, complete: +[\d.]+ G', log), log[-3000:]


def check_installed(env, code, cwd):
    """Run ``code`` as a user of the wheel (never from the clone's root,
    where ``-c`` would import the clone's mmhatnet)."""
    return run([sys.executable, '-c', code], cwd, env)[1]


def test_mmhatnet_bases_get_the_library_scope(wheel_site, tmp_path):
    """Read through mmhatnet::, the classifier's dicts carry
    _scope_='mmhatnet'; read_config gives them mmpretrain's, and the runner's
    root registry then builds them."""
    (tmp_path / 'mine.py').write_text(
        "_base_ = 'mmhatnet::hatnet/hatnet_tiny_in1k.py'\n")
    code = f'''
import mmhatnet
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmhatnet.utils.mim import read_config
def scopes(node, out):
    if isinstance(node, dict):
        if '_scope_' in node:
            out.append(node['_scope_'])
        for v in node.values():
            scopes(v, out)
    elif isinstance(node, (list, tuple)):
        for v in node:
            scopes(v, out)
    return out
raw = Config.fromfile("{tmp_path}/mine.py")
print('raw', raw.model._scope_, raw.model.backbone.get('_scope_'))
cfg = read_config("{tmp_path}/mine.py")
print('resolved', sorted(set(scopes(cfg._cfg_dict.to_dict(), []))))
init_default_scope(cfg.default_scope)
import mmpretrain.models

cfg.model.backbone.arch = dict(embed_dims=[8, 8, 8, 8], head_dim=8,
    mlp_ratios=[2, 2, 2, 2], depths=[1, 1, 1, 1], kernel_sizes=[3, 3, 3, 3])
cfg.model.head.in_channels = 8
raw.model.backbone.arch = cfg.model.backbone.arch
raw.model.head.in_channels = 8
try:
    MODELS.build(raw.model)
except KeyError as e:
    print('raw fails:', e)
model = MODELS.build(cfg.model)
print('built', type(model).__name__, type(model.backbone).__name__)
'''
    out = check_installed(wheel_env(wheel_site), code, tmp_path)
    assert 'raw mmhatnet None' in out, out  # mmengine's stamp, outer dict
    assert "resolved ['mmpretrain']" in out, out
    assert 'built ImageClassifier HATNet' in out, out
    # without the fix the runner's registry cannot build it
    assert re.search('raw fails:.*ImageClassifier', out), out


def test_a_base_without_folder_is_one_error_line(wheel_site, tmp_path):
    (tmp_path / 'mine.py').write_text(
        "_base_ = 'mmhatnet::retinanet_hatnet_small.py'\n")
    env = wheel_env(wheel_site)
    train = f'{wheel_site}/mmhatnet/.mim/tools/train.py'
    rc, log = run([sys.executable, train, 'mine.py'], tmp_path, env,
                  check=False)
    assert rc == 2, log
    assert log.strip().splitlines()[-1].startswith('error: mine.py: a '
                                                   'mmhatnet:: base needs '
                                                   'a folder'), log
    assert 'Traceback' not in log


def test_a_checkout_not_installed_says_what_works(tmp_path):
    """A checkout on PYTHONPATH, never installed, has no .mim: a mmhatnet::
    base is an error that names pip install -e and the path to inherit."""
    checkout = tmp_path / 'checkout'
    for name in ('mmhatnet', 'configs'):
        shutil.copytree(osp.join(ROOT, name), checkout / name,
                        ignore=shutil.ignore_patterns('.mim*', '__pycache__'))
    (tmp_path / 'mine.py').write_text(
        "_base_ = 'mmhatnet::toy/retinanet_hatnet_tiny_toy.py'\n")
    env = dict(os.environ, PYTHONPATH=str(checkout))
    rc, log = run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                   'mine.py'], tmp_path, env, check=False)
    assert rc == 2, log
    last = log.strip().splitlines()[-1]
    assert last.startswith('error: mine.py: mmhatnet:: bases need'), log
    assert f'pip install -e {checkout}' in last, last
    assert f"_base_ = '{checkout}/configs/" in last, last


def test_the_wheel_holds_configs_tools_and_index(wheel_site):
    import glob

    from mmhatnet.utils.mim import FOLDERS
    mim = osp.join(str(wheel_site), 'mmhatnet', '.mim')
    assert osp.isfile(osp.join(mim, 'model-index.yml'))
    configs = glob.glob(osp.join(ROOT, 'configs', '**', '*.*'), recursive=True)
    for path in configs:
        rel = osp.relpath(path, ROOT)
        assert osp.isfile(osp.join(mim, rel)), rel
    folders = set()
    for path in glob.glob(osp.join(ROOT, 'configs', '*.py')):
        name = osp.basename(path)
        alias = glob.glob(osp.join(mim, 'configs', '*', name))
        assert len(alias) == 1, (name, alias)  # one folder per config
        with open(alias[0]) as f:
            assert f"_base_ = '../{name}'" in f.read()
        folders.add(osp.basename(osp.dirname(alias[0])))
    folders |= {osp.basename(osp.dirname(p)) for p in glob.glob(
        osp.join(ROOT, 'configs', '*', '*.py'))}
    assert folders == set(FOLDERS)  # the error messages list them all
    for tool in ('train.py', 'test.py', 'analysis/get_flops.py',
                 'model_converters/publish_model.py'):
        assert osp.isfile(osp.join(mim, 'tools', tool)), tool
    for clone_only in ('install.sh', 'run_tests.sh', 'run_main_job.sh'):
        assert not osp.exists(osp.join(mim, 'tools', clone_only))


def test_mmdet_own_train_cannot_read_mmhatnet_bases(doc_run, wheel_site):
    """As the page says: mmdet's tools/train.py reads the bases before the
    config's custom_imports run, so mmengine does not know mmhatnet yet."""
    import importlib.util
    work, rc, log = doc_run
    assert rc == 0, log[-8000:]
    train = osp.join(osp.dirname(importlib.util.find_spec('mmdet').origin),
                     '.mim', 'tools', 'train.py')
    rc, log = run([sys.executable, train, 'my_retinanet.py'], work,
                  wheel_env(wheel_site), check=False)
    assert rc != 0
    assert ('AssertionError: mmengine does not support to load mmhatnet '
            'config.') in log, log[-3000:]
