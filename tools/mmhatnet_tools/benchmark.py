# Copyright (c) mmhatnet contributors. All rights reserved.
"""The measuring core of ``tools/analysis/benchmark.py``: the models it
compares, the time and peak memory of a callable, one model measured in a
fresh interpreter.

* :func:`build` gives ``(module, forward)`` for a model name of
  :data:`ALL_MODELS` / :data:`COMPILED_MODELS` and, for HAT-Net, a variant
  of :data:`VARIANTS`.
* :func:`time_calls` is the one timer of the tools (this benchmark,
  ``tools/analysis/gpu_check.py``, ``tools/deployment/benchmark.py``):
  the seconds of each of ``repeats`` calls after ``warmup`` untimed ones,
  on the clock of ``torch.utils.benchmark`` (accelerator synchronised).
* :class:`Meter` times a callable with it (the median of ``repeats``) and
  takes its peak memory: on a GPU
  ``torch.cuda.max_memory_allocated`` above what was allocated before; on a
  CPU the process's peak resident set (``VmHWM``, reset through
  ``/proc/self/clear_refs``) above its resident set just before, after
  returning freed heap to the OS (``malloc_trim``).
* :func:`measure_model` measures inference and a training step of one model
  at one size (a JSON-able row); :func:`in_subprocess` does it in a fresh
  interpreter (``python -m mmhatnet_tools.benchmark SPEC OUT``), so that
  nothing (allocator caches, thread pools) leaks from one model to the next.
"""
import ctypes
import json
import math
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import timeit
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

HATNET_SIZES = ('tiny', 'small', 'medium', 'large')
PEERS = ('swin-t', 'pvtv2-b2')
ALL_MODELS = tuple(f'hatnet-{s}' for s in HATNET_SIZES) + tuple(
    f'hatnet-{s}-plain' for s in HATNET_SIZES) + PEERS
# opt-in (not in the default list: inductor takes minutes per model on CPU)
COMPILED_MODELS = tuple(f'hatnet-{s}-compiled' for s in HATNET_SIZES)
# variants of a HAT-Net model (the scaling mode of the tool)
VARIANTS = ('fused', 'plain', 'linear-last', 'fixed-keys', 'full-mhsa')
DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


# ------------------------------------------------------------------ models
def build(name: str, height: int, variant: str = 'fused') -> Tuple[
        nn.Module, Callable]:
    """``(module, forward)``: ``forward(x)`` returns a tuple of maps.

    HAT-Net runs with the paper's ImageNet G1/G2 at ``height`` 224 and with
    the dense-task ones otherwise. ``variant`` (HAT-Net only): ``fused`` (the
    model as it is), ``plain`` (:func:`mmhatnet_tools.reference_backbone`,
    same weights), ``linear-last`` (``last_stage_pool_to=16``),
    ``fixed-keys`` (``linear-last`` and G2 multiplied by
    ``ceil(height / 512)``), ``full-mhsa`` (:func:`full_mhsa_backbone`).
    """
    if name.startswith('hatnet-'):
        from mmhatnet.models import HATNet
        from mmhatnet_tools.reference import reference_backbone
        size = name.split('-')[1]
        plain = name.endswith('-plain') or variant == 'plain'
        if height == 224:
            gs = dict(g1=HATNet.imagenet_g1, g2=HATNet.imagenet_g2)
        else:
            gs = dict(g1=HATNet.dense_g1, g2=HATNet.dense_g2)
        kwargs = {}
        if variant in ('linear-last', 'fixed-keys'):
            kwargs['last_stage_pool_to'] = 16
        if variant == 'fixed-keys':  # G2 grows with the side, from 512^2
            grow = max(1, math.ceil(height / 512))
            gs = dict(g1=gs['g1'], g2=tuple(g * grow for g in gs['g2']))
        torch.manual_seed(0)
        model = HATNet(arch=size, **gs, **kwargs)
        model.init_weights()
        if plain:
            return model, lambda x: reference_backbone(model, x)
        if variant == 'full-mhsa':
            return model, lambda x: full_mhsa_backbone(model, x)
        if name.endswith('-compiled'):
            # static shapes: inductor of torch 2.14 fails on dynamic ones here
            return model, torch.compile(model, dynamic=False)
        return model, model
    if name not in PEERS:
        raise ValueError(f'unknown model {name!r}; choose from '
                         f'{ALL_MODELS + COMPILED_MODELS}')
    from mmdet.models.backbones import (PyramidVisionTransformerV2,
                                        SwinTransformer)
    torch.manual_seed(0)
    if name == 'swin-t':
        model = SwinTransformer(embed_dims=96, depths=(2, 2, 6, 2),
                                num_heads=(3, 6, 12, 24), window_size=7,
                                out_indices=(0, 1, 2, 3))
    else:
        model = PyramidVisionTransformerV2(embed_dims=64,
                                           num_layers=(3, 4, 6, 3))
    model.init_weights()
    return model, model


