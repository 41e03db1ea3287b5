"""A long run's faults, end to end with tools/train.py on the toy COCO set:
SIGTERM (preemption) saves at the next iteration and exits 143; a SIGKILL in
the middle of the write of ``last_checkpoint`` or of ``epoch_N.pth`` leaves
only complete files; ``--resume`` after all three ends with the weights of an
uninterrupted run (mmhatnet.engine). Kills at every kind of byte offset and a
full disk during a save are tests/test_engine/test_atomic_io.py's (through
mmengine's own save_checkpoint, as the runner calls it); each training run
here costs a process start, so the faults share one work dir, and the
detector is the toy one with a single block per stage (same widths, so the
neck and head are the toy config's): 5 runs in well under a minute."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
from common import ROOT
from toy_options import coco_data_options

import mmhatnet  # noqa: F401  (lets mmengine checkpoints load weights_only)
from mmhatnet.models import HATNet
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

TOY = osp.join(ROOT, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')
DRIVER = osp.join(osp.dirname(__file__), 'fault_driver.py')
EPOCHS, IMAGES = 3, 3  # batch 1: 3 iterations per epoch, 9 in all


def _options(data):
    return coco_data_options(data) + [
        'train_dataloader.batch_size=1',
        # a worker process: it must survive the SIGTERM sent to the group
        'train_dataloader.num_workers=1',
        'train_dataloader.dataset.pipeline.2.scale=(32,32)',
        # no randomness that a checkpoint does not restore (see test_resume)
        'model.backbone.drop_path_rate=0.0',
        'train_dataloader.dataset.pipeline.3.prob=0.0',
        f'train_cfg.max_epochs={EPOCHS}', 'train_cfg.val_interval=100',
        'param_scheduler.0.end=4', 'param_scheduler.1.milestones=[2]',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1',
        'randomness.seed=0', 'randomness.deterministic=True',
    ]


def _config(tmp):
    """The toy detector with one block per stage of HAT-Net-Tiny."""
    path = tmp / 'retinanet_hatnet_one_block_toy.py'
    arch = dict(HATNet.arch_zoo['tiny'], depths=[1, 1, 1, 1])
    fields = ', '.join(f'{k}={v!r}' for k, v in arch.items())
    path.write_text(f'_base_ = {TOY!r}\n'
                    f'model = dict(backbone=dict(arch=dict(_delete_=True, '
                    f'{fields})))\n')
    return str(path)


def _train(config, work, data, *extra, fault=None):
    env = dict(os.environ)
    env.pop('FAULT', None)
    if fault:
        env['FAULT'] = fault
    # one thread: the run is small, and the same arithmetic in every run
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, DRIVER, config, '--work-dir', str(work), *extra,
           '--cfg-options', *_options(data)]
    # a session of its own: the SIGTERM goes to its process group only
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600, start_new_session=True)


def _ok(out):
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


def _weights(path):
    return torch.load(path, map_location='cpu',
                      weights_only=WEIGHTS_ONLY)['state_dict']


def _assert_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def _last(work):
    with open(work / 'last_checkpoint') as f:
        return f.read()


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    """The toy data, the config, and an uninterrupted run of it."""
    tmp = tmp_path_factory.mktemp('long_runs')
    data = tmp / 'toy_coco'
    subprocess.run([sys.executable, 'tools/dataset_converters/make_toy_data.py',
                    'coco', str(data), '--train', str(IMAGES), '--val', '1',
                    '--size', '32'], cwd=ROOT, check=True,
                   capture_output=True)
    config = _config(tmp)
    work = tmp / 'straight'
    _ok(_train(config, work, data))
    return config, data, work


def test_preempted_then_killed_twice_run_ends_like_an_uninterrupted_one(
        straight, tmp_path):
    """One work dir through three faults: SIGTERM at iteration 5 (mid-epoch
    2); in the resumed run, SIGKILL half-way through the write of
    ``last_checkpoint`` after epoch_2.pth; in the next, SIGKILL half-way
    through the write of epoch_3.pth. The last resume ends with the
    uninterrupted weights."""
    config, data, reference = straight
    work = tmp_path / 'faulty'
    out = _train(config, work, data, fault='sigterm:5')  # epoch 2, batch 2
    log = out.stdout + out.stderr
    assert out.returncode == 143, log[-4000:]
    assert (f'SIGTERM: stopped after iteration 5 (epoch 2) and saved '
            f'{work}/iter_5.pth; exiting with status 143') in log
    assert 'Traceback' not in log and 'killed by signal' not in log
    assert _last(work) == str(work / 'iter_5.pth')
    assert not (work / 'epoch_2.pth').exists()

    out = _train(config, work, data, '--resume',
                 fault='kill:last_checkpoint:0.5')
    log = out.stdout + out.stderr
    assert out.returncode == -signal.SIGKILL, log[-4000:]
    assert 'resumed epoch: 1, iter: 5' in log, log[-4000:]
    assert 'drawing and dropping its first 2 batches' in log
    # epoch_2.pth is complete (the cut epoch, finished after the resume, is
    # the uninterrupted one's); last_checkpoint still names iter_5.pth whole
    _assert_equal(_weights(work / 'epoch_2.pth'),
                  _weights(reference / 'epoch_2.pth'))
    assert _last(work) == str(work / 'iter_5.pth')
    assert glob.glob(str(work / '.last_checkpoint.*.tmp'))  # the cut one

    out = _train(config, work, data, '--resume',
                 fault='kill:epoch_3.pth:0.5')
    log = out.stdout + out.stderr
    assert out.returncode == -signal.SIGKILL, log[-4000:]
    assert 'resumed epoch: 1, iter: 5' in log, log[-4000:]
    _assert_equal(_weights(work / 'epoch_2.pth'),
                  _weights(reference / 'epoch_2.pth'))
    # killed while writing epoch_3.pth: only complete files under their
    # names, and last_checkpoint names the newest of them
    assert not (work / 'epoch_3.pth').exists()
    assert glob.glob(str(work / '.epoch_3.pth.*.tmp'))  # the cut temp file
    assert _last(work) == str(work / 'epoch_2.pth')
    assert not glob.glob(str(work / '.last_checkpoint.*.tmp'))  # cleaned

    log = _ok(_train(config, work, data, '--resume'))
    assert 'resumed epoch: 2, iter: 6' in log, log[-4000:]
    _assert_equal(_weights(work / f'epoch_{EPOCHS}.pth'),
                  _weights(reference / f'epoch_{EPOCHS}.pth'))
    assert not glob.glob(str(work / '.*.tmp'))  # removed by the next write
    assert not glob.glob(str(work / '.ckpt_hook.*'))
