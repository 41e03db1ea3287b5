# Copyright (c) mmhatnet contributors. All rights reserved.
"""Let mmengine's own checkpoints load under ``torch.load(weights_only=True)``.

torch >= 2.6 loads ``weights_only`` by default, and mmengine 0.10.7's
checkpoints hold its ``MessageHub`` (``HistoryBuffer``s of numpy arrays), so
``--resume`` of a checkpoint it wrote itself fails. Instead of turning
``weights_only`` off (any pickle could run code), exactly those types are
allowlisted (an addition: under the libraries' own tools too).
"""
import pickle

import numpy as np
import torch


def _numpy_globals():
    """What pickled numpy arrays and scalars reference (numpy 1 and 2)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtypes = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
              np.float16, np.float32, np.float64)
    return [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar
            ] + [type(np.dtype(t)) for t in dtypes]


def _history_buffer_method(owner, name):
    """Stands in for ``getattr`` while unpickling: a ``HistoryBuffer`` pickles
    its statistics methods as ``getattr(HistoryBuffer, 'mean')``. Only that
    is allowed; any other ``getattr`` in a checkpoint is refused."""
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a weights_only checkpoint;'
        f' only HistoryBuffer statistics methods are allowed')


def allow_mmengine_checkpoints() -> None:
    """Allowlist mmengine checkpoints' types (no-op before torch 2.4)."""
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging import HistoryBuffer
    HistoryBuffer()  # registers the default statistics methods
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_method, 'builtins.getattr')] +
        _numpy_globals())
