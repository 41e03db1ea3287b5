#!/usr/bin/env python
"""Convert a released (official) HAT-Net ImageNet checkpoint to mmhatnet.

    python tools/model_converters/hatnet2mmhatnet.py HAT-Net-Small.pth \
        hatnet-small_converted.pth [--with-head]

Without ``--with-head`` the output is the backbone's state dict (load it with
``init_cfg=dict(type='Pretrained', checkpoint=...)``; the backbone also
accepts the official file directly). With ``--with-head`` it is the state dict
of an mmpretrain ``ImageClassifier`` (``backbone.*`` + ``head.fc.*``), for
``tools/test.py CONFIG OUT`` or ``load_from``.

The output is written to a temporary file next to it and moved into place
only when complete; the input is never overwritten.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools

import torch

from mmhatnet.models.utils import (convert_official_hatnet,
                                   is_official_state_dict, load_state_dict)
from mmhatnet.utils.files import atomic_output
from mmhatnet_tools.cli import exit_with_error


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an official HAT-Net checkpoint to mmhatnet keys')
    parser.add_argument('src', help='official checkpoint (path or URL)')
    parser.add_argument('dst', help='where to write the converted file')
    parser.add_argument('--with-head', action='store_true',
                        help='keep the ImageNet classifier as head.fc (an '
                        'mmpretrain ImageClassifier state dict)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dst = os.path.abspath(args.dst)
    if os.path.exists(args.src) and os.path.exists(dst) and os.path.samefile(
            args.src, dst):
        exit_with_error(f'refusing to overwrite the input {args.src!r}; give '
                        f'another output path')
    out_dir = os.path.dirname(dst)
    if not os.path.isdir(out_dir):
        exit_with_error(f'the output folder {out_dir!r} does not exist (or '
                        f'is not a folder); create it or choose another path')
    if not os.access(out_dir, os.W_OK | os.X_OK):
        exit_with_error(f'the output folder {out_dir!r} is not writable; '
                        f'fix its permissions or choose another path')
    if os.path.isdir(dst):
        exit_with_error(f'the output {dst!r} is a folder; give a file path '
                        f'such as {os.path.join(dst, "converted.pth")!r}')
    url = args.src.startswith(('http://', 'https://'))
    if not url and not os.path.isfile(args.src):
        exit_with_error(f'the input {args.src!r} does not exist; give the '
                        f'path (or URL) of an official HAT-Net checkpoint')

    try:
        state_dict = load_state_dict(args.src)
    except (OSError, RuntimeError) as e:  # unreadable, damaged, no tensors
        exit_with_error(f'{e}')
    if not is_official_state_dict(state_dict):
        exit_with_error(f'{args.src!r} is not an official HAT-Net checkpoint '
                        f'(no patch_embed.* / blocks.* keys); nothing to convert')
    try:
        converted = convert_official_hatnet(state_dict,
                                            with_head=args.with_head)
    except KeyError as e:
        exit_with_error(f'in {args.src!r}: {e.args[0]} Nothing was '
                        f'written.')

    try:
        # a temporary file next to dst, renamed when complete, removed if not
        with atomic_output(dst, suffix='.pth') as tmp:
            torch.save(dict(state_dict=converted, meta=dict(
                converted_from=os.path.basename(args.src),
                with_head=args.with_head)), tmp)
    except (OSError, RuntimeError) as e:
        # torch.save reports a failed write (disk full, I/O error) as a
        # RuntimeError of its zip writer, other failures as OSError
        kept = (f'the existing {dst!r} is unchanged' if
                os.path.exists(dst) else 'nothing was written')
        exit_with_error(f'cannot write {dst!r} ({type(e).__name__}: '
                        f'{e}); {kept}; check the free space and permissions '
                        f'of {out_dir!r}')
    print(f'wrote {len(converted)} tensors to {dst}')


if __name__ == '__main__':
    main()
