#!/usr/bin/env python
"""Latency of a HAT-Net backbone in PyTorch eager and exported: ONNX Runtime
and OpenVINO (fp32, and bf16 where the CPU has it), in one run.

    python tools/deployment/benchmark.py [--arch small]
        [--cases 224x224:1 224x224:8 512x512:1 800x1344:1]
        [--warmup 1] [--repeats 3] [--json FILE] [--onnx FILE]

The backbone (random weights: the time does not depend on them; the
dense-task G1/G2 8,8,8 / 16,8,4) is exported once with a dynamic batch and
size, as ``tools/deployment/export.py --dynamic --backbone-only`` does
(including its ONNX Runtime check), and that one graph runs every case. It
prints the export time and a table of median seconds per forward (after
``--warmup`` untimed runs), with the speed-up of each runtime over PyTorch
eager fp32 (torch's default threads; the runtimes' default threads too).
``--onnx`` times a file that ``export.py --dynamic --backbone-only`` wrote
for this arch instead of exporting (no export time then).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

import torch

from mmhatnet_tools.benchmark import machine, time_calls

RUNTIMES = ('pytorch', 'onnxruntime', 'openvino-fp32', 'openvino-bf16')


def parse_case(text: str):
    try:
        size, batch = text.split(':') if ':' in text else (text, '1')
        h, w = size.split('x')
        return int(h), int(w), int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r}: give HxW[:BATCH], e.g. 512x512:1') from None


def median_seconds(fn, x, warmup: int, repeats: int) -> float:
    return statistics.median(time_calls(lambda: fn(x), warmup, repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='small',
                        choices=['tiny', 'small', 'medium', 'large'])
    parser.add_argument('--cases', nargs='+', type=parse_case,
                        default=[parse_case(c) for c in (
                            '224x224:1', '224x224:8', '512x512:1',
                            '800x1344:1')])
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--json', help='also write the rows to this file')
    parser.add_argument('--onnx', help='a dynamic backbone export of this '
                        'arch to time, instead of exporting one')
    args = parser.parse_args(argv)

    from mmhatnet.deployment import DeployError, Runtime, export_onnx
    from mmhatnet.deployment.runtime import bf16_supported
    from mmhatnet.models import HATNet
    from mmhatnet_tools.cli import run_or_exit

    class Wrapped(torch.nn.Module):  # export_onnx's --backbone-only view
        def __init__(self):
            super().__init__()
            self.backbone = HATNet(arch=args.arch, drop_path_rate=0.)

    model = Wrapped().eval()
    runtimes = list(RUNTIMES)
    if not bf16_supported():
        runtimes.remove('openvino-bf16')
    print(f'# {machine()}')
    report, tmp = None, None
    if args.onnx:
        path = args.onnx
    else:
        tmp = tempfile.mkdtemp(prefix='hatnet_deploy_bench_')
        path = osp.join(tmp, f'hatnet_{args.arch}_backbone.onnx')
        h0, w0, _ = args.cases[0]
        start = time.perf_counter()
        report = run_or_exit(
            lambda: export_onnx(model, path, shape=(h0, w0), dynamic=True,
                                backbone_only=True, log=lambda *a: None),
            errors=(DeployError, ))
        total_s = time.perf_counter() - start
        print(f'HAT-Net-{args.arch.capitalize()} backbone, dynamic export: '
              f'{report["export_s"]:.1f} s (torch.onnx.export), {total_s:.1f}'
              f' s with the ONNX Runtime checks at '
              f'{report["checks"][0]["shape"]} and '
              f'{report["checks"][1]["shape"]}')
    sessions = {'onnxruntime': Runtime(path, 'onnxruntime')}
    for p in ('fp32', 'bf16'):
        if f'openvino-{p}' in runtimes:
            sessions[f'openvino-{p}'] = Runtime(path, 'openvino', p)

    def eager(x):
        with torch.no_grad():
            return model.backbone(x)

    rows = []
    for h, w, b in args.cases:
        x = torch.randn(b, 3, h, w)
        row = dict(case=f'{h}x{w} b{b}')
        for name in runtimes:
            fn = eager if name == 'pytorch' else sessions[name]
            row[name] = median_seconds(fn, x, args.warmup, args.repeats)
        rows.append(row)
        print(f'  measured {row["case"]}', file=sys.stderr)
    head = ['input'] + [f'{n} (s)' for n in runtimes] + [
        f'{n} vs eager' for n in runtimes[1:]]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for row in rows:
        cells = [row['case']] + [f'{row[n]:.3f}' for n in runtimes] + [
            f'{row["pytorch"] / row[n]:.2f}x' for n in runtimes[1:]]
        print('| ' + ' | '.join(cells) + ' |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(machine=machine(), export=report, rows=rows), f,
                      indent=1)
    if tmp:
        os.remove(path)
        os.rmdir(tmp)


if __name__ == '__main__':
    main()
