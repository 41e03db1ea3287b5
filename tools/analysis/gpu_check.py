#!/usr/bin/env python
# Copyright (c) mmhatnet contributors. All rights reserved.
"""HAT-Net on a GPU in one command: forward and training step in fp32, fp16
and bf16, against the plain formulation, with the SDPA kernels used.

    python tools/analysis/gpu_check.py                  # CUDA, Small, 2x3x512
    python tools/analysis/gpu_check.py --device cpu --quick   # reduced, CPU

It needs torch and the backbone's own imports only (mmengine and the
pure-Python parts of mmcv; no mmcv ops, no mmdet), so it runs on a GPU
machine with another torch build. For each dtype (fp32, and autocast in
fp16 and bf16 where the device has them) it prints:

* the relative error ``||a - b|| / ||b||`` of each stage's output against
  our fp32 output, for our model (``fused``) and for the plain formulation
  (``plain``, :func:`mmhatnet_tools.reference_backbone`: explicit
  ``softmax(Q K^T / sqrt d) V``, NCHW) at the same weights, at a size that
  divides by G1/G2 and at one that does not (padding mask in the local
  step); non-finite outputs are reported as such;
* the SDPA operator that ran in the local step with the padding mask and
  without it, as dispatched (e.g. ``_scaled_dot_product_efficient_attention``
  or ``_scaled_dot_product_flash_attention`` on CUDA,
  ``_scaled_dot_product_flash_attention_for_cpu`` on a CPU);
* median seconds of inference and of a training step (forward under
  autocast, backward of the mean of every output) for fused and plain in
  each dtype, timed in interleaved rounds (each variant once per round, so
  that ratios survive a machine whose load drifts), the speed-ups against
  plain in the same dtype and against fused and plain in the first dtype
  (fp32), and the peak memory (CUDA only).

It exits with status 1 when a check fails: fp32 fused vs plain above 1e-4,
or any stage of fused under autocast above ``--tol`` (2e-2) of fp32.
``--quick`` is the reduced mode for a CPU: HAT-Net-Tiny at 1x3x64x64, one
repeat, no fp16 on a CPU.
"""
import argparse
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

import torch

from mmhatnet_tools.benchmark import time_calls

DTYPES = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def rel_err(a, b) -> float:
    a, b = a.float(), b.float()
    if not torch.isfinite(a).all():
        return float('inf')
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def sdpa_ops(fn):
    """The SDPA aten operators ``fn()`` dispatches, with whether each got a
    mask: ``{(op name, masked)}``."""
    from torch.utils._python_dispatch import TorchDispatchMode
    seen = set()

    class Record(TorchDispatchMode):

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if 'scaled_dot_product' in name:
                kwargs = kwargs or {}
                mask = kwargs.get('attn_mask', kwargs.get('attn_bias'))
                if mask is None:  # positional: q, k, v, mask/bias, ...
                    mask = next((a for a in args[3:5]
                                 if isinstance(a, torch.Tensor)), None)
                seen.add((name, mask is not None))
            return func(*args, **(kwargs or {}))

    with Record():
        fn()
    return seen


