"""A long run's faults, end to end with tools/train.py on the toy COCO set:
SIGTERM (preemption) saves at the next iteration and exits 143; a SIGKILL in
the middle of a checkpoint write leaves only complete files; ``--resume``
after both ends with the weights of an uninterrupted run (mmhatnet.engine).
A full disk during a save is tests/test_engine/test_atomic_io.py's (through
mmengine's own save_checkpoint, as the runner calls it); each training run
here costs a process start, so the faults share one work dir."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
from toy_options import coco_data_options

import mmhatnet  # noqa: F401  (lets mmengine checkpoints load weights_only)

# end to end and minutes long: run by `MMHATNET_TESTS=all bash tools/run_tests.sh`
pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')
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


def _train(work, data, *extra, fault=None):
    env = dict(os.environ)
    env.pop('FAULT', None)
    if fault:
        env['FAULT'] = fault
    cmd = [sys.executable, DRIVER, CONFIG, '--work-dir', str(work), *extra,
           '--cfg-options', *_options(data)]
    # a session of its own: the SIGTERM goes to its process group only
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=1500, start_new_session=True)


def _ok(out):
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout + out.stderr


def _weights(path):
    return torch.load(path, map_location='cpu',
                      weights_only=True)['state_dict']


def _assert_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def _last(work):
    with open(work / 'last_checkpoint') as f:
        return f.read()


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    """The toy data, and an uninterrupted run on it."""
    tmp = tmp_path_factory.mktemp('long_runs')
    data = tmp / 'toy_coco'
    subprocess.run([sys.executable, 'tools/dataset_converters/make_toy_data.py',
                    'coco', str(data), '--train', str(IMAGES), '--val', '1',
                    '--size', '32'], cwd=ROOT, check=True,
                   capture_output=True)
    work = tmp / 'straight'
    _ok(_train(work, data))
    return data, work


def test_preempted_then_killed_run_ends_like_an_uninterrupted_one(
        straight, tmp_path):
    """One work dir through two faults: SIGTERM at iteration 5 (mid-epoch
    2), then, in the resumed run, SIGKILL half-way through the write of
    epoch_3.pth; the second resume ends with the uninterrupted weights."""
    data, reference = straight
    work = tmp_path / 'faulty'
    out = _train(work, data, fault='sigterm:5')  # epoch 2, batch 2 of 3
    log = out.stdout + out.stderr
    assert out.returncode == 143, log[-4000:]
    assert (f'SIGTERM: stopped after iteration 5 (epoch 2) and saved '
            f'{work}/iter_5.pth; exiting with status 143') in log
    assert 'Traceback' not in log and 'killed by signal' not in log
    assert _last(work) == str(work / 'iter_5.pth')
    assert not (work / 'epoch_2.pth').exists()

    out = _train(work, data, '--resume', fault='kill:epoch_3.pth:0.5')
    log = out.stdout + out.stderr
    assert out.returncode == -signal.SIGKILL, log[-4000:]
    assert 'resumed epoch: 1, iter: 5' in log, log[-4000:]
    assert 'drawing and dropping its first 2 batches' in log
    # the cut epoch, finished after the resume, is the uninterrupted one's
    _assert_equal(_weights(work / 'epoch_2.pth'),
                  _weights(reference / 'epoch_2.pth'))
    # killed while writing epoch_3.pth: only complete files under their
    # names, and last_checkpoint names the newest of them
    assert not (work / 'epoch_3.pth').exists()
    assert glob.glob(str(work / '.epoch_3.pth.*.tmp'))  # the cut temp file
    assert _last(work) == str(work / 'epoch_2.pth')

    log = _ok(_train(work, data, '--resume'))
    assert 'resumed epoch: 2, iter: 6' in log, log[-4000:]
    _assert_equal(_weights(work / f'epoch_{EPOCHS}.pth'),
                  _weights(reference / f'epoch_{EPOCHS}.pth'))
    assert not glob.glob(str(work / '.*.tmp'))  # removed by the next write
    assert not glob.glob(str(work / '.ckpt_hook.*'))
