"""Every command the documentation shows runs as shown.

``PAGES`` are the README and the docs pages it owns. Every line of a ```bash
block in them (continuation lines joined, comments dropped) must be a key of
``COMMANDS``, the table below, which says for each one either

* ``Run``: run it in a fresh workspace (a temporary folder with ``configs/``,
  ``tools/``, ``mmhatnet/``, ``setup.py`` and ``README.md`` linked in, the
  interpreter's ``bin/`` first on ``PATH``, so ``python`` and ``pip`` are this
  environment's), after the substitutions the entry states. The substitutions
  only trade what is not here for what is: the real datasets for the toy sets of
  ``tools/dataset_converters/make_toy_data.py``, a real config for its toy
  version in ``configs/toy/``, 8 GPUs for one process, a released checkpoint for
  the golden one in the official format (``tests/data/micro_official.pth``), and
  a schedule of 1 epoch on 4 images; each ``old`` must occur in the command; or
* ``Covered``: not run here, with the reason (the main job and the test suite
  run themselves; the installer is what CI runs first).

A ```bash command the table does not know, or a table entry no page shows,
fails ``test_every_bash_command_is_in_the_table``. Commands that are not meant
to be run as shown (they need COCO, GPUs, a cluster or an hour) go in ```text
blocks. Every ```python block of ``SNIPPET_PAGES`` is a config snippet: written
to a file, it must load with ``Config.fromfile``, build its model (the released
checkpoint replaced by no init: there is no network here) and equal, key by
key, the config of ours ``SNIPPETS`` names.
"""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from typing import NamedTuple, Optional, Tuple

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BIN = osp.dirname(sys.executable)
MICRO = osp.join(ROOT, 'tests', 'data', 'micro_official.pth')

PAGES = (
    'README.md',
    'docs/get_started.md',
    'docs/get_started/main_job.md',
    'docs/user_guides/train_test.md',
    'docs/user_guides/own_config.md',
    'docs/useful_tools.md',
    'docs/backbone.md',
    'docs/model_zoo.md',
    'docs/performance.md',
    'docs/development.md',
    'docs/changelog.md',
)
# a page whose commands continue those of another page (same workspace, run
# after it), as its text says
CONTINUES = {'docs/useful_tools.md': 'docs/user_guides/train_test.md'}

TOY_DET = 'configs/toy/retinanet_hatnet_tiny_toy.py'
SHORT = ('--cfg-options', 'train_cfg.max_epochs=1')  # 1 epoch = 1 iteration
SMALL_DATA = ('--train', '4', '--val', '2')


class Run(NamedTuple):
    replace: Tuple[Tuple[str, str], ...] = ()
    append: Tuple[str, ...] = ()
    setup: Tuple[str, ...] = ()  # commands run first, in the workspace
    expect: Optional[str] = None  # a regex the output must match


class Covered(NamedTuple):
    reason: str


TOY_COCO_SETUP = (
    'python tools/dataset_converters/make_toy_data.py coco data/toy_coco '
    + ' '.join(SMALL_DATA), )

