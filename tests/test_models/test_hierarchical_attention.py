"""H-MHSA against a slow, obviously-correct reference: loops over G1 x G1
windows on valid tokens only, and pooled keys over valid pixels only."""
import math

import pytest
import torch

from mmhatnet.models import HierarchicalAttention, MultiHeadSelfAttention


def explicit_attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v for (..., N, d) tensors."""
    attn = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return attn.softmax(-1) @ v


def reference_hmhsa(m: HierarchicalAttention, x):
    B, C, H, W = x.shape
    heads, hd, G1, G2 = m.num_heads, m.head_dim, m.g1, m.g2
    # step 1: local attention inside each G1 x G1 window (clipped at borders)
    q, k, v = m.local_qkv(m.norm(x)).reshape(B, 3, heads, hd, H, W).unbind(1)
    local = x.new_zeros(B, heads, hd, H, W)
    for top in range(0, H, G1):
        for left in range(0, W, G1):
            win = (Ellipsis, slice(top, top + G1), slice(left, left + G1))
            h, w = q[win].shape[-2:]
            qw, kw, vw = (t[win].reshape(B, heads, hd, h * w).transpose(-2, -1)
                          for t in (q, k, v))
            out = explicit_attention(qw, kw, vw)  # (B, heads, h*w, hd)
            local[win] = out.transpose(-2, -1).reshape(B, heads, hd, h, w)
    y = m.local_norm(x + local.reshape(B, C, H, W))
    # step 2: every token against keys/values pooled over G2 x G2 cells
    rows = range(0, H, G2)
    cols = range(0, W, G2)
    pooled = torch.stack([
        torch.stack([y[:, :, t:t + G2, c:c + G2].mean((2, 3)) for c in cols], -1)
        for t in rows], -2)  # (B, C, len(rows), len(cols))
    assert pooled.shape[-2:] == (math.ceil(H / G2), math.ceil(W / G2))
    k, v = m.global_kv(m.pool_norm(pooled)).reshape(B, 2, heads, hd, -1).unbind(1)
    q = m.global_q(y).reshape(B, heads, hd, H * W)
    out = explicit_attention(q.transpose(-2, -1), k.transpose(-2, -1),
                             v.transpose(-2, -1))
    return m.proj(out.transpose(-2, -1).reshape(B, C, H, W) + y)


def reference_mhsa(m: MultiHeadSelfAttention, x):
    B, C, H, W = x.shape
    q, k, v = m.qkv(m.norm(x)).reshape(B, 3, m.num_heads, m.head_dim,
                                       H * W).transpose(-2, -1).unbind(1)
    out = explicit_attention(q, k, v)
    return m.proj(out.transpose(-2, -1).reshape(B, C, H, W))


def _randomise(module):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3 + (1 if p.ndim == 1 else 0))
    return module


@pytest.mark.parametrize('size,g1,g2', [
    ((16, 16), 8, 4),   # divides: the official computation
    ((13, 10), 4, 3),   # neither divides: partial windows and cells
    ((9, 17), 8, 16),   # one partial window, one partial cell per side
    ((5, 3), 8, 16),    # map smaller than G1 and G2
    ((7, 7), 7, 2),     # G2 does not divide, G1 does
    ((1, 1), 8, 16),    # a single token
])
def test_hmhsa_equals_reference(size, g1, g2):
    m = _randomise(HierarchicalAttention(32, 8, g1=g1, g2=g2)).double()
    x = torch.randn(2, 32, *size, dtype=torch.double)
    ours = m(x)
    ref = reference_hmhsa(m, x)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize('size', [(7, 7), (3, 5)])
def test_mhsa_equals_reference(size):
    m = _randomise(MultiHeadSelfAttention(32, 16)).double()
    x = torch.randn(2, 32, *size, dtype=torch.double)
    torch.testing.assert_close(m(x), reference_mhsa(m, x), rtol=0, atol=1e-10)


def test_padded_tokens_do_not_leak_into_valid_ones():
    """Only the padding masks hide the padded keys: a valid query's local
    output is the same whatever the map holds beyond its window."""
    m = _randomise(HierarchicalAttention(16, 8, g1=4, g2=2)).double()
    qkv = torch.randn(1, 48, 6, 6, dtype=torch.double)
    out = m.local_attention(qkv)
    # the top-left window alone, computed without any padding
    alone = m.local_attention(qkv[:, :, :4, :4].contiguous())
    torch.testing.assert_close(out[:, :, :4, :4], alone)
    # the bottom-right partial 2x2 window alone
    corner = m.local_attention(qkv[:, :, 4:, 4:].contiguous())
    torch.testing.assert_close(out[:, :, 4:, 4:], corner)


def test_grid_sizes_are_validated():
    with pytest.raises(ValueError, match='G1'):
        HierarchicalAttention(32, 8, g1=0, g2=2)
    with pytest.raises(ValueError, match='G2'):
        HierarchicalAttention(32, 8, g1=2, g2=1.5)
    with pytest.raises(ValueError, match='head_dim=12 must divide'):
        HierarchicalAttention(32, 12, g1=2, g2=2)
