# Copyright (c) mmhatnet contributors. All rights reserved.
"""Stop on SIGTERM at an iteration boundary, with a checkpoint to resume.

Slurm sends SIGTERM to every process of a job step before it kills the job
(preemption, ``scancel``, the time limit with ``--signal``), and SIGKILL
``KillWait`` seconds later (30 by default). Without a handler the training
process dies at once, losing everything since the last epoch checkpoint.
"""
import os
import os.path as osp
import signal
import threading

from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from .atomic_io import ATOMIC_BACKEND_ARGS, atomic_write

# the status of a process ended by SIGTERM as a shell reports it (128 + 15):
# what Slurm records for a terminated step, and the value a site lists in
# slurm.conf's RequeueExit to requeue jobs that exit with it
PREEMPTED_EXIT_STATUS = 128 + signal.SIGTERM
META_KEY = 'preempted_batches_in_epoch'


class _SkipFirstBatches:
    """A dataloader whose first ``n`` batches are drawn and dropped."""

    def __init__(self, dataloader, n: int):
        self._dataloader, self._n = dataloader, n

    def __iter__(self):
        batches = iter(self._dataloader)
        for _ in range(self._n):
            if next(batches, None) is None:
                return
        yield from batches

    def __len__(self):
        return len(self._dataloader)

    def __getattr__(self, name):
        return getattr(self._dataloader, name)


class _WorkerIgnoresSigterm:
    """A dataloader ``worker_init_fn``: run the given one, then let the worker
    ignore a SIGTERM from anyone but its parent.

    torch's workers die on a SIGTERM that does not come from their parent,
    and the main process then raises "DataLoader worker ... is killed by
    signal: Terminated" at once, without a checkpoint; Slurm signals every
    process of the step. A parent's SIGTERM (``Process.terminate()`` at exit,
    or torch stopping a stuck worker) must still end the worker, or the
    parent waits for it forever; a Python handler cannot see the sender, so
    the signal is blocked and a thread takes it with ``sigwaitinfo``, as
    torch's own C handler reads ``si_pid``.
    """

    def __init__(self, init_fn):
        self.init_fn = init_fn

    def __call__(self, worker_id):
        if self.init_fn is not None:
            self.init_fn(worker_id)
        parent = os.getppid()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

        def wait():
            while True:
                if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
                    os._exit(0)

        threading.Thread(target=wait, daemon=True,
                         name='sigterm-from-parent').start()


def _protect_workers(loop) -> None:
    dataloader = getattr(loop, 'dataloader', None)
    if dataloader is None or not hasattr(dataloader, 'worker_init_fn') or \
            isinstance(dataloader.worker_init_fn, _WorkerIgnoresSigterm):
        return
    dataloader.worker_init_fn = _WorkerIgnoresSigterm(
        dataloader.worker_init_fn)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM, finish the running iteration, save a checkpoint, point
    ``last_checkpoint`` at it and exit with status 143, so that
    ``tools/train.py --resume`` (no path) continues where it stopped.

    Every rank installs the handler; at each iteration boundary the ranks
    agree (an all-reduce of one flag, only when there is more than one
    process) so that they stop at the same iteration.

    The checkpoint is ``iter_<N>.pth`` (optimizer and schedulers included,
    written atomically). Resuming an epoch-based loop from it draws and drops
    the batches of the epoch already trained (the sampler repeats its order),
    so the resumed run trains on exactly what the uninterrupted one would.
    Dataloader workers ignore a SIGTERM that does not come from the main
    process (Slurm signals every process of the step).

    ``tools/train.py`` adds this hook; with another tool add
    ``custom_hooks=[dict(type='PreemptionHook')]`` to the config.
    """

    priority = 'LOWEST'  # after the logger and checkpoint hooks of the iter

    def __init__(self, signals=('SIGTERM', )):
        self.signals = [getattr(signal, s) if isinstance(s, str) else s
                        for s in signals]
        self._requested = False
        self._previous = {}
        self._skip = 0

    # ------------------------------------------------------------ signals
    def _handle(self, signum, frame):
        self._requested = True

    def before_train(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        _protect_workers(runner.train_loop)
        if isinstance(getattr(runner, '_val_loop', None), BaseLoop):
            _protect_workers(runner.val_loop)

    def after_train(self, runner) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    # --------------------------------------------------- resume mid-epoch
    def after_load_checkpoint(self, runner, checkpoint) -> None:
        self._skip = int(checkpoint.get('meta', {}).get(META_KEY, 0))

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        if self._skip and hasattr(loop, 'run_epoch'):  # epoch-based loops
            print_log(f'resuming inside epoch {runner.epoch + 1}: drawing '
                      f'and dropping its first {self._skip} batches, which '
                      f'were trained before the preemption', logger='current')
            loop.dataloader = _SkipFirstBatches(loop.dataloader, self._skip)
        self._skip = 0

    def after_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        if isinstance(getattr(loop, 'dataloader', None), _SkipFirstBatches):
            loop.dataloader = loop.dataloader._dataloader

    # ------------------------------------------------------------- stop
    def _agreed(self) -> bool:
        if get_world_size() == 1:
            return self._requested
        import torch
        flag = torch.tensor([int(self._requested)])
        all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self._agreed():
            return
        done = runner.iter + 1  # mmengine counts the iteration after hooks
        # mid-epoch, even after its last batch: the epoch's own end (its
        # checkpoint, the epoch step of the schedulers, validation) runs
        # after the resume, which drops the batches already trained
        meta = dict(epoch=runner.epoch, iter=done)
        if hasattr(runner.train_loop, 'run_epoch'):
            meta[META_KEY] = batch_idx + 1
        filename = f'iter_{done}.pth'
        runner.save_checkpoint(
            runner.work_dir, filename, save_optimizer=True,
            save_param_scheduler=True, meta=meta, by_epoch=False,
            backend_args=ATOMIC_BACKEND_ARGS)
        if is_main_process():
            path = osp.join(runner.work_dir, filename)
            atomic_write(path, osp.join(runner.work_dir, 'last_checkpoint'))
            print_log(
                f'SIGTERM: stopped after iteration {done} (epoch '
                f'{runner.epoch + 1}) and saved {path}; exiting with status '
                f'{PREEMPTED_EXIT_STATUS}. Continue with the same command '
                f'and --resume.', logger='current')
        barrier()
        raise SystemExit(PREEMPTED_EXIT_STATUS)
