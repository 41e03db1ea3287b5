#!/usr/bin/env python
"""Prepare a trained checkpoint for sharing, in OpenMMLab's convention.

    python tools/model_converters/publish_model.py IN.pth OUT.pth

keeps only the model weights and their metadata (``state_dict``, ``meta``;
the optimizer, the lr schedulers' and the message hub's states go) and
writes ``OUT_<YYYYMMDD>-<sha256[:8]>.pth``: the first 8 hex digits of the
file's SHA-256 in its name, which ``torch.hub.load_state_dict_from_url(...,
check_hash=True)`` (and so mmengine's ``load_checkpoint`` of a URL, ``mim
download``) check after a download. The file is written to a temporary
name next to it and renamed when complete; the input is never changed.
"""
import argparse
import datetime
import hashlib
import io
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

import torch
from torch.hub import HASH_REGEX

import mmhatnet  # noqa: F401  (lets weights_only read mmengine checkpoints)
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY
from mmhatnet.utils.files import atomic_output
from mmhatnet_tools.cli import exit_with_error

KEEP = ('state_dict', 'meta')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Strip a checkpoint for publishing and put the first 8 '
        'hex digits of its sha256 into its name')
    parser.add_argument('in_file', help='checkpoint written by training')
    parser.add_argument('out_file', help='output path; the date and the '
                        'hash prefix are added before .pth')
    return parser.parse_args(argv)


def published_name(out_file: str, sha: str, date: str) -> str:
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    return f'{stem}_{date}-{sha[:8]}.pth'


def strip_checkpoint(checkpoint: dict) -> dict:
    """Only the keys of :data:`KEEP`; ``meta`` loses its ``hook_msgs``
    (paths of the training machine's best/last checkpoints)."""
    out = {k: checkpoint[k] for k in KEEP if k in checkpoint}
    if isinstance(out.get('meta'), dict):
        out['meta'] = {k: v for k, v in out['meta'].items()
                       if k != 'hook_msgs'}
    return out


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.in_file):
        exit_with_error(f'the input {args.in_file!r} does not exist; give a checkpoint '
                        f'written by tools/train.py (work_dirs/.../epoch_N.pth)')
    out_dir = osp.dirname(osp.abspath(args.out_file))
    if not osp.isdir(out_dir):
        exit_with_error(f'the output folder {out_dir!r} does not exist; create it or '
                        f'choose another path')
    if not os.access(out_dir, os.W_OK | os.X_OK):
        exit_with_error(f'the output folder {out_dir!r} is not writable; fix its '
                        f'permissions or choose another path')
    try:
        checkpoint = torch.load(args.in_file, map_location='cpu',
                                weights_only=WEIGHTS_ONLY)
    except Exception as e:
        cause = (str(e).strip().splitlines() or [''])[0][:150]
        exit_with_error(f'cannot read {args.in_file!r} as a checkpoint '
                        f'({type(e).__name__}: {cause}); is it a .pth file written by '
                        f'training?')
    if not isinstance(checkpoint, dict) or not isinstance(
            checkpoint.get('state_dict'), dict):
        exit_with_error(f'{args.in_file!r} has no state_dict: it is not a checkpoint '
                        f'written by mmengine (tools/train.py); for a released HAT-Net '
                        f'file use tools/model_converters/hatnet2mmhatnet.py')
    dropped = sorted(set(checkpoint) - set(KEEP))
    published = strip_checkpoint(checkpoint)

    # serialised in memory first: the name holds the hash of the bytes
    buffer = io.BytesIO()
    torch.save(published, buffer)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    final = published_name(args.out_file,
                           sha, datetime.date.today().strftime('%Y%m%d'))
    if osp.isdir(final):
        exit_with_error(f'the output {final!r} is a folder; give another OUT.pth')
    found = HASH_REGEX.search(osp.basename(final))
    if found is None or found.group(1) != sha[:8]:
        exit_with_error(f'in {osp.basename(final)!r} torch.hub would read the hash '
                        f'from the wrong place (its first "-<hex>."); give OUT.pth a '
                        f'name without "-" followed by digits/a-f and a dot')
    try:
        with atomic_output(final, suffix='.pth') as tmp:
            with open(tmp, 'wb') as f:
                f.write(data)
    except OSError as e:
        exit_with_error(f'cannot write {final!r} ({type(e).__name__}: {e}); nothing '
                        f'was written; check the free space and permissions of '
                        f'{out_dir!r}')
    print(f'dropped {", ".join(dropped) or "nothing"}; wrote {final} '
          f'(sha256 {sha})')


if __name__ == '__main__':
    main()
