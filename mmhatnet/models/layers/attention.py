# Copyright (c) mmhatnet contributors. All rights reserved.
"""H-MHSA, the hierarchical multi-head self-attention of HAT-Net, and the
plain MHSA of the last stage.

Both modules work on channel-first maps ``(B, C, H, W)`` and use 1x1
convolutions as the token projections, as the released implementation does,
so the released weights load without reshaping."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..utils.torch_compat import is_exporting, sdpa, statically_known_true


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
        **Sizes that do not divide.** The released code needs H and W to
        divide by G1 and G2. Here windows and pooling cells are laid from the
        top-left corner as there; the last row/column may be partial:

        * local step: the map is zero-padded to a multiple of the window and
          padded *keys* are masked out, so each valid query attends exactly
          the valid tokens of its window; padded queries are dropped.
        * global step: a partial pooling cell averages only the pixels it
          covers (as ``avg_pool2d(ceil_mode=True)``); no padding, no mask.
        * a map smaller than G1 (G2) along a side uses one window (cell) of
          the map's size along that side: the same computation.

        When H and W divide by G1 and G2 there is no padding or mask: each
        step is exactly the released computation (same token order, same
        1/sqrt(head_dim) scale), so released weights give released outputs.

        **Under autocast** (bf16 on a CPU, fp16/bf16 on CUDA): the 1x1 convs
        and both attentions run in the low dtype; the GroupNorms, residual
        sums and G2 pooling in fp32 (an fp32 residual plus a low-precision
        branch promotes to fp32; GroupNorm keeps its input's dtype on a CPU
        and is on autocast's fp32 list on CUDA). The padding mask is bool:
        SDPA makes it -inf in the compute dtype (no finite fill to overflow
        fp16; every query keeps a valid key). Every SDPA kernel takes
        ``Q K^T`` and the softmax in fp32 (flash and memory-efficient by
        design, the math fallback by upcasting unless
        ``torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True)``),
        so no logit beyond fp16's range exists in fp16 (the reference's plain
        ``softmax(Q K^T)`` would overflow); the output is the low dtype.

        **Export.** The padded computation has no Python branch on the sizes
        (pad amounts, masks, partial-cell rescaling are arithmetic on H, W);
        the shortcuts (no padding when the sizes divide, a window of the
        map's side when smaller than G1) are taken only when the sizes are
        known (eager, ``torch.compile``). ``torch.export`` with dynamic
        shapes traces the general path (G1 x G1 windows, G2 x G2 cells), so
        one exported graph (ONNX, :mod:`mmhatnet.deployment`) fits every
        H, W and batch size.
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
        """(B, C, H, W) -> (B, C, H, W), channels-last in memory."""
        B, C, H, W = x.shape
        x = x.contiguous(memory_format=torch.channels_last)
        local = self.local_attention(self.local_qkv(self.norm(x)))
        x = self.local_norm(x + local)

        q = _tokens(self.global_q(x), 1, self.num_heads)[0]
        kv = self.global_kv(self.pool_norm(self.pool(x)))
        k, v = _tokens(kv, 2, self.num_heads)
        out = sdpa(q, k, v, kind='global')
        return self.proj(_to_map(out, H, W) + x)

    # The geometry of an (H, W) map, in one place for the module, the plain
    # reference (tools/mmhatnet_tools) and the tools that draw or count it.
    def window_size(self, H: int, W: int) -> Tuple[int, int]:
        """The local window (wh, ww) used for an (H, W) map: G1, or the map's
        side where it is smaller; ``ceil(H/wh) x ceil(W/ww)`` windows, the
        last ones padded."""
        return _at_most(H, self.g1), _at_most(W, self.g1)

    def pool_size(self, H: int, W: int) -> Tuple[int, int]:
        """The pooling cell (kh, kw) of the global keys/values of an (H, W)
        map: G2, or the map's side where it is smaller; ``ceil(H/kh) x
        ceil(W/kw)`` keys, partial border cells averaging what they cover."""
        return _at_most(H, self.g2), _at_most(W, self.g2)

    def pool(self, x: Tensor) -> Tensor:
        """Average-pool by G2: (B, C, H, W) -> (B, C, ceil(H/kh), ceil(W/kw))
        with ``(kh, kw) = pool_size(H, W)``; partial border cells average
        what they cover."""
        H, W = x.shape[-2:]
        kernel = self.pool_size(H, W)
        if kernel == (1, 1):
            return x
        return avg_pool_partial(x, kernel)

    def local_attention(self, qkv: Tensor) -> Tensor:
        """Attention inside G1 x G1 windows: ``qkv`` (B, 3C, H, W), channels
        ordered (q|k|v, head, dim), fastest channels-last in memory ->
        (B, C, H, W), channels-last."""
        B, C3, H, W = qkv.shape
        heads, hd = self.num_heads, self.head_dim
        wh, ww = self.window_size(H, W)
        # ceil(H / wh) as integer arithmetic: exact for symbolic sizes too
        nh, nw = (H + wh - 1) // wh, (W + ww - 1) // ww
        Hp, Wp = nh * wh, nw * ww
        tokens = qkv.permute(0, 2, 3, 1)  # (B, H, W, 3C): a view if NHWC
        padded = not (_known(Hp == H) and _known(Wp == W))
        mask = None
        if padded:
            # branch-free in H and W: pad amounts and the mask are
            # arithmetic on the sizes (zero padding along a side that
            # divides), so one exported graph serves every size
            tokens = F.pad(tokens, (0, 0, 0, Wp - W, 0, Hp - H))
            valid = ((torch.arange(Hp, device=qkv.device) < H)[:, None]
                     & (torch.arange(Wp, device=qkv.device) < W)[None, :])
            # (B * nh * nw, 1, 1, wh * ww): which keys of each window are real;
            # bool in every dtype (see the Note: no -1e9 fill to overflow fp16)
            mask = valid.reshape(1, nh, wh, nw, ww).transpose(2, 3).expand(
                B, nh, nw, wh, ww).reshape(B * nh * nw, 1, 1, wh * ww)
        # the one copy of the local step: tokens into windows,
        # (B, nh, wh, nw, ww, 3, heads, hd) -> (3, B, nh, nw, heads, wh, ww, hd)
        windows = tokens.reshape(B, nh, wh, nw, ww, 3, heads, hd).permute(
            5, 0, 1, 3, 6, 2, 4, 7).reshape(3, B * nh * nw, heads, wh * ww, hd)
        out = sdpa(*windows.unbind(0), attn_mask=mask, kind='local')
        # (B, nh, nw, heads, wh, ww, hd) -> (B, nh, wh, nw, ww, heads, hd)
        out = out.reshape(B, nh, nw, heads, wh, ww, hd).permute(
            0, 1, 4, 2, 5, 3, 6).reshape(B, Hp, Wp, heads * hd)
        if padded:
            out = out[:, :H, :W]
        return out.permute(0, 3, 1, 2)


def avg_pool_partial(x: Tensor, kernel: Tuple[int, int]) -> Tensor:
    """Average pooling by ``kernel`` (stride = kernel) where the last row and
    column of cells may be partial and average only what they cover: the
    result of ``F.avg_pool2d(x, kernel, kernel, ceil_mode=True)``.

    Written as whole cells on a zero-padded map rescaled by ``kernel /
    covered`` per row and column of cells (1 for whole ones), because
    inductor (torch 2.14) gets the *backward* of ``ceil_mode=True`` pooling
    wrong on partial cells; no branch on the sizes, so one exported graph
    serves every size. Sizes that divide take the plain ``avg_pool2d``.
    """
    H, W = x.shape[-2:]
    kh, kw = kernel
    # ceil(H / kh) cells; the padding makes the map exactly nh * kh high, a
    # size the exporter's shape solver sees divide by kh (with the padding
    # written as (kh - H % kh) % kh it cannot prove the pooled map non-empty)
    nh, nw = (H + kh - 1) // kh, (W + kw - 1) // kw
    ph, pw = nh * kh - H, nw * kw - W
    if _known(ph == 0) and _known(pw == 0):
        return F.avg_pool2d(x, kernel, kernel)
    pooled = F.avg_pool2d(F.pad(x, (0, pw, 0, ph)), kernel, kernel)
    return pooled * (_cover_scale(H, kh, nh, x)[:, None]
                     * _cover_scale(W, kw, nw, x)[None, :])


def _cover_scale(side, k: int, n, x: Tensor) -> Tensor:
    """(n,): ``k / covered`` for each of the n cells of size k laid over a
    side of ``side`` pixels (1 for whole cells), in ``x``'s dtype."""
    start = torch.arange(n, device=x.device) * k
    covered = (side - start).clamp(max=k).to(x.dtype)
    # a true division (``k / tensor`` would multiply by a reciprocal)
    return torch.full_like(covered, k) / covered


