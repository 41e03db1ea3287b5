"""The fast path (fused SDPA, channels-last, views instead of copies) computes
the plain formulation of the paper (``mmhatnet_tools.reference``), in
fp32, forward and backward, on sizes that divide by G1/G2 and sizes that do
not; it survives autocast and ``torch.compile``; the opt-in linear last
stage pools exactly the plain model's keys; and the explicit path of
``record_attention`` (which hands out the weights) gives the same outputs,
leaving the fused path untouched outside it."""
import math

import pytest
import torch
import torch.nn.functional as F
from common import requires_compile, skip_without_cpu_autocast

import mmhatnet.models.layers.attention as attention_module
from mmhatnet.models import (HATNet, HierarchicalAttention,
                             MultiHeadSelfAttention)
from mmhatnet.models.utils import torch_compat
from mmhatnet.models.utils.torch_compat import record_attention
from mmhatnet_tools.reference import (explicit_attention, reference_attention,
                                      reference_backbone)

# a 4-stage HAT-Net narrow enough for fast tests (two heads per stage)
SMALL_ARCH = dict(embed_dims=[16, 32, 48, 64], head_dim=8,
                  mlp_ratios=[4, 4, 2, 2], depths=[1, 2, 1, 1],
                  kernel_sizes=[3, 3, 5, 3])
ATOL = 1e-5