def interleaved(fns, device, warmup, repeats):
    """Median seconds and peak memory (CUDA; None on a CPU) of each of
    ``fns`` ({name: callable}), timed in rounds that run every callable
    once, so that a machine whose load drifts slows all of them alike and
    their ratios stay meaningful."""
    cuda = device.type == 'cuda'
    for fn in fns.values():
        time_calls(fn, warmup, 0)
    times = {k: [] for k in fns}
    peaks = {k: 0 for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            times[name] += time_calls(fn, 0, 1)
            if cuda:
                peaks[name] = max(peaks[name],
                                  torch.cuda.max_memory_allocated() - base)
    return {k: (statistics.median(v), peaks[k] if cuda else None)
            for k, v in times.items()}


def dtypes_here(device, asked):
    out = []
    for name in asked:
        if device.type == 'cuda' and name == 'bf16' and \
                not torch.cuda.is_bf16_supported():
            print(f'# {name}: not supported by this GPU, skipped')
            continue
        out.append(name)
    return out


def check(args) -> bool:
    from mmhatnet.engine import describe_cpu_bf16, inference_autocast
    from mmhatnet.models import HATNet
    from mmhatnet_tools.reference import reference_backbone

    device = torch.device(args.device)
    torch.manual_seed(0)
    # the paper's G1/G2: ImageNet's at 224x224, the dense tasks' otherwise
    if args.size == 224:
        g1, g2 = HATNet.imagenet_g1, HATNet.imagenet_g2
    else:
        g1, g2 = HATNet.dense_g1, HATNet.dense_g2
    model = HATNet(arch=args.arch, g1=g1, g2=g2).to(device)
    model.init_weights()
    model.eval()
    what = (torch.cuda.get_device_name(device) if device.type == 'cuda'
            else f'CPU ({describe_cpu_bf16()}), '
            f'{torch.get_num_threads()} threads')
    print(f'# HAT-Net-{args.arch} (G1={model.g1}, G2={model.g2}) on {what}; '
          f'torch {torch.__version__}'
          f'{", CUDA " + torch.version.cuda if device.type == "cuda" else ""}')
    side = args.size
    odd = side - 20  # stride-4 map not a multiple of G1 = 8: padded windows
    x = torch.randn(args.batch, 3, side, side, device=device)
    x_odd = torch.randn(args.batch, 3, odd, odd + 8, device=device)

    def run(forward, inp, dtype, grad=False):
        with torch.set_grad_enabled(grad), inference_autocast(
                device.type, DTYPES[dtype]):
            return forward(inp)

    def fused(inp):
        return model(inp)

    def plain(inp):
        return reference_backbone(model, inp)

    ok = True
    names = dtypes_here(device, args.dtypes)
    ref = {s: run(fused, inp, 'fp32')
           for s, inp in (('div', x), ('odd', x_odd))}
    print(f'\n## Accuracy: relative error per stage against fused fp32 '
          f'(sizes {side}x{side} and {odd}x{odd + 8})\n')
    print('| dtype | size | fused | plain |')
    print('|---|---|---|---|')
    for dtype in names:
        for s, inp in (('div', x), ('odd', x_odd)):
            errs = {}
            for label, fwd in (('fused', fused), ('plain', plain)):
                outs = run(fwd, inp, dtype)
                errs[label] = [rel_err(o, r) for o, r in zip(outs, ref[s])]
            limit = 1e-4 if dtype == 'fp32' else args.tol
            if dtype == 'fp32':  # fused vs plain, both fp32
                bad = max(errs['plain']) > limit
            else:
                bad = max(errs['fused']) > limit
            ok &= not bad
            cells = [' '.join(f'{e:.1e}' for e in errs[k])
                     for k in ('fused', 'plain')]
            print(f'| {dtype} | {tuple(inp.shape[-2:])} | {cells[0]} | '
                  f'{cells[1]} |' + (' **FAIL**' if bad else ''))

    print('\n## SDPA operators dispatched (op, with mask)\n')
    for dtype in names:
        for s, inp in (('divisible', x), ('not divisible', x_odd)):
            ops = sdpa_ops(lambda: run(fused, inp, dtype))
            print(f'- {dtype}, {s}: ' + ', '.join(
                f'{n} ({"mask" if m else "no mask"})' for n, m in sorted(ops)))

    print(f'\n## Speed, batch {args.batch} x {side}x{side} (median of '
          f'{args.repeats} rounds, every variant once per round)\n')
    if args.quick:
        print('(--quick: no warm-up, one round: these times show that it '
              'runs, they measure nothing)\n')
    print('| dtype | mode | fused s | plain s | speed-up vs plain | '
          'vs fused fp32 | vs plain fp32 | fused peak GB | plain peak GB |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|')
    for mode in args.modes:
        model.train(mode == 'train')

        def step(fwd, dtype, mode=mode):
            def fn():
                outs = run(fwd, x, dtype, grad=mode == 'train')
                if mode == 'train':
                    sum(o.float().mean() for o in outs).backward()
                    model.zero_grad(set_to_none=True)
            return fn

        res = interleaved({(dtype, label): step(fwd, dtype)
                           for dtype in names
                           for label, fwd in (('fused', fused),
                                              ('plain', plain))},
                          device, args.warmup, args.repeats)
        model.eval()
        first = names[0]
        for dtype in names:
            (t, mem), (tp, memp) = res[dtype, 'fused'], res[dtype, 'plain']
            gb = [('-' if m is None else f'{m / 2**30:.2f}')
                  for m in (mem, memp)]
            print(f'| {dtype} | {mode} | {t:.4f} | {tp:.4f} | {tp / t:.2f}x |'
                  f' {res[first, "fused"][0] / t:.2f}x |'
                  f' {res[first, "plain"][0] / t:.2f}x | {gb[0]} | {gb[1]} |')
    print('\nresult: ' + ('all checks passed' if ok else 'FAILED'))
    return ok


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--arch', default='small',
                        choices=('tiny', 'small', 'medium', 'large'))
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--dtypes', nargs='+', choices=list(DTYPES),
                        default=list(DTYPES))
    parser.add_argument('--modes', nargs='+', choices=('infer', 'train'),
                        default=['infer', 'train'])
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--tol', type=float, default=2e-2,
                        help='most relative error of a stage under autocast')
    parser.add_argument('--quick', action='store_true',
                        help='reduced mode for a CPU: tiny, 1x3x64, fp32 and '
                        'bf16, one repeat')
    args = parser.parse_args(argv)
    if args.quick:
        args.arch, args.size, args.batch = 'tiny', 64, 1
        args.warmup, args.repeats = 0, 1
        if args.device == 'cpu':
            args.dtypes = [d for d in args.dtypes if d != 'fp16']
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.exit(2, 'error: --device cuda, but torch sees no GPU; run it '
                    'on a GPU machine or pass --device cpu --quick\n')
    if args.size < 32:
        parser.exit(2, f'error: --size {args.size}: at least 32 (the '
                    f'backbone downsamples by 32)\n')
    return args


def main(argv=None):
    args = parse_args(argv)
    sys.exit(0 if check(args) else 1)


if __name__ == '__main__':
    main()
