"""MixedPrecisionOptimWrapper, in process: bf16 on a CPU through mmengine's
registry and what a CPU without bf16 gets. (The config changes of
train/test --amp: tests/test_tools/test_amp_switches.py.)"""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import AmpOptimWrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

import mmhatnet.engine.amp as amp
from mmhatnet.engine import (AmpUnsupportedError, MixedPrecisionOptimWrapper,
                             OtherToolsAmpOptimWrapper, autocast_features,
                             resolve_amp_dtype)

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path (on a GPU the wrapper is '
    "mmengine's AmpOptimWrapper)")


def _wrapper(type_name='MixedPrecisionOptimWrapper', **kwargs):
    """The optimizer wrapper of ``type_name``; 'AmpOptimWrapper' (what the
    libraries' --amp sets) through our configs' opt-in constructor."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(1, 4))
    cfg = dict(type=type_name, optimizer=dict(type='SGD', lr=0.1), **kwargs)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='MixedPrecisionOptimWrapperConstructor', optim_wrapper_cfg=cfg))
    return model, constructor(model)


def test_amp_optim_wrapper_is_mmengines_without_the_opt_in():
    """A config that does not name our constructor gets mmengine's own
    AmpOptimWrapper, which refuses a CPU as it does without mmhatnet."""
    assert OPTIM_WRAPPERS.get('AmpOptimWrapper') is AmpOptimWrapper
    model = nn.Conv2d(3, 4, 3)
    with pytest.raises(AssertionError, match='only available'):
        OPTIM_WRAPPERS.build(dict(
            type='AmpOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))


@pytest.mark.parametrize('name', ['MixedPrecisionOptimWrapper',
                                  'AmpOptimWrapper'])
def test_wrapper_trains_in_bf16_on_the_cpu(name):
    model, wrapper = _wrapper(name, loss_scale='dynamic')
    assert isinstance(wrapper, MixedPrecisionOptimWrapper)
    before = model[0].weight.detach().clone()
    with wrapper.optim_context(model):
        conv = model[0](torch.randn(2, 3, 8, 8))
        out = model[1](conv)
    assert conv.dtype == torch.bfloat16  # the conv ran in bf16
    assert model[0].weight.dtype == torch.float32  # fp32 master weights
    wrapper.update_params(out.float().square().mean())
    assert not torch.equal(model[0].weight, before)
    state = wrapper.state_dict()
    assert state['amp_dtype'] == 'bfloat16' and 'loss_scaler' not in state
    # a GPU run's state (with a loss scaler) loads too
    wrapper.load_state_dict(dict(state, loss_scaler={'scale': 1024.}))


class _Detector(nn.Module):
    """What mmdet/mmseg/mmpretrain models look like to autocast_features:
    an ``extract_feat`` (backbone + neck) and a head after it."""

    def __init__(self):
        super().__init__()
        self.backbone, self.head = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1)
        self.seen = []

    def extract_feat(self, x):
        feat = self.backbone(x)
        self.seen.append(feat.dtype)
        return (feat, )

    def forward(self, x):
        feat, = self.extract_feat(x)
        self.seen.append(feat.dtype)
        return self.head(feat)


def test_features_in_bf16_heads_in_fp32():
    model, wrapper = _Detector(), _wrapper()[1]
    with wrapper.optim_context(model):
        out = model(torch.randn(1, 3, 8, 8))
    # backbone in bf16; the head gets fp32 features and computes in fp32
    assert model.seen == [torch.bfloat16, torch.float32]
    assert out.dtype == torch.float32
    assert 'extract_feat' not in vars(model)  # the method is back
    with autocast_features(model, 'cpu', None):  # fp32: nothing changes
        model(torch.randn(1, 3, 8, 8))
    assert model.seen[-2:] == [torch.float32, torch.float32]


def test_cpu_without_bf16_gets_a_message(monkeypatch):
    monkeypatch.setattr(amp, '_cpu_flags', lambda: {'avx2', 'fma'})
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability',
                        lambda: 'AVX2')
    monkeypatch.delenv(amp.ALLOW_EMULATED_ENV, raising=False)
    with pytest.raises(AmpUnsupportedError, match=r'this CPU has no native '
                       r'bf16 \(AVX512-BF16 no, AMX no, .*ISA AVX2\).*drop '
                       r'--amp, or set MMHATNET_ALLOW_EMULATED_BF16=1'):
        resolve_amp_dtype('cpu')
    with pytest.raises(AmpUnsupportedError, match='no native bf16'):
        _wrapper()
    monkeypatch.setenv(amp.ALLOW_EMULATED_ENV, '1')
    assert resolve_amp_dtype('cpu') == torch.bfloat16


def test_other_tools_amp_falls_back_to_fp32_on_a_cpu_without_bf16(
        monkeypatch):
    """mmdet's/mmseg's/mmpretrain's own train.py --amp build
    'AmpOptimWrapper' after the work dir exists: on such a CPU it says why
    and trains in fp32 rather than stopping halfway."""
    monkeypatch.setattr(amp, '_cpu_flags', lambda: {'avx2', 'fma'})
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability',
                        lambda: 'AVX2')
    monkeypatch.delenv(amp.ALLOW_EMULATED_ENV, raising=False)
    said = []
    monkeypatch.setattr(amp, 'print_log', lambda msg, **kw: said.append(msg))
    model, wrapper = _wrapper('AmpOptimWrapper', loss_scale='dynamic')
    assert isinstance(wrapper, OtherToolsAmpOptimWrapper)
    assert len(said) == 1 and 'no native bf16' in said[0] and \
        'trains this run in fp32' in said[0]
    with wrapper.optim_context(model):
        conv = model[0](torch.randn(2, 3, 8, 8))
    assert conv.dtype == torch.float32
    wrapper.update_params(model[1](conv).square().mean())
    # the checkpoint is an fp32 run's: --resume does not turn on bf16
    assert 'amp_dtype' not in wrapper.state_dict()


def test_cpu_with_avx512_bf16_or_amx_runs_bf16(monkeypatch):
    for flags in ({'avx512_bf16'}, {'amx_bf16', 'amx_tile'}):
        monkeypatch.setattr(amp, '_cpu_flags', lambda: flags)
        assert resolve_amp_dtype('cpu') == torch.bfloat16
    with pytest.raises(AmpUnsupportedError, match='fp16 mixed precision runs '
                       'on GPUs only'):
        resolve_amp_dtype('cpu', 'fp16')
    assert resolve_amp_dtype('cpu', 'fp16', cpu_fp16_ok=True) == torch.float16