COMMANDS = {
    # --- installing
    'pip install -e .': Run(
        # a real install would re-point this environment's editable mmhatnet
        # at the workspace; a dry run resolves setup.py's requirements against
        # the installed stack and must find nothing else to install
        replace=(('install -e', 'install --dry-run --no-build-isolation -e'), ),
        expect=r'(?m)^Would install mmhatnet-[\w.]+$'),
    'bash tools/install.sh': Covered(
        'CI runs it first: .ci/run is `bash tools/run_tests.sh`, which starts '
        'with tools/install.sh; a second run here would reinstall this '
        'environment'),
    'python -c "import mmhatnet; print(mmhatnet.__version__)"': Run(
        expect=r'^\d+\.\d+\.\d+\s*$'),
    # --- the two commands
    'bash tools/run_main_job.sh': Covered(
        'the main job itself: minutes of training, run as such'),
    'bash tools/run_main_job.sh --seed 1': Covered(
        'the main job itself with another seed (the flag is the script\'s)'),
    'bash tools/run_tests.sh': Covered(
        'this suite: CI runs exactly this command'),
    # --- README: training and testing on your own COCO
    'bash tools/dist_train.sh configs/retinanet_hatnet_small.py 8': Run(
        replace=(('configs/retinanet_hatnet_small.py 8', TOY_DET + ' 1'), ),
        append=SHORT, setup=TOY_COCO_SETUP),
    'python tools/train.py configs/retinanet_hatnet_small.py --auto-scale-lr '
    '--cfg-options train_dataloader.dataset.data_root=/data/coco/ '
    'val_dataloader.dataset.data_root=/data/coco/ '
    'test_dataloader.dataset.data_root=/data/coco/ '
    'val_evaluator.ann_file=/data/coco/annotations/instances_val2017.json '
    'test_evaluator.ann_file=/data/coco/annotations/instances_val2017.json':
    Run(replace=(('configs/retinanet_hatnet_small.py', TOY_DET),
                 ('/data/coco/', 'data/my_coco/')),
        append=SHORT,
        setup=('python tools/dataset_converters/make_toy_data.py coco '
               'data/my_coco ' + ' '.join(SMALL_DATA), )),
    'bash tools/dist_test.sh configs/retinanet_hatnet_small.py '
    'work_dirs/retinanet_hatnet_small/epoch_12.pth 8': Run(
        replace=(('configs/retinanet_hatnet_small.py', TOY_DET),
                 ('work_dirs/retinanet_hatnet_small/epoch_12.pth 8',
                  'work_dirs/retinanet_hatnet_tiny_toy/epoch_1.pth 1')),
        expect=r'coco/bbox_mAP'),
    # --- docs/user_guides/train_test.md: the toy detector
    'python tools/dataset_converters/make_toy_data.py coco data/toy_coco': Run(
        append=SMALL_DATA),
    'python tools/train.py configs/toy/retinanet_hatnet_tiny_toy.py': Run(
        append=SHORT),
    'python tools/test.py configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --show-dir vis': Run(
        replace=(('epoch_20.pth', 'epoch_1.pth'), ),
        expect=r'pictures of the predictions: '),
    'bash tools/dist_train.sh configs/toy/retinanet_hatnet_tiny_toy.py 2':
    Covered('tests/test_tools/test_dist_train.py::'
            'test_dist_train_then_dist_test_on_two_cpu_processes runs exactly '
            'this on toy data and checks both ranks\' weights'),
    # --- docs/useful_tools.md (continues train_test.md's workspace)
    'python tools/demo.py data/toy_coco/val2017 '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --out-dir demo_out': Run(
        replace=(('epoch_20.pth', 'epoch_1.pth'), )),
    'python tools/visualize_attention.py '
    'data/toy_coco/val2017/000000000001.jpg '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --stage 1 '
    '--point 100 120 --out attn.png': Run(
        replace=(('epoch_20.pth', 'epoch_1.pth'), )),
    'python tools/analysis/sweep_g1g2.py '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth': Run(
        replace=(('epoch_20.pth', 'epoch_1.pth'), )),
    'python tools/analysis/get_flops.py configs/hatnet_tiny_in1k.py': Run(),
    'python tools/analysis/paper_tables.py --tables 1 --no-flops': Run(),
    # --- docs/backbone.md: converting a released checkpoint
    'python tools/model_converters/hatnet2mmhatnet.py HAT-Net_Small.pth '
    'hatnet-small.pth': Run(replace=(('HAT-Net_Small.pth', MICRO), )),
    'python tools/model_converters/hatnet2mmhatnet.py HAT-Net_Small.pth '
    'hatnet-small_in1k.pth --with-head': Run(
        replace=(('HAT-Net_Small.pth', MICRO), )),
}

# what each command leaves behind, checked after it ran (paths in the
# workspace); an output the page promises must exist
OUTPUTS = {
    'python tools/dataset_converters/make_toy_data.py coco data/toy_coco':
    ('data/toy_coco/annotations/instances_val2017.json', ),
    'python tools/train.py configs/toy/retinanet_hatnet_tiny_toy.py':
    ('work_dirs/retinanet_hatnet_tiny_toy/epoch_1.pth', ),
    'python tools/visualize_attention.py '
    'data/toy_coco/val2017/000000000001.jpg '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --stage 1 '
    '--point 100 120 --out attn.png': ('attn.png', ),
    'python tools/demo.py data/toy_coco/val2017 '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --out-dir demo_out':
    ('demo_out/000000000001.jpg', 'demo_out/000000000002.jpg'),
    'python tools/analysis/sweep_g1g2.py '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth':
    ('work_dirs/retinanet_hatnet_tiny_toy/sweep_g1g2/sweep_g1g2.md',
     'work_dirs/retinanet_hatnet_tiny_toy/sweep_g1g2/sweep_g1g2.png'),
    'python tools/model_converters/hatnet2mmhatnet.py HAT-Net_Small.pth '
    'hatnet-small.pth': ('hatnet-small.pth', ),
    'python tools/model_converters/hatnet2mmhatnet.py HAT-Net_Small.pth '
    'hatnet-small_in1k.pth --with-head': ('hatnet-small_in1k.pth', ),
}

# the ```python snippets: (page, index among its python blocks) -> our config
SNIPPET_PAGES = ('README.md', 'docs/user_guides/own_config.md')
SNIPPETS = {
    ('README.md', 0): 'configs/retinanet_hatnet_tiny.py',
    ('README.md', 1): 'configs/fpn_hatnet_tiny.py',
    ('README.md', 2): 'configs/hatnet_tiny_in1k.py',
    ('docs/user_guides/own_config.md', 0): 'configs/mask_rcnn_hatnet_small.py',
}
# what a snippet must equal in our config
SNIPPET_KEYS = ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                'val_cfg', 'test_cfg', 'auto_scale_lr', 'default_hooks',
                'train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator', 'default_scope')


def blocks(page, lang):
    """The ```lang blocks of ``page``, in order."""
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        text = f.read()
    return re.findall(rf'^```{lang}\n(.*?)^```\s*$', text, re.S | re.M)


