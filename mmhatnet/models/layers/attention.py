# Copyright (c) mmhatnet contributors. All rights reserved.
"""H-MHSA, the hierarchical multi-head self-attention of HAT-Net, and the
plain MHSA of the last stage.

Both modules work on channel-first maps ``(B, C, H, W)`` and use 1x1
convolutions as the token projections, as the released implementation does,
so the released weights load without reshaping.
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def _num_heads(embed_dims: int, head_dim: int) -> int:
    if embed_dims % head_dim != 0:
        raise ValueError(f'head_dim={head_dim} must divide embed_dims='
                         f'{embed_dims}; choose a head_dim that divides the '
                         f'stage width')
    return embed_dims // head_dim


def _check_grid(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


class HierarchicalAttention(nn.Module):
    """Hierarchical multi-head self-attention (H-MHSA, Sec. 3.2 of the paper).

    Step 1, local attention: the map is cut into G1 x G1 grids and every token
    attends the tokens of its own grid. The result is added to the input and
    normalised (the "normalised residual" of the released code).

    Step 2, global attention: every token of the step-1 map is a query; the
    keys and values are that map average-pooled by G2 (so there are about
    ``HW / G2**2`` of them). The global result is added to the step-1 map and
    projected.

    G1 and G2 are not parameters: they can be changed at any time (e.g.
    ImageNet weights used with dense-task values) without touching a weight.

    Args:
        embed_dims (int): Channels C of the input and output.
        head_dim (int): Channels per head; must divide ``embed_dims``.
        g1 (int): G1, the side of the local attention grid (window), in tokens.
        g2 (int): G2, the average-pooling ratio of the global keys/values.

    Note:
        **Sizes that do not divide.** The released code only runs when H and W
        divide by G1 and G2. Here the windows and the pooling cells are laid
        from the top-left corner as there, and the last row/column of them may
        be partial:

        * local step: the map is zero-padded to a multiple of the window and
          padded *keys* are masked out, so each valid query attends exactly the
          valid tokens of its G1 x G1 window; padded queries are dropped.
        * global step: a partial pooling cell averages only the pixels it
          covers (``avg_pool2d`` with ``ceil_mode=True`` and no padding divides
          by the covered area); there is no padding, so no mask.
        * a map smaller than G1 (or G2) along a side uses one window (cell) of
          the map's size along that side, which is the same computation.

        When H and W divide by G1 and G2 there is no padding and no mask, and
        each step is exactly the released computation (same token order, same
        1/sqrt(head_dim) scale), so the released weights give the released
        outputs.
    """

    def __init__(self, embed_dims: int, head_dim: int, g1: int, g2: int):
        super().__init__()
        self.embed_dims = embed_dims
        self.head_dim = head_dim
        self.num_heads = _num_heads(embed_dims, head_dim)
        self.g1 = g1
        self.g2 = g2

        self.norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.local_qkv = nn.Conv2d(embed_dims, embed_dims * 3, 1)
        self.local_norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.global_q = nn.Conv2d(embed_dims, embed_dims, 1)
        self.pool_norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.global_kv = nn.Conv2d(embed_dims, embed_dims * 2, 1)
        self.proj = nn.Conv2d(embed_dims, embed_dims, 1)

    @property
    def g1(self) -> int:
        """G1: side of the local attention grid, in tokens."""
        return self._g1

    @g1.setter
    def g1(self, value: int) -> None:
        self._g1 = _check_grid('g1 (G1, the local grid size)', value)

    @property
    def g2(self) -> int:
        """G2: average-pooling ratio of the global keys/values."""
        return self._g2

    @g2.setter
    def g2(self, value: int) -> None:
        self._g2 = _check_grid('g2 (G2, the global pooling ratio)', value)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'g1={self.g1}, g2={self.g2}')

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        B, C, H, W = x.shape
        local = self.local_attention(self.local_qkv(self.norm(x)))
        x = self.local_norm(x + local)

        q = self.global_q(x).reshape(B, self.num_heads, self.head_dim, H * W)
        kv = self.global_kv(self.pool_norm(self.pool(x)))
        # explicit token count (not -1) so that an empty batch reshapes too
        k, v = kv.reshape(B, 2, self.num_heads, self.head_dim,
                          kv.shape[-2] * kv.shape[-1]).unbind(1)
        out = F.scaled_dot_product_attention(
            q.transpose(-2, -1), k.transpose(-2, -1), v.transpose(-2, -1))
        out = out.transpose(-2, -1).reshape(B, C, H, W)
        return self.proj(out + x)

    def window_size(self, H: int, W: int) -> Tuple[int, int]:
        """The local window (wh, ww) used for an (H, W) map: G1, or the map's
        side where it is smaller."""
        return min(self.g1, H), min(self.g1, W)

    def pool(self, x: Tensor) -> Tensor:
        """Average-pool by G2: (B, C, H, W) -> (B, C, ceil(H/G2'), ceil(W/G2'))
        with G2' = min(G2, side); partial border cells average what they
        cover."""
        H, W = x.shape[-2:]
        kernel = (min(self.g2, H), min(self.g2, W))
        if kernel == (1, 1):
            return x
        return F.avg_pool2d(x, kernel, kernel, ceil_mode=True)

    def local_attention(self, qkv: Tensor) -> Tensor:
        """Attention inside G1 x G1 windows.

        Args:
            qkv (Tensor): (B, 3C, H, W), channels ordered (q|k|v, head, dim).

        Returns:
            Tensor: (B, C, H, W).
        """
        B, _, H, W = qkv.shape
        wh, ww = self.window_size(H, W)
        nh, nw = math.ceil(H / wh), math.ceil(W / ww)
        Hp, Wp = nh * wh, nw * ww
        mask = None
        if (Hp, Wp) != (H, W):
            qkv = F.pad(qkv, (0, Wp - W, 0, Hp - H))
            valid = qkv.new_zeros((Hp, Wp), dtype=torch.bool)
            valid[:H, :W] = True
            # (1, nh*nw, 1, wh*ww): which keys of each window are real
            mask = valid.reshape(nh, wh, nw, ww).transpose(1, 2).reshape(
                1, nh * nw, 1, wh * ww)

        heads, hd = self.num_heads, self.head_dim
        # (B, 3, heads, hd, nh, wh, nw, ww) -> (3, B, heads, nh, nw, wh, ww, hd)
        qkv = qkv.reshape(B, 3, heads, hd, nh, wh, nw, ww)
        qkv = qkv.permute(1, 0, 2, 4, 6, 5, 7, 3)
        q, k, v = qkv.reshape(3, B * heads, nh * nw, wh * ww, hd).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        # (B, heads, nh, nw, wh, ww, hd) -> (B, heads, hd, nh, wh, nw, ww)
        out = out.reshape(B, heads, nh, nw, wh, ww, hd)
        out = out.permute(0, 1, 6, 2, 4, 3, 5).reshape(B, heads * hd, Hp, Wp)
        if mask is not None:
            out = out[:, :, :H, :W]
        return out


class MultiHeadSelfAttention(nn.Module):
    """Plain MHSA over all tokens: the last stage of HAT-Net, where the map is
    small enough (stride 32) for full attention.

    Args:
        embed_dims (int): Channels C of the input and output.
        head_dim (int): Channels per head; must divide ``embed_dims``.
    """

    def __init__(self, embed_dims: int, head_dim: int):
        super().__init__()
        self.embed_dims = embed_dims
        self.head_dim = head_dim
        self.num_heads = _num_heads(embed_dims, head_dim)
        self.norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.qkv = nn.Conv2d(embed_dims, embed_dims * 3, 1)
        self.proj = nn.Conv2d(embed_dims, embed_dims, 1)

    def extra_repr(self) -> str:
        return f'embed_dims={self.embed_dims}, num_heads={self.num_heads}'

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x))
        q, k, v = qkv.reshape(B, 3, self.num_heads, self.head_dim,
                              H * W).transpose(-2, -1).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(-2, -1).reshape(B, C, H, W))
