"""tools/analysis/benchmark_image_scan.py writes decodable JPEGs, times the
scan over all of them and leaves nothing behind (with a few files; the
tool's default is 20,000)."""
import os
import os.path as osp
import re
import tempfile

import pytest
from common import load_tool
from PIL import Image


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/benchmark_image_scan.py')


def test_synthetic_files_are_small_jpegs_that_pass_the_scan(tool, tmp_path):
    size = tool.write_jpegs(str(tmp_path), 12)
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 12 and size == sum(
        osp.getsize(tmp_path / n) for n in names)
    for name in names:
        with Image.open(tmp_path / name) as img:
            assert img.format == 'JPEG' and 64 <= img.width <= 160
    paths = [str(tmp_path / n) for n in names]
    assert tool.time_scan(paths, 2) > 0
    (tmp_path / names[0]).write_bytes(b'not an image')
    with pytest.raises(RuntimeError, match='1 of the synthetic files'):
        tool.time_scan(paths, 2)


def test_prints_one_row_per_thread_count_and_cleans_up(tool, capsys,
                                                       monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    assert tool.main(['--files', '30', '--threads', '4', '1']) == 0
    out = capsys.readouterr().out
    assert out.startswith('CPU ') and '30 JPEGs' in out
    rows = re.findall(r'^\| warm \| (\d+) \| 30 \| [\d.]+ s \|', out, re.M)
    assert rows == ['4', '1']
    assert os.listdir(tmp_path) == []  # its temporary folder is gone


def test_a_folder_with_files_is_refused(tool, capsys, tmp_path):
    (tmp_path / 'keep.txt').write_text('mine')
    with pytest.raises(SystemExit) as exit_:
        tool.main(['--files', '3', '--folder', str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: --folder') and 'name a new one' in err
    assert os.listdir(tmp_path) == ['keep.txt']
