from .backbones import HATNet
from .layers import (HATBlock, HierarchicalAttention, InvertedResidualMLP,
                     MultiHeadSelfAttention)
from .utils import convert_official_hatnet, load_state_dict

__all__ = [
    'HATNet', 'HATBlock', 'HierarchicalAttention', 'InvertedResidualMLP',
    'MultiHeadSelfAttention', 'convert_official_hatnet', 'load_state_dict'
]
