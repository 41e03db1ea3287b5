#!/usr/bin/env python
"""Train models side by side on the same data, seeds and schedule, and
write one table: the peer comparisons of docs/performance.md.

    python tools/analysis/train_peers.py CONFIG [CONFIG ...]
        [--seeds 0 1 2] [--epochs N [N ...]] [--work-dir work_dirs/peers]
        [--cfg-options k=v ...]

e.g. ``configs/crowns/*.py`` (RetinaNet with HAT-Net-Tiny, ResNet-18,
PVTv2-B0 and Swin-T on the tree crowns). Each (config, seed) is one
``tools/train.py`` run, one after the other, into
``WORK_DIR/<config name>/seed<S>``, with ``randomness.seed=S``; a whole seed
is run before the next, so a partial table compares. ``--epochs N``
gives every run N epochs (validation and the checkpoint at epoch N; the lr
steps of a step schedule at the same fractions of it, e.g. 16 and 22 of 24
epochs become 8 and 11 of 12); one N per config gives each its own, e.g. to
train each for about the same time. A run whose result is already there is
not run again: the command resumes (and refuses a run there of other epochs
or ``--cfg-options`` than asked).

From each run's log (mmengine's ``vis_data/scalars.json``) it takes the
last validation's metrics (a detector's COCO AP, AP50 and AP_small, a
classifier's top-1) and the median seconds per training iteration after
the first epoch (mmengine's ``time``: data, forward, backward and step);
times the iterations (its checkpoint's), the training time.
``WORK_DIR/peers.md`` (a markdown table: mean and sample standard deviation
over the seeds, the CPU and the date) and ``WORK_DIR/peers.json`` (every
run) are written through temporary files.
"""
import argparse
import datetime
import glob
import json
import os.path as osp
import platform
import statistics
import subprocess
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

from mmengine.config import Config, DictAction

from mmhatnet.utils.files import atomic_output
from mmhatnet.utils.mim import read_config
from mmhatnet_tools.cli import ToolError, run_or_exit

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# what a validation logs, per kind of model: (column, log key)
METRICS = ((('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
            ('AP_small', 'coco/bbox_mAP_s')),
           (('top-1', 'accuracy/top1'), ))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train models on the same data and seeds, and '
        'tabulate their metrics and seconds per iteration')
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, nargs='+',
                        help='train every run for N epochs, or each config '
                        "for its own N, in order (default: the configs' "
                        'own schedules)')
    parser.add_argument('--work-dir', default='work_dirs/peers')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='K=V',
                        help='passed to every tools/train.py run')
    return parser.parse_args(argv)


def schedule_options(config, epochs):
    """--cfg-options that give ``config`` an ``epochs`` schedule."""
    if epochs < 1:
        raise ToolError(f'--epochs {epochs}: give at least 1')
    options = [f'train_cfg.max_epochs={epochs}',
               f'train_cfg.val_interval={epochs}',
               f'default_hooks.checkpoint.interval={epochs}']
    cfg = read_config(config)
    max_epochs = cfg.train_cfg.max_epochs
    for i, sched in enumerate(cfg.get('param_scheduler') or []):
        # the schedulers that run to the end of training end at the new end
        if sched.get('by_epoch', True) and sched.get('end') == max_epochs:
            options.append(f'param_scheduler.{i}.end={epochs}')
        if 'milestones' in sched:
            # each step at the same fraction of the schedule
            steps = sorted({max(1, round(step * epochs / max_epochs))
                            for step in sched['milestones']})
            options.append(f'param_scheduler.{i}.milestones='
                           f'[{",".join(map(str, steps))}]')
    return options


def read_run(work_dir):
    """The last validation's metrics and the median s/iter after the first
    epoch of the newest log in ``work_dir``, or None if it has no
    validation yet."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not logs:
        return None
    with open(logs[-1]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    for metrics in METRICS:
        vals = [r for r in records if metrics[0][1] in r]
        if vals:
            break
    else:
        return None
    times = [r['time'] for r in records
             if 'time' in r and 'loss' in r and r.get('epoch', 1) > 1]
    result = {name: vals[-1][key] for name, key in metrics}
    result['epochs'] = vals[-1].get('step')  # a validation's step: its epoch
    result['s_per_iter'] = statistics.median(times) if times else None
    iters = trained_iterations(work_dir)
    result['train_s'] = (round(result['s_per_iter'] * iters)
                         if times and iters else None)
    return result


def trained_iterations(work_dir):
    """How many iterations the run's last checkpoint had trained, or None
    where it wrote none."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            path = f.read().strip()
    except OSError:
        return None
    if not osp.isfile(path):
        # mmengine writes the path the run had; the folder may have moved
        path = osp.join(work_dir, osp.basename(path))
        if not osp.isfile(path):
            return None
    import torch  # only here: the rest of the tool reads json
    return torch.load(path, map_location='cpu', weights_only=False)[
        'meta'].get('iter')


