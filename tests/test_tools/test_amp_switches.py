"""The config changes of train/test --amp (tools/mmhatnet_tools/amp.py),
resume included: the library's MixedPrecisionOptimWrapper and
FeatureAutocastHook switched on."""
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

import mmhatnet  # noqa: F401  (registers MixedPrecisionOptimWrapper)
from mmhatnet.engine import AmpUnsupportedError
from mmhatnet_tools.amp import enable_amp_test, enable_amp_training

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path (on a GPU the wrapper is '
    "mmengine's AmpOptimWrapper)")


def _cfg():
    return Config(dict(
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        val_cfg=dict(type='ValLoop'), test_cfg=dict(type='TestLoop'),
        work_dir='unused'))


def test_train_and_test_switches():
    cfg = _cfg()
    line = enable_amp_training(cfg, True)
    assert line.startswith(
        'mixed precision (--amp): bfloat16 autocast on cpu (AVX512-BF16 ')
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    # validation and testing autocast the features too
    assert cfg.custom_hooks == [dict(type='FeatureAutocastHook',
                                     dtype='bfloat16')]
    assert enable_amp_training(_cfg(), False) is None
    with pytest.raises(AmpUnsupportedError, match='--amp-dtype needs --amp'):
        enable_amp_training(_cfg(), False, 'bf16')
    cfg = _cfg()
    assert 'inference under bfloat16' in enable_amp_test(cfg, True)
    assert cfg.custom_hooks[-1].type == 'FeatureAutocastHook'
    cfg = _cfg()
    cfg.optim_wrapper.type = 'ZeroRedundancyOptimizer'
    with pytest.raises(AmpUnsupportedError, match='ZeroRedundancy'):
        enable_amp_training(cfg, True)


def test_resume_of_an_amp_run_goes_on_in_amp(tmp_path):
    model = nn.Conv2d(3, 4, 3)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='MixedPrecisionOptimWrapper',
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    amp_ckpt, plain_ckpt = tmp_path / 'amp.pth', tmp_path / 'plain.pth'
    torch.save(dict(optimizer=wrapper.state_dict()), amp_ckpt)
    plain = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    torch.save(dict(optimizer=plain.state_dict()), plain_ckpt)

    cfg = _cfg()
    line = enable_amp_training(cfg, False, resume=str(amp_ckpt))
    assert 'resuming a mixed-precision run' in line
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    # --resume without a path reads the work dir's last_checkpoint
    cfg = _cfg()
    cfg.work_dir = str(tmp_path)
    (tmp_path / 'last_checkpoint').write_text(str(amp_ckpt))
    assert enable_amp_training(cfg, False, resume='auto') is not None
    cfg = _cfg()
    assert enable_amp_training(cfg, False, resume=str(plain_ckpt)) is None
    assert 'type' not in cfg.optim_wrapper
