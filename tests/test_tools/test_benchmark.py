"""tools/analysis/benchmark.py measures what it says (small sizes only: the
real runs are in the README, not in tests)."""
import importlib.util
import math
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location(
        'benchmark', osp.join(ROOT, 'tools', 'analysis', 'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exponent_fit_recovers_a_power_law(bench):
    pts = [(p, 3e-6 * p**1.23) for p in (512**2, 1024**2, 2048**2)]
    assert bench.fit_exponent(pts) == pytest.approx(1.23)
    assert bench.fit_exponent(pts[:1]) is None


def test_peak_memory_sees_a_transient_allocation(bench):
    meter = bench.Meter(torch.device('cpu'))

    def allocate():  # 256 MB, touched, then freed
        torch.ones(64 * 2**20).sum()

    seconds, peak, times = meter.measure(allocate, warmup=0, repeats=2)
    assert len(times) == 2 and seconds > 0
    assert 200 * 2**20 < peak < 1024 * 2**20


def test_fused_and_plain_rows_count_the_same_work(bench):
    cpu = torch.device('cpu')
    rows = [bench.measure_model(name, 64, 96, 1, ['infer', 'train'], 0, 1,
                                cpu)
            for name in ('hatnet-tiny', 'hatnet-tiny-plain')]
    for row in rows:
        for mode in ('infer', 'train'):
            assert row[mode]['seconds'] > 0 and row[mode]['peak_bytes'] >= 0
        assert row['gflops'] > 0
    # the same computation: the FLOP counter sees the same multiply-adds
    assert rows[0]['gflops'] == pytest.approx(rows[1]['gflops'], rel=1e-6)
    table = bench.compare_table([dict(r, height=224, width=224)
                                 for r in rows])
    assert '| hatnet-tiny |' in table and 'x / ' in table


def test_full_mhsa_variant_is_quadratic_in_tokens(bench):
    model, forward = bench.build('hatnet-tiny', 64, 'full-mhsa')
    counts = [bench.gflops(bench._Forward(forward, model), side, side, 1)
              for side in (64, 128)]
    # 4x the pixels: convs 4x, full attention 16x, so more than 4x overall
    assert counts[1] / counts[0] > 4.5


def test_linear_last_stage_variant_is_parameter_free(bench):
    plain, _ = bench.build('hatnet-small', 512)
    linear, _ = bench.build('hatnet-small', 512, 'linear-last')
    assert linear.last_stage_pool_to == 16 and plain.last_stage_pool_to is None
    for (k, a), (k2, b) in zip(plain.state_dict().items(),
                               linear.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_worker_runs_in_a_subprocess(bench):
    row = bench.in_subprocess(dict(model='hatnet-tiny', height=32, width=32,
                                   batch=1, modes=['infer'], warmup=0,
                                   repeats=1, device='cpu'))
    assert row is not None and row['infer']['seconds'] > 0
    assert math.isfinite(row['gflops'])
