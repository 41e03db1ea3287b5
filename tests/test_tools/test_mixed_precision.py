"""``--amp`` end to end on the CPU (bf16): the commands of
docs/user_guides/mixed_precision.md as written, the toy Semantic FPN, and
mmdet's own tools/train.py --amp on a config that loads mmhatnet through
``custom_imports``; each model with the shallow HAT-Net (Tiny's widths, one
block per stage: toy_options.SHALLOW_ARCH), so the file costs about two
minutes on 2 cores.

The page's ```bash blocks run in a temporary folder with the repository's
tools/ and a configs/toy/retinanet_hatnet_tiny_toy.py that is the real one
with the shallow backbone (so data/ and work_dirs/ are the test's), with
this toy substitution: make_toy_data.py writes 4 train and 2 val images of
96 pixels; every train/test command gets ``--cfg-options`` that make the
loaders run in the main process, resize the images to 128x96 and keep an
untrained detector's boxes (score_thr=0), train.py gets a schedule of 1
epoch (2 with --resume) of 2 iterations with a checkpoint each epoch, and
the documented ``epoch_20.pth`` is that run's ``epoch_2.pth``."""
import math
import os
import re
import shlex
import subprocess
import sys

import pytest
import torch
from common import ROOT, TORCH_VERSION
from test_foreign_train import MMDET_CONFIG, _own_train_py
from toy_options import coco_data_options, data_options, shallow_config

import mmhatnet  # noqa: F401  (lets mmengine checkpoints load weights_only)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

PAGE = os.path.join(ROOT, 'docs', 'user_guides', 'mixed_precision.md')
CPU_LINE = 'mixed precision (--amp): bfloat16 autocast on cpu'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
IN_PROCESS = [f'{loader}.{k}' for loader in LOADERS for k in (
    'num_workers=0', 'persistent_workers=False')]
# the toy RetinaNet's Resize, in its train and test pipelines
SMALL_IMAGES = ['train_dataloader.dataset.pipeline.2.scale=(128,96)',
                'val_dataloader.dataset.pipeline.1.scale=(128,96)',
                'test_dataloader.dataset.pipeline.1.scale=(128,96)']


def bash_commands(path):
    """The commands of the page's ```bash blocks, one argv each."""
    text = open(path).read()
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            if line.strip() and not line.lstrip().startswith('#'):
                commands.append(shlex.split(line))
    return commands


def toy_substitution(argv):
    argv = [sys.executable if a == 'python' else
            a.replace('epoch_20.pth', 'epoch_2.pth') for a in argv]
    tool = os.path.basename(argv[1])
    if tool == 'make_toy_data.py':
        return argv + ['--train', '4', '--val', '2', '--size', '96']
    if tool == 'train.py':
        epochs = 2 if '--resume' in argv else 1
        return argv + ['--cfg-options', *IN_PROCESS, *SMALL_IMAGES,
                       'train_dataloader.batch_size=2',
                       f'train_cfg.max_epochs={epochs}',
                       'train_cfg.val_interval=1',
                       'default_hooks.checkpoint.interval=1',
                       'default_hooks.logger.interval=1',
                       'model.test_cfg.score_thr=0.0']
    if tool == 'test.py':
        return argv + ['--cfg-options', *IN_PROCESS, *SMALL_IMAGES,
                       'model.test_cfg.score_thr=0.0']
    return argv


def run(argv, cwd, env=None):
    # one OpenMP thread: two on a busy 2-core machine spin for each other
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS='1')
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, (argv, log[-5000:])
    return log


def assert_finite_losses(log, at_least):
    losses = re.findall(r'\bloss: (\S+)', log)
    assert len(losses) >= at_least, log[-3000:]
    assert all(math.isfinite(float(v)) for v in losses), losses


def amp_dtype(checkpoint):
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=WEIGHTS_ONLY)
    return ckpt['optimizer'].get('amp_dtype')


