"""Every module of HAT-Net under CPU autocast (bf16, fp16) stays close to its
fp32 output, on sizes that divide by G1/G2 and sizes that do not; the
padding mask cannot overflow fp16, and logits beyond fp16's range do not
turn into inf/NaN."""
import math

import pytest
import torch
import torch.nn.functional as F
from common import skip_without_cpu_autocast

import mmhatnet.models.layers.attention as attention_module
from mmhatnet.models import (HATBlock, HATNet, HierarchicalAttention,
                             InvertedResidualMLP, MultiHeadSelfAttention)
from mmhatnet_tools.reference import explicit_attention

ARCH = dict(embed_dims=[16, 32, 48, 64], head_dim=8, mlp_ratios=[4, 4, 2, 2],
            depths=[1, 1, 1, 1], kernel_sizes=[3, 3, 5, 3])
# (H, W) of the input map: divisible by G1=4 and G2=2, then not
SIZES = {'divisible': (16, 8), 'not divisible': (13, 7)}
TOL = 2e-2  # the target for features, relative to fp32


def _randomise(module, seed=0):
    """Variance-preserving random weights (the init's small projections
    make attention nearly uniform, which would hide errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim > 1:
                p.copy_(noise * 1.5 / math.sqrt(p[0].numel()))
            else:
                p.copy_((1 if name.endswith('norm.weight') else 0)
                        + 0.2 * noise)
    return module.eval()


def _rel(out, ref):
    return ((out.float() - ref).norm() / ref.norm()).item()


MODULES = {
    'H-MHSA': lambda: HierarchicalAttention(32, 8, g1=4, g2=2),
    'MHSA': lambda: MultiHeadSelfAttention(32, 8),
    'MHSA pooled keys': lambda: MultiHeadSelfAttention(32, 8, pool_to=3),
    'MLP': lambda: InvertedResidualMLP(32, 4, 3),
    'block': lambda: HATBlock(32, 8, 4, 3, g1=4, g2=2),
}


# every module in bf16 (the CPU's --amp) at both sizes; fp16 (the GPU's) on
# the CPU's slow fp16 kernels for the attention modules at the padded size
CASES = [(name, size, torch.bfloat16) for name in MODULES for size in SIZES]
CASES += [(name, 'not divisible', torch.float16)
          for name in ('H-MHSA', 'MHSA pooled keys', 'block')]


@pytest.mark.parametrize('name,size,dtype', CASES)
def test_module_under_autocast_is_close_to_fp32(name, size, dtype):
    skip_without_cpu_autocast(dtype)
    module = _randomise(MODULES[name]())
    x = torch.randn(2, 32, *SIZES[size], generator=torch.Generator()
                    .manual_seed(1))
    with torch.no_grad():
        ref = module(x)
        with torch.autocast('cpu', dtype=dtype):
            out = module(x)
    assert torch.isfinite(out).all()
    # the residual stream stays fp32 where the module has one (see the Note
    # of HierarchicalAttention); the MLP's output is its last conv's
    assert _rel(out, ref) < TOL, f'{name} {size} {dtype}: {_rel(out, ref)}'


@pytest.mark.parametrize('size,dtype', [((64, 64), torch.bfloat16),
                                        ((60, 44), torch.bfloat16),
                                        ((60, 44), torch.float16)])
def test_backbone_stages_under_autocast_are_close_to_fp32(size, dtype):
    skip_without_cpu_autocast(dtype)
    model = HATNet(arch=ARCH, g1=(4, 4, 4), g2=(4, 2, 2), drop_path_rate=0.)
    model.init_weights()
    model.eval()
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=dtype):
            outs = model(x)
    errors = [_rel(o, r) for o, r in zip(outs, ref)]
    assert len(errors) == 4 and max(errors) < TOL, errors


def _sdpa_masks(monkeypatch):
    """Record the attn_mask of every SDPA call of the attention module."""
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        seen.append((q.dtype, attn_mask))
        return real(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(attention_module.F, 'scaled_dot_product_attention',
                        spy)
    return seen


def test_padding_mask_cannot_overflow_fp16(monkeypatch):
    """The mask of a mostly padded window is bool, not a large negative
    float: ``torch.finfo(torch.float32).min`` (or -1e9) would become -inf in
    fp16 and, added to a finite score, NaN where a row ends up all -inf.
    Here the last window row of a 9x9 map with G1=8 has one real key row in
    eight, under fp16 autocast."""
    skip_without_cpu_autocast(torch.float16)
    seen = _sdpa_masks(monkeypatch)
    module = _randomise(HierarchicalAttention(32, 8, g1=8, g2=2))
    x = torch.randn(1, 32, 9, 9, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = module(x)
        with torch.autocast('cpu', dtype=torch.float16):
            out = module(x)
    local = [(dt, m) for dt, m in seen if m is not None]
    assert local, 'the local step of a 9x9 map with G1=8 must be masked'
    for dt, mask in local:
        assert mask.dtype == torch.bool
        assert mask.any(-1).all(), 'a window with no real key'
    assert {dt for dt, _ in local} == {torch.float32, torch.float16}
    assert torch.isfinite(out).all() and _rel(out, ref) < TOL


def test_scores_beyond_fp16_range_stay_finite():
    """q.k beyond 65504, which the explicit ``softmax(Q K^T)`` of the plain
    formulation overflows in fp16, is fine in our attention: SDPA accumulates
    the scores in fp32."""
    skip_without_cpu_autocast(torch.float16)
    module = _randomise(HierarchicalAttention(32, 16, g1=4, g2=2))
    with torch.no_grad():  # scale the local queries and keys up
        module.local_qkv.weight[:64] *= 100
        module.local_qkv.bias[:64] *= 100
    x = torch.randn(1, 32, 12, 12, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        qkv = module.local_qkv(module.norm(x))
        q, k = qkv[:, :16].flatten(2), qkv[:, 32:48].flatten(2)
        scores = q.transpose(1, 2) @ k
        # the scaled scores q.k / sqrt(d) pass fp16's largest value
        assert scores.abs().max() / 4 > 65504
        half = explicit_attention(q.transpose(1, 2).half(),
                                  k.transpose(1, 2).half(),
                                  k.transpose(1, 2).half())
        assert not torch.isfinite(half).all()  # the plain formula overflows
        ref = module(x)
        with torch.autocast('cpu', dtype=torch.float16):
            out = module(x)
    assert torch.isfinite(out).all()
    assert _rel(out, ref) < TOL