def _known(cond) -> bool:
    """Whether a condition on the sizes holds, for choosing a shortcut.

    Eager (and under ``torch.compile``, which guards on it and recompiles
    when it changes): ``cond``. Under ``torch.export`` with dynamic shapes:
    True only when it holds for every size, with no guard (a guard would
    freeze the traced size into the graph), so the general (padded, masked)
    computation, right for every size, is traced instead."""
    if is_exporting():
        return statically_known_true(cond)
    return bool(cond)


def _at_most(side, g: int):
    """``min(g, side)`` as a plain int with dynamic shapes: under
    ``torch.compile`` a guard on ``side < g`` (not a symbolic ``Min``, which
    inductor's layout code cannot order); under ``torch.export`` no guard and
    ``g`` unless the side is known smaller, so a smaller side gets one
    zero-padded, masked window (cell) of size ``g``: the same computation."""
    return side if _known(side < g) else g


def _tokens(x: Tensor, n: int, heads: int) -> Tuple[Tensor, ...]:
    """Split a channels-last projection (B, n*heads*hd, H, W) into n tensors
    (B, heads, H*W, hd), views of it (no copy when x is channels-last)."""
    B, C, H, W = x.shape
    t = x.permute(0, 2, 3, 1).reshape(B, H * W, n, heads, C // (n * heads))
    return tuple(t.select(2, i).transpose(1, 2) for i in range(n))


def _to_map(out: Tensor, H: int, W: int) -> Tensor:
    """Attention output (B, heads, H*W, hd) -> map (B, heads*hd, H, W),
    channels-last (a view when the heads are interleaved in memory, as SDPA
    writes them on CPU)."""
    B, heads, _, hd = out.shape
    return out.transpose(1, 2).reshape(B, H, W, heads * hd).permute(0, 3, 1, 2)


class MultiHeadSelfAttention(nn.Module):
    """Plain MHSA over all tokens: the last stage of HAT-Net, where the map is
    small enough (stride 32) for full attention.

    Optionally (``pool_to``, off by default) its keys and values are
    average-pooled, as G2 pools H-MHSA's, so its cost stays linear in the
    pixels at high resolution: a side ``s`` larger than ``pool_to`` is pooled
    by ``ceil(s / pool_to)`` (partial border cells averaging what they
    cover), leaving at most ``pool_to`` keys per side. Pooling commutes with
    the 1x1 key/value projection (affine), so the keys are exactly averages
    of the full-resolution keys and the plain model's weights apply
    unchanged. Maps no larger than ``pool_to`` get the plain computation.

    Args:
        embed_dims (int): Channels C of the input and output.
        head_dim (int): Channels per head; must divide ``embed_dims``.
        pool_to (int, optional): Most keys/values per map side; None (the
            paper's model) keeps every token as a key.

    Note:
        **Under autocast**, as in :class:`HierarchicalAttention`: the
        GroupNorm and the ``pool_to`` pooling (of the normalised map, before
        the key projection) in fp32; the projections and the attention (no
        mask; ``Q K^T`` and softmax in fp32) in the low dtype, which the
        block's residual sum promotes to fp32.
    """

    def __init__(self, embed_dims: int, head_dim: int,
                 pool_to: Optional[int] = None):
        super().__init__()
        self.embed_dims = embed_dims
        self.head_dim = head_dim
        self.num_heads = _num_heads(embed_dims, head_dim)
        self.pool_to = pool_to
        self.norm = nn.GroupNorm(1, embed_dims, eps=1e-6)
        self.qkv = nn.Conv2d(embed_dims, embed_dims * 3, 1)
        self.proj = nn.Conv2d(embed_dims, embed_dims, 1)

    @property
    def pool_to(self) -> Optional[int]:
        """Most keys/values per map side (None: all tokens)."""
        return self._pool_to

    @pool_to.setter
    def pool_to(self, value: Optional[int]) -> None:
        self._pool_to = None if value is None else _check_grid(
            'pool_to (the most keys per side of the last stage)', value)

    def extra_repr(self) -> str:
        s = f'embed_dims={self.embed_dims}, num_heads={self.num_heads}'
        return s + (f', pool_to={self.pool_to}' if self.pool_to else '')

    def kv_pool_kernel(self, H: int, W: int) -> Optional[Tuple[int, int]]:
        """The pooling of the keys/values for an (H, W) map; None: none."""
        if self.pool_to is None or max(H, W) <= self.pool_to:
            return None
        return math.ceil(H / self.pool_to), math.ceil(W / self.pool_to)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W), channels-last in memory."""
        B, C, H, W = x.shape
        x = self.norm(x.contiguous(memory_format=torch.channels_last))
        kernel = self.kv_pool_kernel(H, W)
        if kernel is None:
            q, k, v = _tokens(self.qkv(x), 3, self.num_heads)
        else:
            weight, bias = self.qkv.weight, self.qkv.bias
            q = _tokens(F.conv2d(x, weight[:C], bias[:C]), 1,
                        self.num_heads)[0]
            pooled = avg_pool_partial(x, kernel)
            k, v = _tokens(F.conv2d(pooled, weight[C:], bias[C:]), 2,
                           self.num_heads)
        out = sdpa(q, k, v, kind='global')
        return self.proj(_to_map(out, H, W))