def commands(page):
    """The command lines of the page's ```bash blocks, continuation lines
    joined and comments dropped, normalised through shlex."""
    out = []
    for block in blocks(page, 'bash'):
        for line in block.replace('\\\n', ' ').splitlines():
            words = shlex.split(line, comments=True)
            if words:
                out.append(shlex.join(words))
    return out


def key(command):
    return shlex.join(shlex.split(command))


TABLE = {key(c): spec for c, spec in COMMANDS.items()}
OUTPUT_TABLE = {key(c): paths for c, paths in OUTPUTS.items()}


def test_every_bash_command_is_in_the_table():
    shown = {c for page in PAGES for c in commands(page)}
    unknown = sorted(shown - TABLE.keys())
    assert not unknown, (
        'commands in ```bash blocks that tests/test_docs/test_commands.py '
        'neither runs nor maps (add them to COMMANDS, or show them in a '
        '```text block):\n' + '\n'.join(unknown))
    stale = sorted(TABLE.keys() - shown)
    assert not stale, 'COMMANDS entries no page shows:\n' + '\n'.join(stale)
    assert OUTPUT_TABLE.keys() <= TABLE.keys()
    for command, spec in TABLE.items():
        if isinstance(spec, Covered):
            assert spec.reason.strip(), command
            test_ref = re.match(r'(tests/\S+\.py)::(\w+)', spec.reason)
            if test_ref:  # the test named as covering it exists
                with open(osp.join(ROOT, test_ref.group(1))) as f:
                    assert f'def {test_ref.group(2)}(' in f.read(), spec.reason


def test_checkpoint_names_match_the_schedules():
    """``work_dirs/<config>/epoch_N.pth`` in a command is what that config's
    schedule writes last (the tests run 1 epoch and substitute epoch_1)."""
    for page in PAGES:
        for command in commands(page):
            for name, epoch in re.findall(r'work_dirs/(\w+)/epoch_(\d+)\.pth',
                                          command):
                path = next(p for p in (f'configs/{name}.py',
                                        f'configs/toy/{name}.py')
                            if osp.exists(osp.join(ROOT, p)))
                cfg = Config.fromfile(osp.join(ROOT, path))
                assert cfg.train_cfg.max_epochs == int(epoch), (page, command)


def _workspace(tmp_path):
    for name in ('configs', 'tools', 'mmhatnet', 'setup.py', 'README.md'):
        os.symlink(osp.join(ROOT, name), tmp_path / name)
    return tmp_path


def _env(workspace):
    env = dict(os.environ)
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = str(workspace)
    env['PYTHON'] = sys.executable
    return env


def _run(command, workspace, env):
    proc = subprocess.run(['bash', '-c', command], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f'`{command}` exited {proc.returncode}:\n{output[-4000:]}')
    return output


def _as_run(command, spec):
    for old, new in spec.replace:
        assert old in command, (command, old)
        command = command.replace(old, new)
    return command + ''.join(' ' + shlex.quote(a) for a in spec.append)


@pytest.mark.parametrize(
    'page', [p for p in PAGES if p not in CONTINUES.values()])
def test_every_bash_command_runs_as_shown(page, tmp_path):
    workspace = _workspace(tmp_path)
    env = _env(workspace)
    chain = [page] + [p for p, after in CONTINUES.items() if after == page]
    for p in chain:
        for command in commands(p):
            spec = TABLE[command]
            if isinstance(spec, Covered):
                continue
            for setup in spec.setup:
                _run(setup, workspace, env)
            output = _run(_as_run(command, spec), workspace, env)
            if spec.expect:
                assert re.search(spec.expect, output), (command, output[-3000:])
            for path in OUTPUT_TABLE.get(command, ()):
                assert osp.isfile(workspace / path), (command, path)
            if '--show-dir' in command:  # the pictures are where it says
                shown = re.findall(r'pictures of the predictions: (\S+)', output)
                assert shown and os.listdir(
                    osp.join(workspace, shown[-1])), (command, shown)


def _snippets():
    for page in SNIPPET_PAGES:
        for i, _ in enumerate(blocks(page, 'python')):
            yield page, i


def test_every_python_snippet_is_mapped():
    assert set(_snippets()) == SNIPPETS.keys()


def _no_checkpoint(cfg):
    backbone = cfg.model.backbone
    if backbone.get('init_cfg') and backbone.init_cfg.get('type') == 'Pretrained':
        backbone.init_cfg = None


@pytest.mark.parametrize('where', sorted(SNIPPETS))
def test_config_snippet_builds_and_equals_our_config(where, tmp_path):
    page, index = where
    snippet = tmp_path / 'snippet.py'
    snippet.write_text(blocks(page, 'python')[index])
    cfg = Config.fromfile(str(snippet))
    ours = Config.fromfile(osp.join(ROOT, SNIPPETS[where]))
    for name in SNIPPET_KEYS:
        assert cfg.get(name) == ours.get(name), (where, name)

    import importlib
    scope = cfg.default_scope
    importlib.import_module(f'{scope}.models')  # registers the library
    from mmengine.registry import DefaultScope
    registry = importlib.import_module(f'{scope}.registry').MODELS
    _no_checkpoint(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    assert type(model.backbone).__name__ == 'HATNet'
