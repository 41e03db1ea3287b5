# Copyright (c) mmhatnet contributors. All rights reserved.
"""Checkpoints that a kill or a full disk cannot leave half-written.

mmengine 0.10.7 writes in place: ``LocalBackend.put`` opens ``epoch_N.pth``
with ``'wb'`` and writes the bytes, and ``CheckpointHook`` writes
``last_checkpoint`` with a plain ``open(..., 'w')``. A SIGKILL (or the OOM
killer, or a node failure) in the middle leaves a truncated file under the
final name; an empty or cut ``last_checkpoint`` then makes ``--resume`` fail,
and a full disk leaves a truncated ``epoch_N.pth`` that looks like a
checkpoint.

Two registrations, made by ``import mmhatnet`` (so they also apply to a
config run by another tool with ``custom_imports=dict(imports=['mmhatnet'])``),
make every such write a temporary file in the same folder that is flushed,
fsynced and renamed over the final name (``os.replace`` is atomic on POSIX):

* :class:`AtomicLocalBackend` replaces mmengine's local file backend
  (``register_backend('local', ..., prefixes='', force=True)``): it is what
  ``save_checkpoint`` and every other ``mmengine.fileio`` write to a local
  path use. Reads are unchanged.
* :class:`CheckpointHook` (registered under mmengine's own name, so the
  ``default_hooks.checkpoint`` of every config builds it) is mmengine's hook
  with the ``last_checkpoint`` write made atomic the same way.

A reader therefore sees either the previous file or the complete new one.
After a SIGKILL a hidden ``.<name>.<host>-<pid>.<random>.tmp`` file may be
left; the next successful write of the same name on that host removes it once
its writer is dead. Temporary files of live writers are left alone: in a
distributed run several ranks can write the same name (mmengine's test-time
JSON log) at the same moment.
"""
import errno
import glob
import os
import os.path as osp
import shutil
import socket
import tempfile
from typing import Union

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook
from mmengine.registry import HOOKS

CHUNK = 1 << 20  # bytes per write() call
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_all(f, data: bytes) -> None:
    """The one place the bytes of an atomic write go to disk (in chunks)."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        f.write(view[start:start + CHUNK])


def _temp_prefix(path: str) -> str:
    """``.<name>.<host>-`` : the temporary files of ``path`` on this host."""
    return f'.{osp.basename(path)}.{socket.gethostname()}-'


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _remove_stale_temps(path: str) -> None:
    """Remove the temporary files of ``path`` whose writer (on this host) has
    died, e.g. by SIGKILL; those of live writers may still be renamed."""
    folder, prefix = osp.dirname(path), _temp_prefix(path)
    for name in os.listdir(folder):
        if not (name.startswith(prefix) and name.endswith('.tmp')):
            continue
        pid = name[len(prefix):].split('.', 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and \
                not _pid_alive(int(pid)):
            _remove(osp.join(folder, name))


def atomic_write(data: Union[bytes, str], path: str) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never partial: the
    previous file stays until the new one is complete on disk.

    Raises:
        OSError: as the write raised it; with a message saying that nothing
            was replaced when the disk is full.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    path = osp.abspath(str(path))
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'{_temp_prefix(path)}{os.getpid()}.',
        suffix='.tmp')
    os.close(fd)
    try:
        with open(tmp, 'wb') as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if e.errno in _NO_SPACE:
            raise OSError(
                e.errno,
                f'no space left to write {path} ({len(data)} bytes): nothing '
                f'was replaced and earlier files are intact; free space in '
                f'{folder} (or set a work dir on a larger disk) and resume '
                f'with --resume') from e
        raise
    except BaseException:
        _remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    _remove_stale_temps(path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text``."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))


class _RedirectWorkDir:
    """A runner whose ``work_dir`` is another folder; everything else is the
    runner's own."""

    def __init__(self, runner, work_dir: str):
        self._runner, self.work_dir = runner, work_dir

    def __getattr__(self, name):
        return getattr(self._runner, name)


class CheckpointHook(_MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook`` with an atomic ``last_checkpoint``.

    mmengine's hook writes ``<work_dir>/last_checkpoint`` in place right after
    the checkpoint. Here it writes it into a private folder of the work dir
    instead (the rest of its work, checkpoint included, goes where it always
    does), and the file is then moved over ``<work_dir>/last_checkpoint`` with
    :func:`atomic_write`.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not is_main_process():
            return super()._save_checkpoint_with_step(runner, step, meta)
        private = tempfile.mkdtemp(dir=runner.work_dir, prefix='.ckpt_hook.')
        try:
            super()._save_checkpoint_with_step(
                _RedirectWorkDir(runner, private), step, meta)
            written = osp.join(private, 'last_checkpoint')
            if osp.isfile(written):
                with open(written, encoding='utf-8') as f:
                    atomic_write(f.read(),
                                 osp.join(runner.work_dir, 'last_checkpoint'))
        finally:
            shutil.rmtree(private, ignore_errors=True)
        for stale in glob.glob(osp.join(runner.work_dir, '.ckpt_hook.*')):
            shutil.rmtree(stale, ignore_errors=True)  # of a killed run


def use_atomic_checkpoints() -> None:
    """Register :class:`AtomicLocalBackend` for local paths and
    :class:`CheckpointHook` under mmengine's hook name (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    HOOKS.register_module(
        name='CheckpointHook', module=CheckpointHook, force=True)