def _full_mhsa_block(block, x):
    from mmhatnet.models import HierarchicalAttention
    a = block.attn
    if isinstance(a, HierarchicalAttention):
        B, C, H, W = x.shape
        qkv = a.local_qkv(a.norm(x)).permute(0, 2, 3, 1).reshape(
            B, H * W, 3, a.num_heads, a.head_dim)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
        y = F.scaled_dot_product_attention(q, k, v)
        y = y.transpose(1, 2).reshape(B, H, W, C).permute(0, 3, 1, 2)
        x = x + a.proj(y)
    else:
        x = x + block.attn(x)
    return x + block.mlp(x)


def full_mhsa_backbone(model, x):
    """HAT-Net with every H-MHSA replaced by plain MHSA over all tokens
    (local q/k/v and output projections reused): the quadratic wall."""
    from mmhatnet_tools.reference import backbone_with_blocks
    return backbone_with_blocks(
        model, x.contiguous(memory_format=torch.channels_last),
        _full_mhsa_block)


class ForwardModule(nn.Module):
    """A module around a forward function (for the FLOP counter)."""

    def __init__(self, forward, model):
        super().__init__()
        self.model = model
        self._forward = forward

    def forward(self, x):
        return tuple(self._forward(x))


def gflops(forward_module: nn.Module, height: int, width: int,
           batch: int) -> Optional[float]:
    """Multiply-adds of one forward, attention included, in G; None (and a
    line on stderr) when the counter fails, so that the timings are kept."""
    try:
        from mmhatnet_tools.complexity import complete_flops
        total, _, _ = complete_flops(forward_module, (height, width))
        return total * batch / 1e9
    except Exception as e:  # a counter failure must not lose the timings
        print(f'  (FLOP count failed: {type(e).__name__}: {e})',
              file=sys.stderr)
        return None


# ------------------------------------------------------------- measuring
def time_calls(fn: Callable[[], object], warmup: int,
               repeats: int) -> List[float]:
    """Seconds of each of ``repeats`` calls of ``fn()``, after ``warmup``
    untimed calls: ``fn`` runs exactly ``warmup + repeats`` times.

    Each call is one ``timeit`` measurement on the clock of
    ``torch.utils.benchmark.Timer`` (``torch.utils.benchmark.timer``, which
    synchronises the accelerator before reading the time), which is what
    that ``Timer`` does inside; its ``timeit(1)`` itself is not called, as
    it adds two warm-up calls to every measurement (tripling the runs of a
    slow training step) and runs torch on one thread unless told
    otherwise."""
    from torch.utils.benchmark import timer as clock
    for _ in range(warmup):
        fn()
    once = timeit.Timer('fn()', timer=clock, globals={'fn': fn})
    return [once.timeit(1) for _ in range(repeats)]


