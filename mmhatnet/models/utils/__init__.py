from .official_checkpoint import (convert_official_hatnet,
                                  is_official_state_dict, load_state_dict)

__all__ = [
    'convert_official_hatnet', 'is_official_state_dict', 'load_state_dict'
]
