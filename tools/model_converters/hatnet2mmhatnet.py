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
import sys
import tempfile

import torch

from mmhatnet.models.utils import (convert_official_hatnet,
                                   is_official_state_dict, load_state_dict)


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
        sys.exit(f'error: refusing to overwrite the input {args.src!r}; give '
                 f'another output path')
    out_dir = os.path.dirname(dst)
    if not os.path.isdir(out_dir) or not os.access(out_dir, os.W_OK):
        sys.exit(f'error: cannot write to {out_dir!r}: the folder does not '
                 f'exist or is not writable; create it or choose another path')

    state_dict = load_state_dict(args.src)
    if not is_official_state_dict(state_dict):
        sys.exit(f'error: {args.src!r} is not an official HAT-Net checkpoint '
                 f'(no patch_embed.* / blocks.* keys); nothing to convert')
    converted = convert_official_hatnet(state_dict, with_head=args.with_head)

    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix='.tmp_', suffix='.pth')
    os.close(fd)
    try:
        torch.save(dict(state_dict=converted, meta=dict(
            converted_from=os.path.basename(args.src),
            with_head=args.with_head)), tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f'wrote {len(converted)} tensors to {dst}')


if __name__ == '__main__':
    main()
