# Copyright (c) mmhatnet contributors. All rights reserved.
"""The command-line convention of the tools: a user error is one line
``error: <problem>; <fix>`` on stderr and exit status 2 (argparse's), with no
traceback and before anything (a work dir) is written."""
import os
import os.path as osp
import sys
from typing import Callable, NoReturn, Optional, Tuple, Type, TypeVar

T = TypeVar('T')

EXIT_USAGE = 2

# what each launcher reads from the environment (mmengine.dist.init_dist,
# and torch's env:// rendezvous for 'pytorch')
LAUNCHER_ENV = {
    'pytorch': ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
    'slurm': ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
    'mpi': ('OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_RANK',
            'OMPI_COMM_WORLD_SIZE'),
}
LAUNCHER_HOW = {
    'pytorch': 'start it with `bash tools/dist_train.sh CONFIG GPUS` (or '
               '`torchrun --nproc_per_node=GPUS tools/train.py CONFIG '
               '--launcher pytorch`)',
    'slurm': 'start it with `bash tools/slurm_train.sh PARTITION JOB CONFIG '
             'WORK_DIR` (srun sets them)',
    'mpi': 'start it with mpirun',
}


class ToolError(ValueError):
    """A mistake in what the user asked of a tool (a missing file, a bad
    value): :func:`run_or_exit` reports it as one ``error:`` line."""


def add_amp_arguments(parser, doing: str = 'run') -> None:
    """``--amp`` and ``--amp-dtype``, as every tool that runs a model has
    them; ``doing`` says what runs under autocast (e.g. ``'predict'``)."""
    parser.add_argument('--amp', action='store_true',
                        help=f'{doing} under autocast: bf16 on a CPU, fp16 '
                        f'on a GPU')
    parser.add_argument('--amp-dtype', choices=('fp16', 'bf16'),
                        help='the autocast dtype of --amp')


def add_cfg_options(parser) -> None:
    """mmengine's ``--cfg-options key=value ...`` override."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. a.b=1')


def exit_with_error(message) -> NoReturn:
    """Print ``error: message`` (on one line) to stderr and exit with 2."""
    text = ' '.join(str(message).split())
    sys.stderr.write(f'error: {text}\n')
    sys.stderr.flush()
    raise SystemExit(EXIT_USAGE)


def run_or_exit(func: Callable[..., T], *args,
                errors: Tuple[Type[BaseException], ...] = ()) -> T:
    """``func(*args)``, with a :class:`ToolError` (or one of ``errors``, the
    library's own user-error classes) turned into :func:`exit_with_error`:
    the ``main()`` of every tool."""
    try:
        return func(*args)
    except (ToolError, ) + tuple(errors) as e:
        exit_with_error(e)


def command_line_problem(config: str,
                         resume: Optional[str] = None,
                         launcher: str = 'none',
                         environ=None) -> Optional[str]:
    """What is wrong with the command line of ``tools/train.py`` /
    ``tools/test.py`` before the config is even read, or None.

    Args:
        config: the config path.
        resume: ``--resume``'s value: None (not given), ``'auto'`` (given
            without a path) or a checkpoint path / URL.
        launcher: ``--launcher``.
        environ: the environment (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    if not osp.isfile(config):
        where = ('is a folder' if osp.isdir(config) else 'does not exist')
        return (f'the config file {config!r} {where}; give the path of a '
                f'config file, e.g. configs/toy/retinanet_hatnet_tiny_toy.py '
                f'(the configs are under configs/)')
    if resume not in (None, 'auto') and '://' not in resume and \
            not osp.isfile(resume):
        return (f'--resume {resume!r}: no such checkpoint file; give the '
                f'path of one (e.g. WORK_DIR/epoch_3.pth), or pass --resume '
                f'without a path to continue from the last checkpoint of the '
                f'work dir')
    missing = [k for k in LAUNCHER_ENV.get(launcher, ()) if k not in environ]
    if missing:
        return (f'--launcher {launcher} needs the environment variables its '
                f'launcher sets, and {", ".join(missing)} '
                f'{"is" if len(missing) == 1 else "are"} not set; '
                f'{LAUNCHER_HOW[launcher]}, or drop --launcher to train in '
                f'one process')
    return None


def check_command_line(config: str,
                       resume: Optional[str] = None,
                       launcher: str = 'none') -> None:
    """:func:`command_line_problem`, as an ``error:`` exit."""
    problem = command_line_problem(config, resume, launcher)
    if problem:
        exit_with_error(problem)
