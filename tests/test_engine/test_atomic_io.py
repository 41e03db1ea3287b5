"""Atomic writes of mmengine checkpoints (mmhatnet.engine.atomic_io), opted
into by a config: a SIGKILL at any byte of a write, or a full disk, leaves
the previous file."""
import errno
import glob
import os
import signal
import subprocess

import pytest
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import save_checkpoint

import mmhatnet  # noqa: F401  (registers the backend and the hook)
from mmhatnet.engine import atomic_io

ATOMIC = atomic_io.ATOMIC_BACKEND_ARGS


def _atomic(path):
    """The backend an AtomicCheckpointHook writes ``path`` with."""
    return get_file_backend(str(path), backend_args=ATOMIC)


SIZE = 3 * atomic_io.CHUNK + 12345  # a few chunks


def _payload(seed):
    return bytes((seed + i) % 251 for i in range(256)) * (SIZE // 256) + \
        bytes(SIZE % 256)


def _killed_at(offset, monkeypatch):
    """A writer that SIGKILLs its process after ``offset`` bytes."""
    real = atomic_io._write_all

    def write_all(f, data):
        real(f, data[:offset])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(atomic_io, '_write_all', write_all)


def test_registered_under_names_of_their_own():
    assert type(get_file_backend('/some/local/path.pth',
                                 backend_args=ATOMIC)) is \
        atomic_io.AtomicLocalBackend
    assert HOOKS.get('AtomicCheckpointHook') is atomic_io.AtomicCheckpointHook
    # what every other run of the process uses stays mmengine's
    assert type(get_file_backend('/some/local/path.pth')) is LocalBackend
    assert HOOKS.get('CheckpointHook') is CheckpointHook


def test_the_hook_saves_through_the_atomic_backend():
    hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=1))
    assert hook.backend_args == ATOMIC
    # a remote store keeps its own backend
    remote = HOOKS.build(dict(type='AtomicCheckpointHook',
                              out_dir='s3://bucket/run'))
    assert remote.backend_args is None


@pytest.mark.parametrize('offset', [0, 1, atomic_io.CHUNK - 1,
                                    atomic_io.CHUNK, 2 * atomic_io.CHUNK + 7,
                                    SIZE - 1])
def test_sigkill_at_any_byte_keeps_the_old_file(tmp_path, monkeypatch,
                                                offset):
    path = tmp_path / 'epoch_3.pth'
    old, new = _payload(1), _payload(2)
    path.write_bytes(old)
    pid = os.fork()
    if pid == 0:  # the writer, killed part-way
        try:
            _killed_at(offset, monkeypatch)
            _atomic(path).put(new, str(path))
        finally:
            os._exit(3)  # not reached: SIGKILL comes first
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert path.read_bytes() == old
    left = glob.glob(str(tmp_path / '.epoch_3.pth.*.tmp'))
    assert len(left) == 1 and os.path.getsize(left[0]) == offset
    # the next complete write replaces the file and removes the leftover
    monkeypatch.undo()
    _atomic(path).put(new, str(path))
    assert path.read_bytes() == new
    assert sorted(os.listdir(tmp_path)) == ['epoch_3.pth']


def test_a_live_writers_temp_file_survives_a_write_of_the_same_name(
        tmp_path):
    # two ranks of a distributed run write the same name at the same moment:
    # the one that finishes first must not delete the other's temp file
    path = tmp_path / 'log.json'
    live = subprocess.Popen(['sleep', '60'])
    try:
        prefix = atomic_io._temp_prefix(str(path))
        theirs = tmp_path / f'{prefix}{live.pid}.x.tmp'
        theirs.write_bytes(b'half')
        _atomic(path).put_text('{}', str(path))
        assert theirs.read_bytes() == b'half'
        assert path.read_text() == '{}'
    finally:
        live.kill()
        live.wait()
    # once its writer is dead, the next write removes it
    _atomic(path).put_text('{}', str(path))
    assert sorted(os.listdir(tmp_path)) == ['log.json']


def test_a_new_file_is_absent_until_complete(tmp_path, monkeypatch):
    path = tmp_path / 'last_checkpoint'
    pid = os.fork()
    if pid == 0:
        try:
            _killed_at(5, monkeypatch)
            _atomic(path).put_text('/w/epoch_4.pth', str(path))
        finally:
            os._exit(3)
    os.waitpid(pid, 0)
    assert not path.exists()


def test_full_disk_fails_loudly_and_replaces_nothing(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    before = path.read_bytes()

    def full(f, data):
        f.write(data[:1000])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_io, '_write_all', full)
    with pytest.raises(OSError) as exc:  # as AtomicCheckpointHook saves
        save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path),
                        backend_args=ATOMIC)
    assert exc.value.errno == errno.ENOSPC
    assert str(exc.value).startswith(
        f'[Errno 28] no space left to write {path} (')
    assert 'nothing was replaced and earlier files are intact' in str(
        exc.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_permissions_are_those_of_a_new_file(tmp_path):
    path = tmp_path / 'x.json'
    _atomic(path).put_text('{}', str(path))
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
