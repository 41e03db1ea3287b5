# Copyright (c) mmhatnet contributors. All rights reserved.
"""Checkpoints that a kill or a full disk cannot leave half-written, opted
into by a config.

mmengine 0.10.7 writes ``epoch_N.pth`` (``LocalBackend.put``) and
``last_checkpoint`` in place: a SIGKILL or a full disk in the middle leaves a
truncated file under the final name, which ``--resume`` then fails on.
``import mmhatnet`` adds, under names of their own (mmengine's ``local``
backend and ``CheckpointHook`` stay what they are):

* :class:`AtomicLocalBackend`, the file backend ``'atomic_local'`` (no
  prefixes), whose writes go to a temporary file in the same folder that is
  fsynced and renamed over the final name (``os.replace`` is atomic);
* :class:`AtomicCheckpointHook`, mmengine's hook writing through it, and
  ``last_checkpoint`` the same way:
  ``default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))``.

After a SIGKILL a hidden ``.<name>.<host>-<pid>.<random>.tmp`` file may be
left; the next write of that name on that host removes it once its writer is
dead (a live writer's, e.g. another rank's, is left alone).
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
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

CHUNK = 1 << 20  # bytes per write() call
#: the name of :class:`AtomicLocalBackend` in mmengine's file backends
BACKEND = 'atomic_local'
#: what a checkpoint write passes to mmengine to go through it
ATOMIC_BACKEND_ARGS = dict(backend=BACKEND)
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


@register_backend(BACKEND)
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


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose writes cannot be left half-done.

    Same arguments as ``CheckpointHook``. Checkpoints go through
    :class:`AtomicLocalBackend` unless ``backend_args`` names another
    backend (a remote store has its own semantics); ``last_checkpoint``,
    which mmengine writes in place right after the checkpoint, is written
    into a private folder of the work dir instead and then moved over
    ``<work_dir>/last_checkpoint`` with :func:`atomic_write`.
    """

    def __init__(self, *args, backend_args=None, out_dir=None, **kwargs):
        local = out_dir is None or '://' not in str(out_dir)
        if backend_args is None and local and kwargs.get(
                'file_client_args') is None:
            backend_args = dict(ATOMIC_BACKEND_ARGS)
        super().__init__(
            *args, backend_args=backend_args, out_dir=out_dir, **kwargs)

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
