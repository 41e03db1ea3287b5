# Copyright (c) mmhatnet contributors. All rights reserved.
"""What the model needs from torch, on every torch from 2.1 on: newer APIs
looked up where used (never imported at ``import mmhatnet``)."""
import contextlib

import torch
import torch.nn.functional as F

TORCH_VERSION = tuple(
    int(p) for p in torch.__version__.split('+')[0].split('.')[:2])
#: torch <= 2.13 on a CPU crashes the process (segmentation fault) in the
#: backward of a GroupNorm whose channels-last input does not require grad
#: (fixed in 2.14); the backbone steps around it (see ``HATNet.forward``)
GROUPNORM_CHANNELS_LAST_BACKWARD_CRASHES = TORCH_VERSION < (2, 14)
#: and (seen on 2.1.2) corrupts the heap in the bf16 backward of
#: scaled_dot_product_attention on strided (non-contiguous) q, k, v
SDPA_NEEDS_CONTIGUOUS = TORCH_VERSION < (2, 14)
#: ``weights_only`` for a local checkpoint: mmengine's (message hub, numpy)
#: load so only through the allowlist of torch >= 2.4; before it, as that
#: torch itself (and mmengine's loader) reads them
WEIGHTS_ONLY = hasattr(torch.serialization, 'add_safe_globals')
_RECORDS = []  # the lists of the open ``record_attention()`` contexts


@contextlib.contextmanager
def record_attention():
    """Under it, :func:`sdpa` computes ``softmax(q k^T / sqrt(head_dim))``
    in fp32 (masked keys: weight 0) and appends ``dict(kind, weights (...,
    Lq, Lk), v)`` per call to the list it yields, in call order (for the
    attention visualiser). Outside it: the fused kernel, bit for bit."""
    records = []
    _RECORDS.append(records)
    try:
        yield records
    finally:
        _RECORDS.pop()


def sdpa(q, k, v, attn_mask=None, kind=''):
    """``F.scaled_dot_product_attention``; on a torch whose CPU kernels
    need it, on contiguous copies of q, k, v (same values). ``kind``
    ('local', 'global') labels the call for :func:`record_attention`."""
    if _RECORDS:  # fp32 also under autocast
        with torch.autocast(q.device.type, enabled=False):
            s = q.float() @ k.float().transpose(-2, -1) * q.shape[-1]**-0.5
            if attn_mask is not None:
                s = s.masked_fill(~attn_mask, float('-inf'))
            w = s.softmax(-1)
            _RECORDS[-1].append(dict(kind=kind, weights=w, v=v))
            return (w @ v.float()).to(q.dtype)
    if SDPA_NEEDS_CONTIGUOUS:
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


def is_compiling() -> bool:
    """Whether ``torch.compile`` (dynamo) is tracing the caller."""
    compiler = getattr(torch, 'compiler', None)
    if hasattr(compiler, 'is_compiling'):  # torch >= 2.3
        return compiler.is_compiling()
    return bool(torch._dynamo.is_compiling())  # torch 2.1, 2.2


def is_exporting() -> bool:
    """Whether ``torch.export`` is tracing the caller (False before the
    torch that can say so: such a torch is not exporting with our dynamic
    shapes, which need torch >= 2.6)."""
    compiler = getattr(torch, 'compiler', None)
    return bool(getattr(compiler, 'is_exporting', lambda: False)())


def statically_known_true(cond) -> bool:
    """``cond`` holds for every size the symbolic shapes allow (only called
    while exporting, so only on a torch that has it)."""
    from torch.fx.experimental.symbolic_shapes import \
        statically_known_true as known
    return known(cond)
