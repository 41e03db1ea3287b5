"""tools/dist_train.sh and tools/dist_test.sh: two processes on this CPU-only
machine (torchrun, gloo) train the toy RetinaNet for one epoch and test its
checkpoint. A small hook, imported through ``custom_imports`` like any user
module, saves every rank's weights before and after training, so the test
can check that data-parallel training kept the two replicas identical while
changing them. The Slurm scripts are checked for the srun command they
compose, with a stand-in ``srun`` on PATH."""
import os
import re
import socket
import subprocess
import sys
import textwrap

import torch
from common import ROOT
from toy_options import coco_data_options

import mmhatnet  # noqa: F401  (lets mmengine checkpoints load weights_only)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

CONFIG = 'configs/toy/retinanet_hatnet_tiny_toy.py'

HOOK = '''
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SaveRankWeightsHook(Hook):
    """Saves this rank's model weights as WORK_DIR/rank{r}_{before,after}.pth
    around training."""

    def _save(self, runner, when):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(state, osp.join(runner.work_dir,
                                   f'rank{get_rank()}_{when}.pth'))

    def before_train(self, runner):
        self._save(runner, 'before')

    def after_train(self, runner):
        self._save(runner, 'after')
'''


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _bash(script, *args, env, timeout=300):
    out = subprocess.run(['bash', os.path.join('tools', script), *map(str, args)],
                         cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    return log


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=WEIGHTS_ONLY)


