"""Run tools/train.py (argv as given) with a fault planted, for the tests:

* ``FAULT=kill:NAME:AT`` - SIGKILL this process while the atomic write of a
  file named NAME (e.g. ``epoch_2.pth``) has written AT bytes (an int, or a
  fraction of its length such as ``0.5``);
* ``FAULT=enospc:NAME:AT`` - the write of NAME fails with ENOSPC there;
* ``FAULT=sigterm:ITER`` - after iteration ITER, have another process
  send SIGTERM to this process group (as Slurm signals every process of a
  step, dataloader workers included).
"""
import errno
import os
import os.path as osp
import runpy
import signal
import subprocess
import sys

import mmhatnet.engine.atomic_io as atomic_io

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _offset(at: str, size: int) -> int:
    return int(float(at) * size) if '.' in at else int(at)


def plant(fault: str) -> None:
    kind, *rest = fault.split(':')
    if kind in ('kill', 'enospc'):
        name, at = rest
        real = atomic_io._write_all

        def write_all(f, data):
            if not osp.basename(f.name).startswith(f'.{name}.'):
                return real(f, data)
            n = _offset(at, len(data))
            real(f, data[:n])
            f.flush()
            os.fsync(f.fileno())
            if kind == 'kill':
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        atomic_io._write_all = write_all
    elif kind == 'sigterm':
        from mmengine.hooks import Hook
        from mmengine.registry import HOOKS
        at_iter = int(rest[0])

        @HOOKS.register_module(force=True)
        class SendSigterm(Hook):
            priority = 'HIGHEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                if runner.iter + 1 == at_iter:  # from another process
                    subprocess.run(['kill', '-TERM', '--',
                                    f'-{os.getpgid(0)}'], check=True,
                                   start_new_session=True)

        sys.path.insert(0, osp.join(ROOT, 'tools'))
        import mmhatnet_tools.train_checks as train_checks
        real_add = train_checks.add_robust_hooks

        def add_hooks(cfg):  # tools/train.py imports it from there
            real_add(cfg)
            cfg.custom_hooks = cfg.custom_hooks + [dict(type='SendSigterm')]

        train_checks.add_robust_hooks = add_hooks
    else:
        raise ValueError(fault)


if __name__ == '__main__':
    if os.environ.get('FAULT'):
        plant(os.environ['FAULT'])
    sys.argv = [osp.join(ROOT, 'tools', 'train.py')] + sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
