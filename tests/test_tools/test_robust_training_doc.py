"""The ```bash blocks of docs/user_guides/robust_training.md run as shown.

They run in order in a scratch folder that holds links to the repo's
configs/ and tools/ (so data/toy_coco is created there, not in the repo),
with the test's interpreter as `python`.
A block followed by a ```text block that starts with ``error:`` must exit
with status 2 and print exactly that line on stderr; the others must
succeed. A ```text block that starts with ``train_dataloader.dataset:`` (a
printed count) must be a line some block printed. The training commands of
the page (``--resume``, Slurm) are ```text blocks:
tests/test_tools/test_long_run_faults.py runs their equivalents on the toy
set; so is the 20,000-file scan benchmark (half a minute, root for
--drop-caches), which tests/test_tools/test_benchmark_image_scan.py runs on a
few files."""
import os
import re
import subprocess
import sys

from common import ROOT

PAGE = os.path.join(ROOT, 'docs', 'user_guides', 'robust_training.md')


def _blocks():
    with open(PAGE, encoding='utf-8') as f:
        text = f.read()
    blocks = re.findall(r'```(\w+)\n(.*?)```', text, re.S)
    for i, (lang, body) in enumerate(blocks):
        if lang != 'bash':
            continue
        after = blocks[i + 1] if i + 1 < len(blocks) else ('', '')
        expected = after[1].strip() if after[0] == 'text' and \
            after[1].startswith('error:') else None
        yield body, expected


def test_bash_blocks_run_as_shown(tmp_path):
    for name in ('configs', 'tools'):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    # `python` is the interpreter running the tests
    env = dict(os.environ, PYTHONPATH=ROOT, PATH=os.pathsep.join(
        [os.path.dirname(sys.executable), os.environ.get('PATH', '')]))
    blocks = list(_blocks())
    assert len(blocks) >= 4
    printed = []
    for body, expected in blocks:
        out = subprocess.run(['bash', '-e', '-c', body], cwd=tmp_path,
                             env=env, capture_output=True, text=True,
                             timeout=300)
        printed += out.stdout.splitlines()
        if expected is None:
            assert out.returncode == 0, (body, out.stderr[-3000:])
            continue
        assert out.returncode == 2, (body, out.stderr[-3000:])
        errors = [line for line in out.stderr.splitlines()
                  if line.startswith('error:')]
        assert errors == [expected], (body, out.stderr[-3000:])
        assert 'Traceback' not in out.stderr
        assert not (tmp_path / 'work_dirs').exists()
    with open(PAGE, encoding='utf-8') as f:
        shown = [b.strip() for b in re.findall(r'```text\n(.*?)```',
                                               f.read(), re.S)
                 if b.startswith('train_dataloader.dataset:')]
    assert shown and all(line in printed for line in shown), shown