def test_dist_train_then_dist_test_on_two_cpu_processes(tmp_path):
    data = tmp_path / 'toy_coco'
    subprocess.run([sys.executable, 'tools/dataset_converters/make_toy_data.py',
                    'coco', str(data), '--train', '4', '--val', '2', '--size',
                    '96'], cwd=ROOT, check=True, capture_output=True)
    hooks = tmp_path / 'hooks'
    hooks.mkdir()
    (hooks / 'rank_weights_hook.py').write_text(HOOK)
    # custom_imports must be in a config file: Config.fromfile imports them
    # before --cfg-options are merged, so they cannot come from the command
    # line
    config = tmp_path / 'dist_toy.py'
    config.write_text(textwrap.dedent(f'''\
        _base_ = {os.path.join(ROOT, CONFIG)!r}
        custom_imports = dict(imports=['mmhatnet', 'rank_weights_hook'],
                              allow_failed_imports=False)
        default_hooks = dict(rank_weights=dict(type='SaveRankWeightsHook'))
        '''))
    # the hook module is found through PYTHONPATH, which dist_train.sh
    # extends with the repository root
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
               PYTHONPATH=str(hooks), OMP_NUM_THREADS='1')
    options = coco_data_options(data) + [
        # 4 images, 1 per process and iteration: 2 iterations on each rank
        'train_dataloader.batch_size=1', 'val_dataloader.batch_size=1',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
        'model.test_cfg.score_thr=0.0',  # an untrained model's boxes count too
    ]
    work = tmp_path / 'work'
    log = _bash('dist_train.sh', config, 2, '--work-dir', work,
                '--cfg-options', *options, env=env)

    # two processes over gloo, each with half of the data
    assert 'Distributed launcher: pytorch' in log, log[-6000:]
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert "dist_cfg: {'backend': 'gloo'}" in log
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-6000:]
    assert not re.search(r'Epoch\(train\)\s+\[1\]\[3/', log)
    # each rank validated one of the 2 images, and the COCO metric was
    # computed on the predictions gathered from both
    assert re.search(r'Epoch\(val\)\s+\[1\]\[1/1\]', log), log[-6000:]
    assert re.search(r'coco/bbox_mAP: \d', log), log[-6000:]
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    assert (work / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')

    before = [_weights(work / f'rank{r}_before.pth') for r in (0, 1)]
    after = [_weights(work / f'rank{r}_after.pth') for r in (0, 1)]
    saved = _weights(ckpt)  # written by rank 0, without DDP's 'module.'
    assert after[0].keys() == after[1].keys() == saved['state_dict'].keys()
    changed = 0
    for key, value in after[0].items():
        # the replicas start equal and stay equal: gradients were averaged
        torch.testing.assert_close(before[1][key], before[0][key], rtol=0,
                                   atol=0, msg=f'{key} (before)')
        torch.testing.assert_close(after[1][key], value, rtol=0, atol=0,
                                   msg=f'{key} (after training)')
        torch.testing.assert_close(saved['state_dict'][key], value, rtol=0,
                                   atol=0, msg=f'{key} (checkpoint)')
        changed += not torch.equal(value, before[0][key])
    # and training moved them: every weight of the backbone's stem and of
    # the head got an update, and most tensors changed
    trained = [k for k in after[0] if k.endswith('.weight')
               and k.startswith(('backbone.stem.', 'bbox_head.'))]
    assert trained
    for key in trained:
        assert not torch.equal(after[0][key], before[0][key]), key
    assert changed > len(after[0]) // 2, (changed, len(after[0]))

    # dist_test.sh on the checkpoint: two processes, the metric over both
    test_dir = tmp_path / 'test'
    env['PORT'] = str(_free_port())
    log = _bash('dist_test.sh', CONFIG, ckpt, 2, '--work-dir', test_dir,
                '--cfg-options', *options, env=env)
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert f'Load checkpoint from {ckpt}' in log
    assert re.search(r'Epoch\(test\)\s+\[1/1\]', log), log[-6000:]
    assert re.search(r'coco/bbox_mAP: \d', log), log[-6000:]


FAKE_SRUN = '''#!/usr/bin/env bash
# stands in for Slurm's srun: records its arguments and PYTHONPATH
printf '%s\\n' "$@" > "$SRUN_RECORD"
printf '%s\\n' "$PYTHONPATH" > "$SRUN_RECORD.pythonpath"
'''


def _srun_args(tmp_path, script, *args, **env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    record = tmp_path / f'{script}.args'
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
               SRUN_RECORD=str(record), PYTHON=sys.executable, **env)
    subprocess.run(['bash', os.path.join('tools', script), *args], cwd=ROOT,
                   env=env, check=True, capture_output=True, timeout=60)
    pythonpath = (tmp_path / f'{script}.args.pythonpath').read_text()
    assert os.path.samefile(pythonpath.split(os.pathsep)[0].strip(), ROOT)
    # the tool is called by its absolute path: compare it as a real path
    return [os.path.realpath(a) if a.endswith('.py') and os.path.isabs(a)
            else a for a in record.read_text().splitlines()]


def test_slurm_scripts_compose_srun(tmp_path):
    root = os.path.realpath(ROOT)
    args = _srun_args(tmp_path, 'slurm_train.sh', 'part', 'job', CONFIG,
                      'work dir', '--cfg-options', 'a.b=1',
                      GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='3',
                      SRUN_ARGS='--quotatype=auto --time=1')
    assert args == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=3', '--kill-on-bad-exit=1',
        '--quotatype=auto', '--time=1', sys.executable, '-u',
        f'{root}/tools/train.py', CONFIG, '--work-dir=work dir',
        '--launcher', 'slurm', '--cfg-options', 'a.b=1'
    ]
    args = _srun_args(tmp_path, 'slurm_test.sh', 'part', 'job', CONFIG,
                      'ckpt.pth', '--work-dir', 'out')
    assert args == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=8',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        sys.executable, '-u', f'{root}/tools/test.py', CONFIG, 'ckpt.pth',
        '--launcher', 'slurm', '--work-dir', 'out'
    ]


def test_scripts_print_usage_without_arguments():
    for script, usage in [('dist_train.sh', 'CONFIG GPUS'),
                          ('dist_test.sh', 'CONFIG CHECKPOINT GPUS'),
                          ('slurm_train.sh', 'PARTITION JOB_NAME CONFIG WORK_DIR'),
                          ('slurm_test.sh',
                           'PARTITION JOB_NAME CONFIG CHECKPOINT')]:
        path = os.path.join(ROOT, 'tools', script)
        assert os.access(path, os.X_OK), f'{script} is not executable'
        out = subprocess.run([path], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 2, (script, out.stderr)
        assert usage in out.stderr, (script, out.stderr)
