# Copyright (c) mmhatnet contributors. All rights reserved.
"""Writing output files so that a reader never sees a half-written one."""
import contextlib
import os
import os.path as osp
import tempfile
from typing import Iterator, Optional

from ..engine.atomic_io import _umask


@contextlib.contextmanager
def atomic_output(path: str, suffix: Optional[str] = None) -> Iterator[str]:
    """Yield a temporary path next to ``path`` to write to; when the block
    ends without an exception it is renamed to ``path`` (replacing what was
    there, atomically), otherwise it is removed and ``path`` is untouched.

    The temporary file is a hidden ``.tmp_*`` file in the same folder (a
    rename is atomic only within one file system), with ``suffix`` (default:
    ``path``'s extension, for writers that pick the format from it). The
    result gets the permissions of a newly created file (``0o666`` minus the
    umask), not ``mkstemp``'s ``0o600``.
    """
    folder = osp.dirname(osp.abspath(path))
    if suffix is None:
        suffix = osp.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
