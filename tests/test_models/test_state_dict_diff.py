"""mmhatnet.models.utils.diff_state_dict: what a strict load_state_dict
would refuse, found without loading (the backbone's check_state_dict and
tools/demo.py word it)."""
import pytest
import torch
import torch.nn as nn

from mmhatnet.models.utils import diff_state_dict


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_a_fitting_state_dict_has_no_diff():
    model = _model()
    diff = diff_state_dict(model.state_dict(), _model().state_dict())
    assert not diff
    assert diff == ([], [], [])
    model.load_state_dict(_model().state_dict(), strict=True)


def test_missing_unexpected_and_mismatched_keys_in_order():
    model = _model()
    state = dict(_model().state_dict())
    del state['0.bias'], state['1.running_var']
    state['0.weight'] = torch.zeros(5, 3)
    state['2.weight'] = torch.zeros(1)
    state['extra'] = 'not a tensor'  # compared by key only
    diff = diff_state_dict(model.state_dict(), state)
    assert diff
    assert diff.missing == ['0.bias', '1.running_var']
    assert diff.unexpected == ['2.weight', 'extra']
    assert diff.mismatched == [('0.weight', (5, 3), (4, 3))]
    # the same keys a strict load names
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(state, strict=True)
    for key in diff.missing + diff.unexpected + ['0.weight']:
        assert key in str(e.value)
