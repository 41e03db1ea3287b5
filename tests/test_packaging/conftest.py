"""The wheel, built once per session and installed into a fresh folder, and
the commands of docs/get_started/ways_in.md run once against it."""
import glob
import os
import os.path as osp
import re
import shutil
import sys

import pytest
from wheel_helpers import ROOT, run, wheel_env


@pytest.fixture(scope='session')
def wheel_site(tmp_path_factory):
    """``pip wheel`` of the repo, installed with ``--no-deps --target`` into
    a fresh folder; returns that folder. It is built from a copy of the
    source: setuptools keeps ``build/lib`` between builds, so a module
    removed from the clone would live on in a wheel built in place."""
    source = tmp_path_factory.mktemp('source') / 'mmhatnet'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.git', '.venv*', 'build', 'dist', '*.egg-info', 'work_dirs', 'data',
        '__pycache__', '.pytest_cache', '.mim*'))
    dist = tmp_path_factory.mktemp('dist')
    site = tmp_path_factory.mktemp('site')
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1')
    run([sys.executable, '-m', 'pip', 'wheel', str(source), '--no-deps',
         '--no-build-isolation', '-q', '-w', str(dist)], source, env)
    wheels = glob.glob(osp.join(dist, 'mmhatnet-*.whl'))
    assert len(wheels) == 1, wheels
    run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q',
         '--target', str(site), wheels[0]], ROOT, env)
    return site


DOC = osp.join(ROOT, 'docs', 'get_started', 'ways_in.md')


def bash_blocks():
    with open(DOC) as f:
        return re.findall(r'```bash\n(.*?)```', f.read(), re.S)


@pytest.fixture(scope='session')
def doc_run(wheel_site, tmp_path_factory):
    """(folder, exit status, output) of the page's commands."""
    work = tmp_path_factory.mktemp('project')
    script = ['set -euo pipefail']
    for i, block in enumerate(bash_blocks()):
        script += [f'echo "::: block {i}"', block]
    rc, log = run('\n'.join(script), work, wheel_env(wheel_site),
                  timeout=1800, check=False)
    return work, rc, log
