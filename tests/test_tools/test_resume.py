"""--resume on torch >= 2.6: a run killed with SIGKILL after a checkpoint
resumes and ends with the weights of an uninterrupted run."""
import os
import re
import signal
import subprocess
import sys
import time

import torch
from common import ROOT
from toy_options import coco_data_options

import mmhatnet  # noqa: F401  (lets mmengine checkpoints load weights_only)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

CONFIG = os.path.join(ROOT, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')


def _options(data):
    return coco_data_options(data) + [
        'train_dataloader.batch_size=2',
        # no randomness left that mmengine does not checkpoint: drop path
        # and flips draw from RNGs whose state a checkpoint does not keep
        'model.backbone.drop_path_rate=0.0',
        'train_dataloader.dataset.pipeline.3.prob=0.0',
        'train_cfg.max_epochs=4', 'train_cfg.val_interval=100',
        'param_scheduler.0.end=2', 'param_scheduler.1.milestones=[3]',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1',
        'randomness.seed=0', 'randomness.deterministic=True',
    ]


def _train(work, data, *extra, wait=True):
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work),
           *extra, '--cfg-options', *_options(data)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if not wait:
        return proc
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    return out


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=WEIGHTS_ONLY)['state_dict']


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    data = tmp_path / 'toy_coco'
    subprocess.run([sys.executable, 'tools/dataset_converters/make_toy_data.py',
                    'coco', str(data), '--train', '6', '--val', '2', '--size',
                    '96'], cwd=ROOT, check=True, capture_output=True)

    _train(tmp_path / 'straight', data)
    expected = _weights(tmp_path / 'straight' / 'epoch_4.pth')

    killed = tmp_path / 'killed'
    proc = _train(killed, data, wait=False)
    marker = killed / 'last_checkpoint'
    deadline = time.time() + 300
    while not (marker.exists() and 'epoch_2' in marker.read_text()):
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        assert time.time() < deadline, 'no checkpoint after 300 s'
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / 'epoch_4.pth').exists()

    log = _train(killed, data, '--resume')
    # it went on from the checkpoint rather than training again from scratch
    assert 'resumed epoch: 2' in log, log[-4000:]
    assert not re.search(r'Epoch\(train\)\s+\[[12]\]', log)
    assert re.search(r'Epoch\(train\)\s+\[3\]', log)
    resumed = _weights(killed / 'epoch_4.pth')
    assert resumed.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=0,
                                   atol=0, msg=key)
