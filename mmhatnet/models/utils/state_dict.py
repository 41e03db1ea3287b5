# Copyright (c) mmhatnet contributors. All rights reserved.
"""What keeps a state dict from loading strictly into a model: the one
comparison behind the backbone's ``check_state_dict`` and the whole-model
check of ``tools/demo.py``; each caller words its own message."""
from typing import Dict, List, NamedTuple, Tuple


class StateDictDiff(NamedTuple):
    """The keys of a model and of a state dict that do not match.

    ``missing``: the model's keys the state dict lacks (in the model's
    order); ``unexpected``: the state dict's keys the model lacks (in the
    state dict's order); ``mismatched``: ``(key, shape in the state dict,
    shape in the model)`` of the shared keys whose shapes differ.
    """
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, tuple, tuple]]

    def __bool__(self) -> bool:
        """True when something differs (the load would fail)."""
        return bool(self.missing or self.unexpected or self.mismatched)


def diff_state_dict(own: Dict[str, object],
                    state_dict: Dict[str, object]) -> StateDictDiff:
    """Compare ``state_dict`` with ``own`` (a model's ``state_dict()``) as a
    strict ``load_state_dict`` would. Values without a ``shape`` (not
    tensors) are compared by key only."""
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape))
                  for k, v in state_dict.items()
                  if k in own and hasattr(v, 'shape')
                  and hasattr(own[k], 'shape') and v.shape != own[k].shape]
    return StateDictDiff(missing, unexpected, mismatched)