class Meter:
    """Median time and peak memory of a callable, on CPU or CUDA."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == 'cuda'
        self._libc = None
        if not self.cuda and platform.system() == 'Linux':
            try:
                self._libc = ctypes.CDLL('libc.so.6')
            except OSError:
                pass

    def _rss_kb(self, field: str) -> int:
        with open('/proc/self/status') as f:
            return int(re.search(rf'{field}:\s+(\d+)', f.read()).group(1))

    def _reset_peak(self) -> int:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated()
        if self._libc is not None:
            self._libc.malloc_trim(0)
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
        except OSError:
            pass
        return self._rss_kb('VmRSS') * 1024

    def _peak(self) -> int:
        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated()
        return self._rss_kb('VmHWM') * 1024

    def measure(self, fn: Callable, warmup: int, repeats: int
                ) -> Tuple[float, float, List[float]]:
        """``(median seconds, peak bytes above the start, all times)``;
        the peak is of the timed calls (the warm-up ones come before)."""
        time_calls(fn, warmup, 0)
        base = self._reset_peak()
        times = time_calls(fn, 0, repeats)
        return statistics.median(times), max(self._peak() - base, 0), times


def measure_model(name: str, height: int, width: int, batch: int,
                  modes: Sequence[str], warmup: int, repeats: int,
                  device: torch.device, variant: str = 'fused',
                  dtype: str = 'fp32') -> Dict:
    """Time and memory of one model at one size, in fp32 or under autocast
    (``dtype`` bf16/fp16); a JSON-able dict.

    ``modes``: ``infer`` (``eval()``, ``no_grad``, forward only) and / or
    ``train`` (``train()``, forward + backward of the mean of every output;
    no optimizer)."""
    from mmhatnet.engine import inference_autocast
    model, forward = build(name, height, variant)
    model.to(device)
    x = torch.randn(batch, 3, height, width, device=device)
    meter = Meter(device)
    row = dict(model=name, variant=variant, height=height, width=width,
               batch=batch, dtype=dtype)
    cast = DTYPES[dtype]

    def infer():
        with torch.no_grad(), inference_autocast(device.type, cast):
            forward(x)

    def train_step():
        with inference_autocast(device.type, cast):
            outs = forward(x)
        loss = sum(o.float().mean() for o in outs)
        loss.backward()
        model.zero_grad(set_to_none=True)

    for mode in modes:
        model.train(mode == 'train')
        fn = train_step if mode == 'train' else infer
        t, mem, times = meter.measure(fn, warmup, repeats)
        row[mode] = dict(seconds=t, peak_bytes=mem, times=times)
    model.eval()
    # count the eager forward: the compiled one computes the same thing
    wrapper = ForwardModule(model if name.endswith('-compiled') else forward,
                            model)
    row['gflops'] = gflops(wrapper, height, width, batch)
    return row


def run_worker(spec: Dict) -> Dict:
    """Measure one model in this process (the subprocess side); ``spec``
    holds the arguments of :func:`measure_model` (``device`` as a string,
    ``variant`` and ``dtype`` optional)."""
    device = torch.device(spec['device'])
    return measure_model(spec['model'], spec['height'], spec['width'],
                         spec['batch'], spec['modes'], spec['warmup'],
                         spec['repeats'], device,
                         spec.get('variant', 'fused'),
                         spec.get('dtype', 'fp32'))


def in_subprocess(spec: Dict, timeout: Optional[float] = None
                  ) -> Optional[Dict]:
    """Run :func:`run_worker` in a fresh interpreter; None (and a line on
    stderr) if it died (e.g. out of memory) or timed out."""
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'row.json')
        cmd = [sys.executable, '-m', 'mmhatnet_tools.benchmark',
               json.dumps(spec), out]
        tools = osp.dirname(osp.dirname(osp.abspath(__file__)))
        path = os.pathsep.join(
            filter(None, [tools, os.environ.get('PYTHONPATH')]))
        try:
            proc = subprocess.run(cmd, timeout=timeout,
                                  env=dict(os.environ, PYTHONPATH=path))
        except subprocess.TimeoutExpired:
            print(f'  {spec["model"]} {spec.get("variant", "")} '
                  f'{spec["height"]}x{spec["width"]}: timed out',
                  file=sys.stderr)
            return None
        if proc.returncode != 0 or not osp.isfile(out):
            print(f'  {spec["model"]} {spec.get("variant", "")} '
                  f'{spec["height"]}x{spec["width"]}: failed '
                  f'(exit {proc.returncode})', file=sys.stderr)
            return None
        with open(out) as f:
            return json.load(f)


# ------------------------------------------------------------- describing
def machine() -> str:
    """The device the measurements run on (a CPU with its threads and bf16
    support, or the GPU) and torch's version: rows of two machines do not
    compare."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            m = re.search(r'model name\s*:\s*(.*)', f.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    if torch.cuda.is_available():
        dev = torch.cuda.get_device_name()
    else:
        from mmhatnet.engine import describe_cpu_bf16
        dev = (f'CPU {cpu}, {torch.get_num_threads()} threads '
               f'({describe_cpu_bf16()})')
    return f'{dev}; torch {torch.__version__}'


def fit_exponent(points: List[Tuple[int, float]]) -> Optional[float]:
    """Least-squares slope of log(time) against log(pixels)."""
    if len(points) < 2:
        return None
    xs = [math.log(p) for p, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx)**2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


if __name__ == '__main__':  # the subprocess of in_subprocess: SPEC OUT
    _spec, _out = sys.argv[1:]
    _row = run_worker(json.loads(_spec))
    with open(_out, 'w') as _f:
        json.dump(_row, _f)
