from .official_checkpoint import (convert_official_hatnet,
                                  is_official_state_dict, load_state_dict)
from .state_dict import StateDictDiff, diff_state_dict

__all__ = [
    'StateDictDiff', 'convert_official_hatnet', 'diff_state_dict',
    'is_official_state_dict', 'load_state_dict'
]