def _randomise(module, seed=0):
    """Weights away from the init (whose 0.02-std projections make every
    attention map nearly uniform), variance-preserving so that activations
    stay O(1) through the depth: every path carries signal."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim > 1:  # conv weights
                p.copy_(noise * 1.5 / math.sqrt(p[0].numel()))
            elif 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * noise)
            else:
                p.copy_(0.2 * noise)
    return module


def _grads(module, x, forward, seed=1):
    """Forward, then the gradients of a fixed random projection of the
    outputs w.r.t. the input and every parameter."""
    module.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    outs = forward(x)
    outs = outs if isinstance(outs, tuple) else (outs, )
    gen = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    return [o.detach() for o in outs], x.grad, grads


def _close(ours, ref, tol, name):
    """Outputs: max |ours - ref| <= tol * max(1, max |ref|) (absolute for
    the O(1) maps)."""
    assert ours.shape == ref.shape, name
    err = (ours - ref).abs().max().item() if ref.numel() else 0.
    scale = max(1., ref.abs().max().item() if ref.numel() else 0.)
    assert err <= tol * scale, (f'{name}: max error {err:.2e} > '
                                f'{tol:.0e} x {scale:.3g}')


def _assert_grads_same(ours, ref, tol):
    """Gradients (dicts name -> tensor): ``||ours - ref|| <= tol * ||ref||``
    for each tensor, and for all of them as one vector.

    A weight gradient is a sum over every token of terms much larger than
    itself, so its fp32 rounding is relative to the whole tensor, not to each
    entry (the two formulations agree to 1e-13 in float64). A gradient that
    is exactly zero in exact arithmetic (the queries' one, when a single
    pooled key makes the softmax constant) is held to the scale of the
    whole gradient instead: ``tol * 1e-2 * ||all of ref||``.
    """
    assert ours.keys() == ref.keys()
    everything = torch.cat([g.flatten() for g in ref.values()]).norm().item()
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        err = (ours[name] - ref[name]).norm().item()
        scale = max(ref[name].norm().item(), 1e-2 * everything)
        assert err <= tol * scale, (
            f'gradient of {name}: error {err:.2e} > {tol:.0e} x {scale:.3g}')
    err = torch.cat([(ours[n] - ref[n]).flatten() for n in ref]).norm()
    assert err <= tol * everything, f'all gradients: error {err:.2e}'


def _assert_same(a, b, tol=ATOL):
    outs_a, gx_a, gp_a = a
    outs_b, gx_b, gp_b = b
    for i, (oa, ob) in enumerate(zip(outs_a, outs_b)):
        _close(oa, ob, tol, f'output {i}')
    _assert_grads_same(dict(gp_a, input=gx_a), dict(gp_b, input=gx_b), tol)


SIZES = [
    ((16, 16), 8, 4),   # divides: the released computation, no padding
    ((16, 24), 4, 8),   # divides, not square
    ((13, 10), 4, 3),   # neither divides: partial windows and cells
    ((9, 17), 8, 16),   # map smaller than G2 on one side
    ((5, 3), 8, 16),    # map smaller than G1 and G2
]


@pytest.mark.parametrize('size,g1,g2', SIZES)
def test_hmhsa_equals_plain_formulation_fp32(size, g1, g2):
    m = _randomise(HierarchicalAttention(32, 8, g1=g1, g2=g2))
    x = torch.randn(2, 32, *size)
    _assert_same(_grads(m, x, m), _grads(m, x, lambda t: reference_attention(
        m, t)))


@pytest.mark.parametrize('size', [(8, 8), (7, 5), (1, 1)])
def test_mhsa_equals_plain_formulation_fp32(size):
    m = _randomise(MultiHeadSelfAttention(32, 16))
    x = torch.randn(2, 32, *size)
    _assert_same(_grads(m, x, m), _grads(m, x, lambda t: reference_attention(
        m, t)))


@pytest.mark.parametrize('size', [(64, 64), (50, 75)])
def test_backbone_equals_plain_formulation_fp32(size):
    model = _randomise(HATNet(arch=SMALL_ARCH, drop_path_rate=0.))
    x = torch.randn(2, 3, *size)
    fused = _grads(model, x, model)
    plain = _grads(model, x, lambda t: reference_backbone(model, t))
    assert len(fused[0]) == 4
    _assert_same(fused, plain)


def test_the_plain_formulation_is_not_the_fast_path(monkeypatch):
    """Guard against a reference that calls the code it checks."""
    m = _randomise(HierarchicalAttention(16, 8, g1=4, g2=2))
    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        lambda *a, **k: pytest.fail('reference used SDPA'))
    reference_attention(m, torch.randn(1, 16, 8, 8))


# -------------------------------------------------------- no extra copies
def test_divisible_sizes_take_the_fast_path_without_padding(monkeypatch):
    m = HierarchicalAttention(32, 8, g1=4, g2=2)
    calls = []
    real_pad = F.pad
    monkeypatch.setattr(attention_module.F, 'pad',
                        lambda *a, **k: calls.append(1) or real_pad(*a, **k))
    real_sdpa = F.scaled_dot_product_attention
    masks = []

    def sdpa(*args, attn_mask=None, **kwargs):
        masks.append(attn_mask)
        return real_sdpa(*args, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(attention_module.F, 'scaled_dot_product_attention',
                        sdpa)
    m(torch.randn(1, 32, 8, 12))
    assert calls == [] and masks == [None, None]
    m(torch.randn(1, 32, 7, 12))  # 7 rows: partial windows and cells
    assert calls and masks[2] is not None


def test_layout_is_channels_last_and_token_splits_are_views():
    m = HierarchicalAttention(32, 8, g1=4, g2=2)
    x = torch.randn(2, 32, 8, 8).contiguous(memory_format=torch.channels_last)
    out = m(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    proj = m.global_q(x)
    q, = attention_module._tokens(proj, 1, m.num_heads)
    assert q.shape == (2, m.num_heads, 64, m.head_dim)
    assert q.data_ptr() == proj.data_ptr()  # a view, not a copy
    attn = F.scaled_dot_product_attention(q, q, q)
    back = attention_module._to_map(attn, 8, 8)
    assert back.shape == (2, 32, 8, 8)
    assert back.data_ptr() == attn.data_ptr()  # SDPA's layout is reused


def test_nchw_input_gives_the_same_result():
    m = _randomise(HierarchicalAttention(32, 8, g1=4, g2=2))
    x = torch.randn(2, 32, 12, 8)
    cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(m(x), m(cl), rtol=0, atol=0)


# -------------------------------------------------- autocast and compile
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_outputs_are_finite_and_close_to_fp32(dtype):
    skip_without_cpu_autocast(dtype)
    model = _randomise(HATNet(arch=SMALL_ARCH, drop_path_rate=0.)).eval()
    x = torch.randn(2, 3, 72, 56)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=dtype):
            low = model(x)
    for r, o in zip(ref, low):
        assert torch.isfinite(o).all()
        rel = (o.float() - r).norm() / r.norm()
        assert rel < 0.05, f'{dtype}: relative error {rel:.3f}'


def test_autocast_training_step_has_finite_gradients():
    model = _randomise(HATNet(arch=SMALL_ARCH, drop_path_rate=0.))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.randn(2, 3, 64, 48))
        loss = sum(o.float().square().mean() for o in outs)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


MODULES = dict(
    hmhsa=lambda: HierarchicalAttention(32, 8, g1=4, g2=3),
    mhsa=lambda: MultiHeadSelfAttention(32, 8),
    mhsa_pooled=lambda: MultiHeadSelfAttention(32, 8, pool_to=2))
# divisible, padded windows + partial pooling cells, map smaller than G1
COMPILE_SIZES = [(8, 12), (7, 10), (3, 3)]


@requires_compile
@pytest.mark.parametrize('name', MODULES)
def test_attention_compiles_as_one_graph(name):
    """fullgraph=True raises on any graph break in the attention block."""
    torch._dynamo.reset()
    module = _randomise(MODULES[name]())
    compiled = torch.compile(module, backend='eager', fullgraph=True)
    for size in COMPILE_SIZES:
        x = torch.randn(2, 32, *size)
        _assert_same(_grads(module, x, compiled), _grads(module, x, module))


@requires_compile
def test_hmhsa_compiled_by_inductor_matches_eager_forward_and_backward():
    """The real compiler, forward and backward. (It caught inductor's wrong
    backward of ceil_mode pooling on partial cells; see
    ``avg_pool_partial``.) Static shapes: inductor of torch 2.14 fails on
    this block with dynamic shapes (see docs/performance.md)."""
    torch._dynamo.reset()
    module = _randomise(MODULES['hmhsa']())
    compiled = torch.compile(module, fullgraph=True, dynamic=False)
    for size in COMPILE_SIZES:
        x = torch.randn(2, 32, *size)
        _assert_same(_grads(module, x, compiled), _grads(module, x, module),
                     tol=1e-4)


# ------------------------------------------------ the linear last stage
def _plain_pooled_mhsa(m, x, kernel):
    """Keys/values of the plain model, computed at full resolution, then
    average-pooled: what ``pool_to`` promises."""
    B, C, H, W = x.shape
    qkv = m.qkv(m.norm(x))
    q = qkv[:, :C].reshape(B, m.num_heads, m.head_dim, H * W)
    kv = F.avg_pool2d(qkv[:, C:], kernel, kernel, ceil_mode=True)
    k, v = kv.reshape(B, 2, m.num_heads, m.head_dim, -1).unbind(1)
    out = explicit_attention(q.transpose(-2, -1), k.transpose(-2, -1),
                             v.transpose(-2, -1))
    return m.proj(out.transpose(-2, -1).reshape(B, C, H, W))


@pytest.mark.parametrize('size,pool_to,kernel', [
    ((16, 16), 4, (4, 4)),
    ((13, 9), 4, (4, 3)),   # partial border cells
    ((16, 8), 8, (2, 1)),
])
def test_pooled_last_stage_averages_the_plain_keys(size, pool_to, kernel):
    m = _randomise(MultiHeadSelfAttention(32, 8, pool_to=pool_to))
    assert m.kv_pool_kernel(*size) == kernel
    x = torch.randn(2, 32, *size)
    torch.testing.assert_close(m(x), _plain_pooled_mhsa(m, x, kernel),
                               rtol=1e-4, atol=ATOL)


def test_pooled_last_stage_is_plain_up_to_pool_to():
    m = _randomise(MultiHeadSelfAttention(32, 8, pool_to=16))
    x = torch.randn(2, 32, 16, 12)
    assert m.kv_pool_kernel(16, 12) is None
    torch.testing.assert_close(m(x), reference_attention(m, x), rtol=1e-4,
                               atol=ATOL)


def test_last_stage_pool_to_is_off_by_default_and_parameter_free():
    plain = HATNet(arch=SMALL_ARCH)
    assert plain.last_stage_pool_to is None
    pooled = HATNet(arch=SMALL_ARCH, last_stage_pool_to=2)
    assert pooled.last_stage_pool_to == 2
    # the same weights load into both, and it can be switched on a built one
    pooled.load_state_dict(plain.state_dict())
    plain.eval(), pooled.eval()
    x = torch.randn(1, 3, 128, 128)  # last stage 4 x 4 -> 2 x 2 keys
    with torch.no_grad():
        a, b = plain(x)[-1], pooled(x)[-1]
        assert not torch.allclose(a, b)
        plain.last_stage_pool_to = 2
        torch.testing.assert_close(plain(x)[-1], b)
    with pytest.raises(ValueError, match='last_stage_pool_to=0 must be None'):
        HATNet(arch=SMALL_ARCH, last_stage_pool_to=0)


# ------------------------------------------- the recorded (explicit) path
@pytest.mark.parametrize('size,g1,g2', SIZES)
def test_recorded_path_equals_the_fused_path_fp32(size, g1, g2):
    m = _randomise(HierarchicalAttention(32, 8, g1=g1, g2=g2))
    x = torch.randn(2, 32, *size)
    fused = _grads(m, x, m)

    def recorded(t):
        with record_attention() as records:
            out = m(t)
        seen.append(records)
        return out

    seen = []
    _assert_same(_grads(m, x, recorded), fused)
    records, = seen
    H, W = size
    wh, ww = m.window_size(H, W)
    kh, kw = m.pool_size(H, W)
    nh, nw = math.ceil(H / wh), math.ceil(W / ww)
    ph, pw = math.ceil(H / kh), math.ceil(W / kw)
    assert [r['kind'] for r in records] == ['local', 'global']
    local, glob = (r['weights'] for r in records)
    assert local.shape == (2 * nh * nw, m.num_heads, wh * ww, wh * ww)
    assert glob.shape == (2, m.num_heads, H * W, ph * pw)
    for w in (local, glob):
        assert w.dtype == torch.float32
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    # padded keys (past the map's bottom/right) get weight exactly 0
    valid = ((torch.arange(nh * wh) < H)[:, None]
             & (torch.arange(nw * ww) < W)[None, :])
    valid = valid.reshape(nh, wh, nw, ww).transpose(1, 2).reshape(
        nh * nw, 1, 1, wh * ww).repeat(2, 1, 1, 1)  # (windows, 1, 1, keys)
    assert (local[~valid.expand_as(local)] == 0).all()
    assert (local[valid.expand_as(local)] > 0).all()


@pytest.mark.parametrize('pool_to,size', [(None, (7, 5)), (2, (5, 4))])
def test_recorded_mhsa_equals_the_fused_path(pool_to, size):
    m = _randomise(MultiHeadSelfAttention(32, 8, pool_to=pool_to))
    x = torch.randn(2, 32, *size)
    with torch.no_grad():
        fused = m(x)
        with record_attention() as records:
            out = m(x)
    _close(out, fused, ATOL, 'recorded MHSA')
    kh, kw = m.kv_pool_kernel(*size) or (1, 1)
    keys = math.ceil(size[0] / kh) * math.ceil(size[1] / kw)
    rec, = records
    assert rec['kind'] == 'global'
    assert rec['weights'].shape == (2, m.num_heads, size[0] * size[1], keys)
    assert rec['v'].shape == (2, m.num_heads, keys, 8)


def test_backbone_recorded_path_and_fused_path_outside_it():
    model = _randomise(HATNet(arch=SMALL_ARCH, drop_path_rate=0.)).eval()
    x = torch.randn(1, 3, 50, 75)
    with torch.no_grad():
        before = model(x)
        with record_attention() as outer:
            with record_attention() as inner:
                recorded = model(x)
            model.stages[-1][0].attn(recorded[-1])
        after = model(x)
    # stages 0-2: local + global per block; the last: one global per block
    depths = SMALL_ARCH['depths']
    assert len(inner) == 2 * sum(depths[:3]) + depths[3]
    assert [r['kind'] for r in outer] == ['global']  # only the innermost
    assert torch_compat._RECORDS == []
    for a, b, r in zip(before, after, recorded):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # bit for bit
        _close(r, a, ATOL, 'recorded backbone')


def test_recorded_path_is_fp32_under_autocast():
    skip_without_cpu_autocast(torch.bfloat16)
    m = _randomise(HierarchicalAttention(32, 8, g1=4, g2=2))
    x = torch.randn(1, 32, 8, 8)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        fused = m(x)
        with record_attention() as records:
            out = m(x)
    assert out.dtype == fused.dtype
    assert all(r['weights'].dtype == torch.float32 for r in records)
    rel = (out.float() - fused.float()).norm() / fused.float().norm()
    assert rel < 0.05
