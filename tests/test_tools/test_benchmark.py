"""tools/analysis/benchmark.py reports what it measured: the tables, their
ratios, earlier runs (small sizes only: the real runs are in
docs/performance.md, not in tests). The measuring itself
(mmhatnet_tools.benchmark) is tested in tests/test_tools/test_benchmark_core.py."""
import re

import pytest
import torch
from common import load_tool

from mmhatnet_tools import benchmark as core


@pytest.fixture(scope='module')
def bench():
    return load_tool('analysis/benchmark.py')


def test_fused_and_plain_rows_count_the_same_work(bench):
    cpu = torch.device('cpu')
    rows = [core.measure_model(name, 64, 96, 1, ['infer', 'train'], 0, 1,
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


def _rows(variant, points):
    return [dict(variant=variant, height=side, width=side, gflops=gf,
                 infer=dict(seconds=sec, peak_bytes=2**30))
            for side, sec, gf in points]


def test_report_only_prints_earlier_rows_with_exponents(bench, tmp_path,
                                                        capsys):
    # time ~ pixels^1 for one variant, ~ pixels^2 for the other
    old = _rows('fused', [(512, 1., 10.), (1024, 4., 40.), (2048, 16., 160.)])
    old += _rows('full-mhsa', [(512, 1., 10.), (1024, 16., 160.)])
    bench.write_json(old, str(tmp_path / 'old.json'))
    bench.main(['scaling', '--report-only', '--with-json',
                str(tmp_path / 'old.json'), '--plot', str(tmp_path / 'p.png')])
    out = capsys.readouterr().out
    assert '| fused | 1.00 | 512, 1024, 2048 | 1.00 |' in out
    assert '| full-mhsa | 2.00 | 512, 1024 | - |' in out
    assert '| fused | 2048 | 16.00 | 1.00 | 160 | 100.0 |' in out
    assert (tmp_path / 'p.png').stat().st_size > 0


def test_earlier_rows_of_another_machine_are_refused(bench, tmp_path,
                                                     cli_error):
    path = tmp_path / 'other.json'
    path.write_text('{"machine": "a GPU far away", "rows": []}')
    assert 'not on this machine' in cli_error(bench.earlier_rows,
                                              [str(path)], [])
    assert '--with-json' in cli_error(bench.main, ['scaling',
                                                   '--report-only'])


def test_dtype_is_a_dimension_with_speed_ups_vs_fp32(bench, monkeypatch):
    # the FLOP count is the test above's; here only the timings matter
    monkeypatch.setattr(core, 'gflops', lambda *args: 1.0)
    cpu = torch.device('cpu')
    rows = [core.measure_model(name, 64, 64, 1, ['infer'], 0, 1, cpu,
                               dtype=dtype)
            for name, dtype in (('hatnet-tiny', 'fp32'),
                                ('hatnet-tiny', 'bf16'),
                                ('hatnet-tiny-plain', 'fp32'))]
    assert [r['dtype'] for r in rows] == ['fp32', 'bf16', 'fp32']
    table = bench.compare_table([dict(r, height=224, width=224)
                                 for r in rows])
    assert 'speed-up vs fp32 (infer / train)' in table
    bf16 = next(line for line in table.splitlines()
                if line.startswith('| hatnet-tiny | bf16 |'))
    # vs fp32 and vs plain fp32: two "infer / train" cells at the end
    assert re.search(r'\| [\d.]+x / - \| [\d.]+x / - \|$', bf16), bf16
    # the header says what bf16 the CPU has
    assert re.search(r'AVX512-BF16 (yes|no|\?), AMX (yes|no|\?)',
                     bench.machine())


def test_cases_of_ones_own_size_batch_and_mode(bench, cli_error,
                                               monkeypatch):
    assert bench.parse_case('512') == (512, 512, 2, ['infer', 'train'])
    assert bench.parse_case('224', 8, ['infer']) == (224, 224, 8, ['infer'])
    assert bench.parse_case('64x96:3') == (64, 96, 3, ['infer', 'train'])
    assert bench.parse_case('512x512:2:train', 5) == (512, 512, 2, ['train'])
    # a bad entry stops the run before anything is measured
    measured = []
    monkeypatch.setattr(bench, 'in_subprocess', measured.append)
    for bad in ('512x512', '512x512:0', '512x512:2:backward', '300'):
        assert f"--cases '{bad}'" in cli_error(
            bench.main, ['compare', '--models', 'hatnet-tiny', '--cases',
                         '64x64:1', bad])
    assert measured == []


def test_one_table_per_size_and_batch(bench):
    def row(model, batch, mode, seconds, dtype='fp32'):
        return dict(model=model, height=512, width=512, batch=batch,
                    dtype=dtype, gflops=1.0,
                    **{mode: dict(seconds=seconds, peak_bytes=2**30)})

    # inference at batch 1 and a training step at batch 2 of the same size
    rows = [row(m, 1, 'infer', s, dt) for m, s, dt in (
        ('hatnet-small', 2.0, 'fp32'), ('hatnet-small', 1.0, 'bf16'),
        ('hatnet-small-plain', 4.0, 'fp32'))]
    rows += [row(m, 2, 'train', s, dt) for m, s, dt in (
        ('hatnet-small', 10.0, 'fp32'), ('hatnet-small', 8.0, 'bf16'),
        ('hatnet-small-plain', 20.0, 'fp32'))]
    table = bench.compare_table(rows)
    assert table.count('**512x512, batch 1**') == 1
    assert table.count('**512x512, batch 2**') == 1
    bf16 = [line for line in table.splitlines()
            if line.startswith('| hatnet-small | bf16 |')]
    # vs fp32 and vs plain fp32, each in its own batch's table
    assert bf16[0].endswith('| 2.00x / - | 4.00x / - |'), bf16[0]
    assert bf16[1].endswith('| - / 1.25x | - / 2.50x |'), bf16[1]
