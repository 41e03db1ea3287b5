from .attention import HierarchicalAttention, MultiHeadSelfAttention
from .block import HATBlock, InvertedResidualMLP

__all__ = [
    'HierarchicalAttention', 'MultiHeadSelfAttention', 'HATBlock',
    'InvertedResidualMLP'
]
