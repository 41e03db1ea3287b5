"""mmengine checkpoints load with weights_only=True once mmhatnet is
imported, and nothing beyond their own types is let through."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

import mmhatnet  # noqa: F401  (allowlists the types)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY

# before torch 2.4 there is no allowlist: such a torch reads its checkpoints
# as it does by default (the full unpickler), and so do we
pytestmark = pytest.mark.skipif(
    not WEIGHTS_ONLY, reason=f'the weights_only allowlist needs torch >= 2.4,'
    f' not {torch.__version__}')


def test_message_hub_state_loads_weights_only(tmp_path):
    buf = HistoryBuffer()
    for v in (1., 2., 6.):
        buf.update(v)
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2)),
                    message_hub=dict(log_scalars={'train/loss': buf}),
                    meta=dict(seed=np.int64(3), iter=np.float32(1.5))), path)
    ckpt = torch.load(path, weights_only=True)
    loaded = ckpt['message_hub']['log_scalars']['train/loss']
    assert loaded.mean() == 3. and loaded.current() == 6.
    assert loaded.statistics('max') == 6.


class _GetattrOnHistoryBuffer:
    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return (getattr, (HistoryBuffer, self.name))


def test_other_getattr_calls_are_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(x=_GetattrOnHistoryBuffer('update')), path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path, weights_only=True)
    # the statistics methods themselves are what HistoryBuffer pickles
    torch.save(dict(x=_GetattrOnHistoryBuffer('mean')), path)
    assert torch.load(path, weights_only=True)['x'] is HistoryBuffer.mean
