"""Running commands as a user of the installed wheel."""
import os
import os.path as osp
import subprocess
import sys

from common import ROOT  # noqa: F401  (for the tests of this folder)

BIN = osp.dirname(sys.executable)  # python, mim and pip of this venv


def wheel_env(site):
    """The environment of a user who installed the wheel: ``site`` first on
    the path (it stands for site-packages: ``pip install --target`` instead
    of ``pip install``, which would replace the shared editable install),
    the venv's ``python`` and ``mim`` on PATH, nothing of the clone."""
    env = dict(os.environ)
    env['PYTHONPATH'] = str(site)
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env.pop('PYTHONSTARTUP', None)
    env['MPLBACKEND'] = 'Agg'
    return env


def run(cmd, cwd, env, timeout=600, check=True):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout,
                         shell=isinstance(cmd, str), executable=(
                             '/bin/bash' if isinstance(cmd, str) else None))
    log = out.stdout + out.stderr
    if check:
        assert out.returncode == 0, log[-6000:]
    return out.returncode, log
