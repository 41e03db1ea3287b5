# Copyright (c) mmhatnet contributors. All rights reserved.
"""The plain formulation of HAT-Net, for tests and benchmarks only.

This is the computation as the paper writes it and the released code runs
it: channel-first (NCHW) maps, 1x1 convs on them, and attention spelled out
as ``softmax(Q K^T / sqrt(d)) V`` with the reshapes of Sec. 3.2 (tokens of
each G1 x G1 grid gathered with one permute, pooled keys by
``nn.AvgPool2d``-style pooling). It reads the weights of our modules, so
"same weights" holds by construction, and never calls the fast path
(``HierarchicalAttention.forward`` / ``MultiHeadSelfAttention.forward``).

It is *not* part of the model: nothing under ``mmhatnet.models`` imports it.
``tests/test_models/test_fused_attention.py`` checks the model against it and
``tools/analysis/benchmark.py`` times both.

Sizes that do not divide by G1 / G2 (which the released code cannot run)
are handled the way our model documents: the map is zero-padded to whole
windows and padded keys get ``-inf`` scores; pooling cells at the border
average what they cover (``ceil_mode=True``).
"""
import math
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def explicit_attention(q: Tensor, k: Tensor, v: Tensor,
                       key_mask: Optional[Tensor] = None) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` for (..., N, d) tensors; ``key_mask``
    (broadcastable to (..., 1, Nk), True = real key) sends masked keys'
    scores to ``-inf``."""
    attn = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    if key_mask is not None:
        attn = attn.masked_fill(~key_mask, float('-inf'))
    return attn.softmax(dim=-1) @ v


def reference_hmhsa(m, x: Tensor) -> Tensor:
    """H-MHSA of module ``m`` (a ``HierarchicalAttention``) on ``x``
    (B, C, H, W), in the plain formulation."""
    B, C, H, W = x.shape
    heads, hd = m.num_heads, m.head_dim
    gh, gw = m.window_size(H, W)  # the local grid (window)
    nh, nw = math.ceil(H / gh), math.ceil(W / gw)
    Hp, Wp = nh * gh, nw * gw

    # step 1: local attention inside each G1 x G1 grid
    qkv = m.local_qkv(m.norm(x))
    key_mask = None
    if (Hp, Wp) != (H, W):
        qkv = F.pad(qkv, (0, Wp - W, 0, Hp - H))
        valid = torch.zeros(Hp, Wp, dtype=torch.bool, device=x.device)
        valid[:H, :W] = True
        key_mask = valid.reshape(nh, gh, nw, gw).permute(0, 2, 1, 3).reshape(
            1, 1, nh * nw, 1, gh * gw)
    qkv = qkv.reshape(B, 3, heads, hd, nh, gh, nw, gw)
    qkv = qkv.permute(1, 0, 2, 4, 6, 5, 7, 3).reshape(
        3, B, heads, nh * nw, gh * gw, hd)
    local = explicit_attention(qkv[0], qkv[1], qkv[2], key_mask)
    local = local.reshape(B, heads, nh, nw, gh, gw, hd).permute(
        0, 1, 6, 2, 4, 3, 5).reshape(B, C, Hp, Wp)[:, :, :H, :W]
    x = m.local_norm(x + local)

    # step 2: every token against the keys/values pooled by G2
    q = m.global_q(x).reshape(B, heads, hd, H * W).transpose(-2, -1)
    kernel = m.pool_size(H, W)
    pooled = F.avg_pool2d(x, kernel, kernel, ceil_mode=True)
    kv = m.global_kv(m.pool_norm(pooled)).reshape(B, 2, heads, hd, -1)
    k, v = kv.permute(1, 0, 2, 4, 3)
    out = explicit_attention(q, k, v)
    out = out.transpose(-2, -1).reshape(B, C, H, W)
    return m.proj(out + x)


def reference_mhsa(m, x: Tensor) -> Tensor:
    """Plain MHSA of module ``m`` (a ``MultiHeadSelfAttention``) on ``x``
    (B, C, H, W)."""
    B, C, H, W = x.shape
    qkv = m.qkv(m.norm(x)).reshape(B, 3, m.num_heads, m.head_dim, H * W)
    q, k, v = qkv.transpose(-2, -1).unbind(1)
    out = explicit_attention(q, k, v)
    return m.proj(out.transpose(-2, -1).reshape(B, C, H, W))


def reference_attention(m, x: Tensor) -> Tensor:
    """The plain formulation of either attention module."""
    if hasattr(m, 'local_qkv'):
        return reference_hmhsa(m, x)
    return reference_mhsa(m, x)


def reference_block(block, x: Tensor) -> Tensor:
    """A ``HATBlock`` with the plain attention (its MLP is already plain)."""
    x = x + block.drop_path(reference_attention(block.attn, x))
    return x + block.drop_path(block.mlp(x))


def backbone_with_blocks(backbone, x: Tensor,
                         block_forward: Callable[[object, Tensor], Tensor]
                         ) -> Tuple[Tensor, ...]:
    """``HATNet.forward`` with every block run as ``block_forward(block, x)``
    (stem, downsampling and ``out_indices`` as the model's own); ``x`` is
    taken in the memory layout it comes in."""
    x = backbone.stem(x)
    outs = []
    for i, stage in enumerate(backbone.stages):
        if i > 0:
            x = backbone.downsample_layers[i - 1](x)
        for block in stage:
            x = block_forward(block, x)
        if i in backbone.out_indices:
            outs.append(x)
    return tuple(outs)


def reference_backbone(backbone, x: Tensor) -> Tuple[Tensor, ...]:
    """``HATNet.forward`` in the plain formulation: NCHW throughout, no
    layout change, explicit attention. Same weights, same outputs."""
    return backbone_with_blocks(backbone, x.contiguous(), reference_block)
