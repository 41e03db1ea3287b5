"""mmhatnet_tools.benchmark, the measuring core of
tools/analysis/benchmark.py: the one timer of the tools, the peak-memory
meter, the models and variants it compares, one measurement in a fresh
interpreter (small sizes only)."""
import math
import statistics

import pytest
import torch
from common import load_tool

from mmhatnet.models import HATNet
from mmhatnet_tools import benchmark as core
from mmhatnet_tools.reference import backbone_with_blocks


def test_exponent_fit_recovers_a_power_law():
    pts = [(p, 3e-6 * p**1.23) for p in (512**2, 1024**2, 2048**2)]
    assert core.fit_exponent(pts) == pytest.approx(1.23)
    assert core.fit_exponent(pts[:1]) is None


class Calls:
    """A callable that counts its calls."""

    def __init__(self):
        self.n = 0

    def __call__(self, *args):
        self.n += 1


def test_timer_runs_warmup_plus_repeats_calls():
    fn = Calls()
    times = core.time_calls(fn, 2, 3)
    assert fn.n == 5 and len(times) == 3 and all(t > 0 for t in times)
    fn = Calls()
    seconds, _, times = core.Meter(torch.device('cpu')).measure(fn, 2, 3)
    assert fn.n == 5 and len(times) == 3 and seconds == statistics.median(
        times)


def test_the_tools_time_with_the_one_timer(monkeypatch):
    """The benchmark's Meter, gpu_check's rounds and the deployment
    benchmark report what time_calls measured (here a fake that gives call
    k k seconds), with the warm-up and repeats they were given."""
    gpu_check = load_tool('analysis/gpu_check.py')
    deploy = load_tool('deployment/benchmark.py')
    asked = []

    def fake(fn, warmup, repeats):
        asked.append((warmup, repeats))
        for _ in range(warmup + repeats):
            fn()
        return [float(len(asked) + k) for k in range(repeats)]

    for module in (core, gpu_check, deploy):
        monkeypatch.setattr(module, 'time_calls', fake)
    cpu = torch.device('cpu')
    assert core.Meter(cpu).measure(Calls(), 1, 3)[::2] == (3.0,
                                                           [2.0, 3.0, 4.0])
    assert asked == [(1, 0), (0, 3)]
    asked.clear()
    fns = dict(a=Calls(), b=Calls())
    res = gpu_check.interleaved(fns, cpu, 2, 3)
    # warm-up of each, then rounds of one call of each: a b a b a b
    assert asked == [(2, 0)] * 2 + [(0, 1)] * 6
    assert res == dict(a=(5.0, None), b=(6.0, None))
    assert fns['a'].n == fns['b'].n == 5
    asked.clear()
    fn = Calls()
    assert deploy.median_seconds(fn, 'x', 1, 3) == 2.0
    assert asked == [(1, 3)] and fn.n == 4


def test_peak_memory_sees_a_transient_allocation():
    meter = core.Meter(torch.device('cpu'))

    def allocate():  # 256 MB, touched, then freed
        torch.ones(64 * 2**20).sum()

    seconds, peak, times = meter.measure(allocate, warmup=0, repeats=2)
    assert len(times) == 2 and seconds > 0
    assert 200 * 2**20 < peak < 1024 * 2**20


def test_hatnet_runs_the_papers_g1_g2_of_its_input_size():
    imagenet, _ = core.build('hatnet-tiny', 224)
    dense, _ = core.build('hatnet-tiny', 512)
    assert (imagenet.g1, imagenet.g2) == (HATNet.imagenet_g1,
                                          HATNet.imagenet_g2)
    assert (dense.g1, dense.g2) == (HATNet.dense_g1, HATNet.dense_g2)


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model 'resnet-50'"):
        core.build('resnet-50', 224)


def test_blocks_as_they_are_give_the_models_forward():
    """backbone_with_blocks (under the plain and the full-MHSA variants)
    runs the stem, downsampling and out_indices as HATNet.forward does."""
    model, _ = core.build('hatnet-tiny', 64)
    model.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ours = backbone_with_blocks(
            model, x.contiguous(memory_format=torch.channels_last),
            lambda block, t: block(t))
        expected = model(x)
    assert len(ours) == len(expected) == 4
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_full_mhsa_variant_is_quadratic_in_tokens():
    model, forward = core.build('hatnet-tiny', 64, 'full-mhsa')
    counts = [core.gflops(core.ForwardModule(forward, model), side, side, 1)
              for side in (64, 128)]
    # 4x the pixels: convs 4x, full attention 16x, so more than 4x overall
    assert counts[1] / counts[0] > 4.5


def test_linear_last_stage_variant_is_parameter_free():
    plain, _ = core.build('hatnet-small', 512)
    linear, _ = core.build('hatnet-small', 512, 'linear-last')
    assert linear.last_stage_pool_to == 16 and plain.last_stage_pool_to is None
    for (k, a), (k2, b) in zip(plain.state_dict().items(),
                               linear.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_fixed_keys_variant_grows_linearly_where_the_default_does_not():
    def growth(variant):
        counts = []
        for side in (512, 1024):
            model, forward = core.build('hatnet-tiny', side, variant)
            counts.append(core.gflops(core.ForwardModule(forward, model),
                                      side, side, 1))
        return counts[1] / counts[0]

    # 4x the pixels: with G2 fixed the global keys of every stage grow 4x
    # too (quadratic term); with G2 scaled by the side they do not
    assert growth('fused') > 4.1
    assert 3.9 < growth('fixed-keys') < 4.05
    model, _ = core.build('hatnet-tiny', 1024, 'fixed-keys')
    assert model.last_stage_pool_to == 16


def test_worker_runs_in_a_subprocess():
    row = core.in_subprocess(dict(model='hatnet-tiny', height=32, width=32,
                                  batch=1, modes=['infer'], warmup=0,
                                  repeats=1, device='cpu'))
    assert row is not None and row['infer']['seconds'] > 0
    assert math.isfinite(row['gflops'])


def test_a_dead_worker_gives_no_row(capfd):
    row = core.in_subprocess(dict(model='resnet-50', height=32, width=32,
                                  batch=1, modes=['infer'], warmup=0,
                                  repeats=1, device='cpu'))
    assert row is None
    assert 'resnet-50  32x32: failed (exit 1)' in capfd.readouterr().err