def options_missing(config, work_dir, options):
    """Which of ``options`` (``K=V`` strings) the run in ``work_dir`` was
    not trained with, read from the config mmengine saved there; [] where it
    saved none."""
    saved = osp.join(work_dir, osp.basename(config))
    if not osp.isfile(saved):
        return []
    trained = read_config(saved).to_dict()
    parser = argparse.ArgumentParser()  # parsed as tools/train.py parses them
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    missing = []
    for option in options:
        wanted = Config(trained)
        try:
            wanted.merge_from_dict(parser.parse_args(
                ['--cfg-options', option]).cfg_options)
        except (KeyError, TypeError):  # e.g. a key under a None there
            missing.append(option)
            continue
        if wanted.to_dict() != trained:
            missing.append(option)
    return missing


def refuse_another_run(config, work_dir, result, epochs, options):
    """Raise a ToolError when the finished run in ``work_dir`` is not the one
    asked: other epochs (a schedule of max_iters has none to compare), or
    trained without some of ``options``."""
    if epochs is not None and result['epochs'] != epochs:
        why = f'a run of {result["epochs"]} epochs, not {epochs}'
    else:
        missing = options_missing(config, work_dir, options)
        if not missing:
            return
        why = f'a run trained without {" ".join(missing)}'
    raise ToolError(f'{work_dir} holds {why}: pass another --work-dir, or '
                    f'remove that folder to train it again')


def train(config, seed, work_dir, options):
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
           '--work-dir', work_dir, '--cfg-options', f'randomness.seed={seed}',
           *options]
    print(f'[train_peers] {osp.basename(config)} seed {seed} -> {work_dir}',
          flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise ToolError(f'tools/train.py failed for {config} (seed {seed}); '
                        f'its log is in {work_dir}; the runs before it are '
                        f'kept and this command resumes from there')


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mean_sd(values):
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


def table(runs):
    """The markdown table of ``runs``: one row per config, in run order."""
    date = datetime.date.today().isoformat()
    timing = ('config', 'seed', 'epochs', 's_per_iter', 'train_s')
    metrics = [k for k in runs[0] if k not in timing]
    lines = [f'{cpu_name()}, {date}', '',
             f'| config | seeds | epochs | {" | ".join(metrics)} '
             '| s / iter | training (s) |',
             '| --- | --- | ---: |' + ' ---: |' * (len(metrics) + 2)]
    for name in dict.fromkeys(r['config'] for r in runs):
        mine = [r for r in runs if r['config'] == name]
        cells = [str(mine[0]['epochs'])]
        cells += [mean_sd([r[m] for r in mine]) for m in metrics]
        for key, form in (('s_per_iter', '{:.2f}'), ('train_s', '{:.0f}')):
            values = [r[key] for r in mine if r[key]]
            cells.append(form.format(statistics.median(values))
                         if values else '-')
        lines.append(f'| {name} | {",".join(str(r["seed"]) for r in mine)} '
                     f'| {" | ".join(cells)} |')
    return '\n'.join(lines) + '\n'


def write_results(work_dir, runs, options):
    with atomic_output(osp.join(work_dir, 'peers.json')) as tmp:
        with open(tmp, 'w') as f:
            json.dump(dict(options=options, runs=runs), f, indent=1)
    with atomic_output(osp.join(work_dir, 'peers.md')) as tmp:
        with open(tmp, 'w') as f:
            f.write(table(runs))


def main(argv=None):
    args = parse_args(argv)
    for config in args.configs:
        if not osp.isfile(config):
            raise ToolError(f'config {config!r} does not exist')
    epochs = args.epochs or [None]
    if len(epochs) == 1:
        epochs = epochs * len(args.configs)
    elif len(epochs) != len(args.configs):
        raise ToolError(f'--epochs: {len(epochs)} numbers for '
                        f'{len(args.configs)} configs; give one for all or '
                        f'one per config')
    epochs = {config: read_config(config).train_cfg.get('max_epochs')
              if n is None else n for config, n in zip(args.configs, epochs)}
    options = {config: list(args.cfg_options) + (
        schedule_options(config, epochs[config]) if args.epochs else [])
        for config in args.configs}
    runs = []
    for seed in args.seeds:  # a whole seed first: a partial table compares
        for config in args.configs:
            name = osp.splitext(osp.basename(config))[0]
            work_dir = osp.join(args.work_dir, name, f'seed{seed}')
            result = read_run(work_dir)
            if result is not None:
                refuse_another_run(config, work_dir, result, epochs[config],
                                   options[config])
            else:
                train(config, seed, work_dir, options[config])
                result = read_run(work_dir)
                if result is None:
                    raise ToolError(f'{work_dir}: the run ended without a '
                                    f'validation metric in its log')
            runs.append(dict(config=name, seed=seed, **result))
            write_results(args.work_dir, runs, options)
    print(table(runs), end='')


if __name__ == '__main__':
    run_or_exit(main)
