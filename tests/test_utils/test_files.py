"""mmhatnet.utils.files.atomic_output: a file appears whole or not at all."""
import os
import stat

import pytest

from mmhatnet.utils.files import atomic_output


def test_complete_write_replaces_the_file(tmp_path):
    out = tmp_path / 'result.csv'
    out.write_text('old')
    with atomic_output(str(out)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith('.tmp_')
        assert tmp.endswith('.csv')  # writers that pick the format by it
        with open(tmp, 'w') as f:
            f.write('new')
        assert out.read_text() == 'old'  # not before the block ends
    assert out.read_text() == 'new'
    assert os.listdir(tmp_path) == ['result.csv']
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    out = tmp_path / 'result.png'
    out.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_output(str(out), suffix='.png') as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half')
            raise RuntimeError('disk full')
    assert out.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['result.png']