def test_documented_commands_run(tmp_path):
    os.symlink(os.path.join(ROOT, 'tools'), tmp_path / 'tools')
    (tmp_path / 'configs' / 'toy').mkdir(parents=True)
    (tmp_path / 'configs' / 'toy' / 'retinanet_hatnet_tiny_toy.py'
     ).write_text(shallow_config(os.path.join(
         ROOT, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    logs = {}
    for argv in bash_commands(PAGE):
        key = os.path.basename(argv[1]) + (' resume' if '--resume' in argv
                                           else '')
        logs[key] = run(toy_substitution(argv), tmp_path, env)
    assert set(logs) == {'make_toy_data.py', 'train.py', 'train.py resume',
                         'test.py', 'gpu_check.py'}, sorted(logs)
    work = tmp_path / 'work_dirs' / 'retinanet_hatnet_tiny_toy'

    log = logs['train.py']
    assert CPU_LINE in log
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert re.search(r'coco/bbox_mAP: \d', log)  # validation under autocast
    assert_finite_losses(log, 2)
    assert amp_dtype(work / 'epoch_1.pth') == 'bfloat16'

    # a plain --resume goes on in bf16, from epoch 1
    log = logs['train.py resume']
    assert 'mixed precision (resuming a mixed-precision run): bfloat16' in log
    assert 'resumed epoch: 1, iter: 2' in log, log[-3000:]
    assert re.search(r'Epoch\(train\)\s+\[2\]\[2/2\]', log)
    assert_finite_losses(log, 2)
    assert amp_dtype(work / 'epoch_2.pth') == 'bfloat16'

    assert 'inference under bfloat16 autocast on cpu' in logs['test.py']
    assert re.search(r'coco/bbox_mAP: \d', logs['test.py'])
    assert 'result: all checks passed' in logs['gpu_check.py']
    # torch 2.1.2's CPU SDPA runs a masked call as its math composite, which
    # dispatches no SDPA operator to name (2.14.1, 2.15.0: the flash kernel)
    masked = re.search(r'- bf16, not divisible: .*scaled_dot_product\S* '
                       r'\(mask\)', logs['gpu_check.py'])
    assert masked or TORCH_VERSION < (2, 14), logs['gpu_check.py'][-2000:]


def test_semantic_fpn_trains_and_tests_in_bf16(tmp_path):
    data = tmp_path / 'toy_ade'
    run([sys.executable, 'tools/dataset_converters/make_toy_data.py', 'ade',
         str(data), '--train', '4', '--val', '2', '--size', '96'], ROOT)
    config = tmp_path / 'fpn_hatnet_shallow_toy.py'
    config.write_text(shallow_config(
        os.path.join(ROOT, 'configs', 'toy', 'fpn_hatnet_tiny_toy.py')))
    options = data_options(data) + [
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1']
    work = tmp_path / 'work'
    log = run([sys.executable, 'tools/train.py', str(config), '--amp',
               '--work-dir', str(work), '--cfg-options', *options], ROOT)
    assert CPU_LINE in log
    assert re.search(r'Iter\(train\)\s+\[2/2\]', log), log[-3000:]
    assert_finite_losses(log, 2)
    assert amp_dtype(work / 'iter_2.pth') == 'bfloat16'
    log = run([sys.executable, 'tools/test.py', str(config),
               str(work / 'iter_2.pth'), '--amp', '--work-dir',
               str(tmp_path / 'test'), '--cfg-options', *options], ROOT)
    assert 'inference under bfloat16 autocast on cpu' in log
    assert re.search(r'mIoU: \d', log), log[-3000:]


def test_mmdet_own_train_py_amp_trains_on_the_cpu(tmp_path):
    """mmdet's tools/train.py --amp sets optim_wrapper.type='AmpOptimWrapper'
    (mmengine's refuses a CPU); a user's config with mmhatnet in
    custom_imports and the one opt-in line trains in bf16 here."""
    train_py = _own_train_py('mmdet')
    data = tmp_path / 'toy_coco'
    run([sys.executable, 'tools/dataset_converters/make_toy_data.py', 'coco',
         str(data), '--train', '4', '--val', '2', '--size', '96'], ROOT)
    (tmp_path / 'retinanet_hatnet_tiny_coco.py').write_text(
        MMDET_CONFIG + "optim_wrapper = dict(constructor="
        "'MixedPrecisionOptimWrapperConstructor')\n")
    config = tmp_path / 'retinanet_hatnet_shallow_coco.py'
    config.write_text(shallow_config(
        str(tmp_path / 'retinanet_hatnet_tiny_coco.py')))
    classes = '(circle,square,triangle,cross)'
    options = coco_data_options(data) + [
        f'train_dataloader.dataset.metainfo.classes={classes}',
        'model.bbox_head.num_classes=4',
        'train_dataloader.dataset.pipeline.2.scale=(160,128)',
        'train_dataloader.batch_size=2', 'optim_wrapper.optimizer.lr=0.001',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1']
    work = tmp_path / 'work'
    log = run([sys.executable, train_py, str(config), '--amp', '--work-dir',
               str(work), '--cfg-options', *options], tmp_path)
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert_finite_losses(log, 2)
    assert amp_dtype(work / 'epoch_1.pth') == 'bfloat16'


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='fp16 is refused on machines without a GPU')
def test_fp16_on_the_cpu_is_refused_before_anything_is_made(tmp_path):
    config = os.path.join(ROOT, 'configs', 'toy',
                          'retinanet_hatnet_tiny_toy.py')
    work = tmp_path / 'work'
    out = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--amp', '--amp-dtype',
         'fp16', '--work-dir', str(work)], cwd=ROOT, capture_output=True,
        text=True, timeout=300)
    assert out.returncode != 0
    # the last line (mmengine may warn about pkg_resources before it)
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == ('error: fp16 mixed precision runs on GPUs only; on '
                         'the CPU use --amp alone (bf16) or --amp-dtype '
                         'bf16'), out.stderr[-2000:]
    assert 'Traceback' not in out.stderr
    assert not work.exists()
