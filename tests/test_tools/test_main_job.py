"""The main job as a user runs it: ``bash tools/run_main_job.sh`` from the
repository root, with its own relative work dirs. ``--quick`` runs the whole
pipeline (toy data -> pretraining -> fine-tuning -> test -> summary) on a few
tiny images, so every printed path and the summary can be checked here; the
full job's metric is measured by running it (docs/get_started/main_job.md).

The script runs in a copy of ``tools/`` and ``configs/`` so that it writes its
``data/`` and ``work_dirs/`` there, not into the checkout."""
import os
import re
import shutil
import subprocess
import sys

import pytest
from common import ROOT
from PIL import Image

# the summary lines that name a file or folder, and the path in each
PATH_LINES = re.compile(
    r'^(metrics|pictures|summary|pretraining|detector|data):\s+(\S+)', re.M)


def _run_quick(tmp_path_factory, *args):
    repo = tmp_path_factory.mktemp('repo')
    for folder in ('tools', 'configs'):
        shutil.copytree(os.path.join(ROOT, folder), repo / folder)
    env = dict(os.environ, MMHATNET_VENV=sys.prefix)
    env.pop('MAIN_JOB_WORK_DIR', None)
    out = subprocess.run(
        ['bash', 'tools/run_main_job.sh', '--no-install', '--quick', *args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return repo, out.stdout


@pytest.fixture(scope='module')
def quick_job(tmp_path_factory):
    return _run_quick(tmp_path_factory, '--seed', '1')


@pytest.fixture(scope='module')
def quick_crowns_job(tmp_path_factory):
    # the real photographs (the wheel from the download cache), 8 training
    # tiles for two iterations, then all 20 held-out tiles
    return _run_quick(tmp_path_factory, '--crowns', '--seed', '2')


def test_the_summary_gives_the_metric_and_the_per_class_ap(quick_job):
    _, log = quick_job
    summary = log[log.index('== Summary (seed 1'):]
    assert re.search(r'^coco/bbox_mAP: \d\.\d{3}$', summary, re.M), summary
    per_class = re.search(r'^bbox AP per class: (.*)$', summary, re.M)
    assert per_class, summary
    names = [item.split()[0] for item in per_class.group(1).split(', ')]
    assert names == ['circle', 'square', 'triangle', 'cross']


def test_every_printed_path_exists(quick_job):
    repo, log = quick_job
    summary = log[log.index('== Summary'):]
    printed = dict(PATH_LINES.findall(summary))
    assert set(printed) == {'metrics', 'pictures', 'summary', 'pretraining',
                            'detector'}, summary
    for what, path in printed.items():
        # relative paths are relative to the repository root, where the
        # script runs
        assert os.path.exists(os.path.join(repo, path)), (what, path)
    for checkpoint in re.findall(r'\(checkpoint (\S+)\)', summary):
        assert os.path.isfile(os.path.join(repo, checkpoint)), checkpoint
    # the pictures are where test.py says, not under <work_dir>/<timestamp>/
    assert printed['pictures'] == str(repo / 'work_dirs/main_job/test/vis')
    assert len(os.listdir(printed['pictures'])) == 4  # one per val image


def test_the_contact_sheet_shows_every_val_image(quick_job):
    repo, log = quick_job
    sheet = Image.open(repo / 'work_dirs/main_job/test/summary.png')
    # 4 val images, two per row, each 640 wide (ground truth | predictions)
    assert sheet.width == 2 * 640
    pictures = sorted((repo / 'work_dirs/main_job/test/vis').iterdir())
    tile = Image.open(pictures[0])
    assert sheet.height >= 2 * round(tile.height * 640 / tile.width)


def test_the_crowns_job_evaluates_and_draws_the_held_out_photograph(
        quick_crowns_job):
    repo, log = quick_crowns_job
    summary = log[log.index('== Summary (tree crowns, seed 2'):]
    assert re.search(r'^coco/bbox_mAP: \d\.\d{3}$', summary, re.M), summary
    assert re.search(r'bbox_mAP_50 \d\.\d{3}', summary), summary
    printed = dict(PATH_LINES.findall(summary))
    assert set(printed) == {'metrics', 'pictures', 'summary', 'detector',
                            'data'}, summary
    for what, path in printed.items():
        assert os.path.exists(os.path.join(repo, path)), (what, path)
    # the real set, not a toy one: the held-out photograph's 20 tiles, each
    # drawn with its ground truth beside the predictions
    assert printed['data'] == 'data/crowns'
    assert printed['pictures'] == str(repo / 'work_dirs/crowns_job/test/vis')
    pictures = sorted(os.listdir(printed['pictures']))
    assert len(pictures) == 20
    assert all(p.startswith('2019_YELL_2_541000_4977000_image_crop')
               for p in pictures), pictures[:3]
    assert Image.open(os.path.join(printed['pictures'], pictures[0])).size \
        == (2 * 320, 320)
    # the detector trained the config's recipe from random weights: two
    # iterations of batch 4 on 8 tiles
    train_log, = (repo / 'work_dirs/crowns_job/retinanet').glob('*/*.log')
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', train_log.read_text())
    assert not (repo / 'work_dirs/main_job').exists()


@pytest.mark.parametrize('args, message', [
    (['--seed'], '--seed needs a value'),
    (['--seed', 'x'], "--seed must be a non-negative integer, got 'x'"),
])
def test_a_bad_seed_is_one_error_line(tmp_path, args, message):
    out = subprocess.run(['bash', os.path.join(ROOT, 'tools/run_main_job.sh'),
                          '--no-install', *args], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    # one line, naming the problem
    assert out.stderr.startswith(f'error: {message}'), out.stderr
    assert out.stderr.count('\n') == 1, out.stderr
    assert not (tmp_path / 'work_dirs').exists()


def test_summarize_test_without_results_says_what_to_run(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools/analysis/summarize_test.py'),
         str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith('error: ') and 'tools/test.py' in out.stderr
    assert 'Traceback' not in out.stderr


def _script_copy(tmp_path):
    """The script beside an install.sh that only leaves a trace, so a test
    sees whether the job got as far as installing."""
    tools = tmp_path / 'tools'
    tools.mkdir()
    shutil.copy(os.path.join(ROOT, 'tools/run_main_job.sh'), tools)
    (tools / 'install.sh').write_text('touch "$(dirname "$0")/installed"\n'
                                      'exit 1\n')
    return tools


@pytest.mark.parametrize('args', [['--help'], ['-h'], ['--seed', '1', '--help']])
def test_help_prints_the_usage_and_installs_nothing(tmp_path, args):
    tools = _script_copy(tmp_path)
    out = subprocess.run(['bash', str(tools / 'run_main_job.sh'), *args],
                         cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'bash tools/run_main_job.sh [--crowns] [--seed N]' in out.stdout
    for flag in ('--crowns', '--seed', '--amp', '--no-install', '--quick',
                 '--cfg-options'):
        assert flag in out.stdout
    assert not (tools / 'installed').exists()


@pytest.mark.parametrize('args, bad', [
    (['--sed', '1'], '--sed'),
    (['--seed', '1', 'train_cfg.max_epochs=2'], 'train_cfg.max_epochs=2'),
    (['--amp', '--quick', '--verbose'], '--verbose'),
])
def test_an_unknown_argument_is_refused_before_the_install(tmp_path, args,
                                                           bad):
    tools = _script_copy(tmp_path)
    out = subprocess.run(['bash', str(tools / 'run_main_job.sh'), *args],
                         cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: unrecognized argument '{bad}'")
    assert out.stderr.count('\n') == 1, out.stderr
    assert not (tools / 'installed').exists()
    assert not (tmp_path / 'work_dirs').exists()
    assert not (tmp_path / 'data').exists()


def test_cfg_options_take_the_rest_of_the_line(tmp_path):
    tools = _script_copy(tmp_path)
    # after --cfg-options, '--help' is a value, not the script's flag: the job
    # goes on to the install (the stand-in fails, ending it there)
    out = subprocess.run(['bash', str(tools / 'run_main_job.sh'),
                          '--cfg-options', 'a=1', '--help'], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert (tools / 'installed').exists()
    assert 'error: unrecognized' not in out.stderr
    out = subprocess.run(['bash', str(tools / 'run_main_job.sh'),
                          '--cfg-options'], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith('error: --cfg-options needs KEY=VALUE')
