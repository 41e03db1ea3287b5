#!/usr/bin/env python
# Copyright (c) mmhatnet contributors. All rights reserved.
"""How long the pre-training image scan (``mmhatnet_tools.data_scan``) takes
on a folder of many small JPEGs, the figure docs/user_guides/robust_training.md
gives.

    python tools/analysis/benchmark_image_scan.py            # 20,000 files
    python tools/analysis/benchmark_image_scan.py --files 50000 \
        --threads 8 1 --folder /data/scan_bench --drop-caches

It writes ``--files`` synthetic JPEGs (64-160 pixels wide, noise and a few
rectangles, about 5 KB each; the scan reads headers, so size matters little)
into ``--folder`` (default: a temporary folder, removed afterwards), then
times :func:`~mmhatnet_tools.data_scan.scan_images` over them once per
``--threads`` value with a warm page cache, and, with ``--drop-caches``
(root only: ``sync; echo 3 > /proc/sys/vm/drop_caches``), once more per value
with a cold one. Every time is one run; run it twice to see the noise.
"""
import argparse
import os
import os.path as osp
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

import numpy as np
from PIL import Image

from mmhatnet_tools.cli import exit_with_error
from mmhatnet_tools.data_scan import scan_images


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            m = re.search(r'model name\s*:\s*(.*)', f.read())
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_jpegs(folder: str, count: int, seed: int = 0) -> int:
    """``count`` small JPEGs in ``folder``; returns their total bytes."""
    rng = np.random.default_rng(seed)
    total = 0
    for i in range(count):
        w, h = int(rng.integers(64, 161)), int(rng.integers(48, 121))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) // 4 + 96
        for _ in range(3):
            x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            img[y:y + h // 3, x:x + w // 3] = rng.integers(0, 256, 3)
        path = osp.join(folder, f'{i:08d}.jpg')
        Image.fromarray(img).save(path, quality=90)
        total += osp.getsize(path)
    return total


def drop_caches() -> None:
    subprocess.run(['sync'], check=True)
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')


def time_scan(paths, threads: int) -> float:
    start = time.perf_counter()
    bad = scan_images(paths, threads, progress=False)
    seconds = time.perf_counter() - start
    if bad:
        raise RuntimeError(f'{len(bad)} of the synthetic files failed the '
                           f'scan, e.g. {next(iter(bad.items()))}')
    return seconds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Time the image scan of the training tools on many small '
        'synthetic JPEGs')
    parser.add_argument('--files', type=int, default=20000,
                        help='number of JPEGs (default 20000)')
    parser.add_argument('--threads', type=int, nargs='+', default=[8, 1],
                        help='reading threads to time (default 8 1)')
    parser.add_argument('--folder', help='where to write the files (must be '
                        'empty or absent; default a temporary folder, '
                        'removed afterwards)')
    parser.add_argument('--drop-caches', action='store_true',
                        help='also time each with a cold page cache (root)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.files < 1 or min(args.threads) < 1:
        exit_with_error('--files and --threads must be at least 1')
    if args.drop_caches and (not hasattr(os, 'geteuid') or os.geteuid()):
        exit_with_error('--drop-caches writes /proc/sys/vm/drop_caches, '
                        'which needs root; run as root or drop the option')
    if args.folder and osp.exists(args.folder) and (
            not osp.isdir(args.folder) or os.listdir(args.folder)):
        exit_with_error(f'--folder {args.folder!r} exists and is not an '
                        f'empty folder; name a new one')
    folder = args.folder or tempfile.mkdtemp(prefix='scan_bench_')
    os.makedirs(folder, exist_ok=True)
    try:
        start = time.perf_counter()
        size = write_jpegs(folder, args.files)
        print(f'CPU {cpu_name()}, {os.cpu_count()} cores; {args.files} '
              f'JPEGs, {size / args.files / 1024:.1f} KB each on average, '
              f'written in {time.perf_counter() - start:.1f} s to {folder}')
        paths = sorted(osp.join(folder, n) for n in os.listdir(folder))
        time_scan(paths, max(args.threads))  # warm the page cache
        print('| cache | threads | files | scan | files/s |')
        print('|---|---|---|---|---|')
        for cold in ([False, True] if args.drop_caches else [False]):
            for threads in args.threads:
                if cold:
                    drop_caches()
                seconds = time_scan(paths, threads)
                print(f'| {"cold" if cold else "warm"} | {threads} | '
                      f'{len(paths)} | {seconds:.2f} s | '
                      f'{len(paths) / seconds:,.0f} |')
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
