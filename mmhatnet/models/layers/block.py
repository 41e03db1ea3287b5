# Copyright (c) mmhatnet contributors. All rights reserved.
"""The HAT-Net block: attention then an inverted-residual MLP, each residual."""
from typing import Optional

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from torch import Tensor

from .attention import HierarchicalAttention, MultiHeadSelfAttention


class InvertedResidualMLP(nn.Module):
    """The MLP of HAT-Net: a 1x1 expansion, a KxK depthwise conv and a 1x1
    reduction (MobileNetV2-style), with SiLU, normalised before and after.

    ``GN -> 1x1 conv (C -> E*C) -> SiLU -> KxK dwconv -> SiLU ->
    1x1 conv (E*C -> C) -> GN``; convs without bias, GroupNorm with one group.

    Under autocast the convs run in bf16/fp16 and so does SiLU on their
    output; the last GroupNorm runs in fp32 on CUDA (autocast's fp32 list)
    and, on a CPU, takes the bf16 conv output, accumulates its statistics in
    fp32 and returns bf16, which the block's fp32 residual sum promotes.

    Args:
        embed_dims (int): Channels C of the input and output.
        mlp_ratio (int): Expansion ratio E.
        kernel_size (int): K, the depthwise kernel size (odd).
    """

    def __init__(self, embed_dims: int, mlp_ratio: int, kernel_size: int):
        super().__init__()
        hidden = embed_dims * mlp_ratio
        self.norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.expand = nn.Conv2d(embed_dims, hidden, 1, bias=False)
        self.dwconv = nn.Conv2d(hidden, hidden, kernel_size,
                                padding=kernel_size // 2, groups=hidden,
                                bias=False)
        self.reduce = nn.Conv2d(hidden, embed_dims, 1, bias=False)
        self.out_norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        x = self.act(self.expand(self.norm(x)))
        x = self.act(self.dwconv(x))
        return self.out_norm(self.reduce(x))


class HATBlock(nn.Module):
    """``x + DropPath(Attention(x))`` then ``x + DropPath(MLP(x))``.

    Args:
        embed_dims (int): Channels C.
        head_dim (int): Channels per attention head.
        mlp_ratio (int): Expansion ratio of the MLP.
        kernel_size (int): Depthwise kernel size of the MLP.
        g1 (int, optional): G1, the side of the local attention grid. With
            ``g1``/``g2`` None the block uses plain MHSA (the last stage).
        g2 (int, optional): G2, the average-pooling ratio of the global
            keys/values.
        pool_to (int, optional): Plain MHSA only: pool its keys/values to
            at most this many per side (see ``MultiHeadSelfAttention``);
            None keeps them all.
        drop_path (float): Stochastic depth rate of both residual branches.
        with_cp (bool): Trade compute for memory with activation
            checkpointing. Defaults to False.
    """

    def __init__(self,
                 embed_dims: int,
                 head_dim: int,
                 mlp_ratio: int,
                 kernel_size: int,
                 g1: Optional[int] = None,
                 g2: Optional[int] = None,
                 pool_to: Optional[int] = None,
                 drop_path: float = 0.,
                 with_cp: bool = False):
        super().__init__()
        if g1 is None:
            self.attn = MultiHeadSelfAttention(embed_dims, head_dim, pool_to)
        else:
            self.attn = HierarchicalAttention(embed_dims, head_dim, g1, g2)
        self.mlp = InvertedResidualMLP(embed_dims, mlp_ratio, kernel_size)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.with_cp = with_cp

    def _forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)
