#!/usr/bin/env python
"""Show where one query point of an image looks, in one HAT-Net block.

    python tools/visualize_attention.py IMAGE CONFIG [CHECKPOINT]
        --stage S [--block B] --point X Y [--head H | --head average]
        [--out OUT.png] [--size H W] [--seed N]

CONFIG is any mmhatnet config (detector, segmentor or classifier); only its
backbone and its data preprocessor's mean/std are used. CHECKPOINT is an
mmengine checkpoint of that config (``backbone.*`` keys), a backbone state
dict, or a released (official) HAT-Net checkpoint, converted on the fly;
without it the backbone keeps a random init (``--seed``) and the config's
pretrained ``init_cfg`` is ignored.

The image is resized to ``--size H W`` (else kept as is) and normalised with
the config's mean/std. ``--point X Y`` is a pixel of the image as given (x to
the right, y down; scaled with ``--size``); it falls in one token of stage S
(stride ``2**(S+2)``): that token is the query. ``--stage`` and ``--block``
count from 0.

The attention weights are the model's own: the backbone runs once under
``mmhatnet.models.utils.torch_compat.record_attention``, where every attention
call takes the explicit path (``softmax(q k^T / sqrt(head_dim))`` per head,
in fp32) and hands out its weights; the tool keeps the chosen block's and
picks the query's row, placed with the module's own geometry
(``window_size``, ``pool_size``, ``kv_pool_kernel``). For an H-MHSA stage:

* local: over the tokens of the query's G1 x G1 window (padded keys of a
  partial border window masked out, so they get weight 0);
* global: over the keys average-pooled by G2 (one weight per pooled cell).

The last stage (plain MHSA) has only the global map, over all its tokens
(or over its pooled keys when the backbone's opt-in ``last_stage_pool_to``
pools them).

The PNG: panels side by side, each of the (resized) image's size, no gaps:
``[image with the query marked | local map | global map]`` for H-MHSA stages,
``[image with the query marked | global map]`` for the last stage. A map is
drawn on the image: weights per token (local; 0 outside the window, whose
outline is drawn) or per pooled cell (global), upsampled to pixels, scaled to
their maximum and coloured (dark blue 0 ... red max). ``--head`` picks one
head; ``average`` (the default) averages the weights over heads.
"""
import argparse
import math
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # mmhatnet_tools

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw

from mmhatnet.models import (HATNet, HierarchicalAttention,
                             MultiHeadSelfAttention)
from mmhatnet.models.utils.torch_compat import record_attention
from mmhatnet_tools.cli import ToolError, run_or_exit


# ----------------------------------------------------------------- the maps
def capture_attention(backbone: nn.Module, img: torch.Tensor, stage: int,
                      block: int) -> Dict[str, object]:
    """Run ``backbone`` on ``img`` under :func:`record_attention` (the
    model's explicit attention path, which hands out its weights) and
    return what the attention module of ``stages[stage][block]`` saw:
    ``input`` and ``output``, ``records`` (its ``sdpa`` calls in order:
    local then global for H-MHSA, global for MHSA) and, for H-MHSA, ``x1``
    (the step-1 map: the output of its ``local_norm``). Only that block's
    records are kept (the others are dropped as the forward goes on)."""
    target = backbone.stages[stage][block].attn
    seen: Dict[str, object] = {}

    def drop_earlier(module, args):
        records.clear()

    def keep(module, args, output):
        seen.update(input=args[0].detach(), output=output.detach(),
                    records=list(records))

    def keep_x1(module, args, output):
        seen['x1'] = output.detach()

    handles = [a.register_forward_pre_hook(drop_earlier)
               for a in backbone.modules()
               if isinstance(a, (HierarchicalAttention,
                                 MultiHeadSelfAttention))]
    handles.append(target.register_forward_hook(keep))
    if isinstance(target, HierarchicalAttention):
        handles.append(target.local_norm.register_forward_hook(keep_x1))
    try:
        with torch.no_grad(), record_attention() as records:
            backbone(img)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _query_row(record: Dict[str, object], heads: int, keys: int,
               window: int, query: int) -> torch.Tensor:
    """(heads, keys): the recorded weights of one query of one window (batch
    item), checked against the geometry the module says it used."""
    w = record['weights']
    if w.shape[1:] != (heads, w.shape[2], keys) or window >= w.shape[0]:
        raise RuntimeError(f'recorded {record["kind"]} attention weights '
                           f'{tuple(w.shape)} do not fit the module geometry '
                           f'({heads} heads, {keys} keys)')
    return w[window, :, query]


def attention_maps(attn: nn.Module, captured: Dict[str, object],
                   token: Tuple[int, int]) -> Dict[str, object]:
    """Attention weights of one query token, as the module recorded them.

    Args:
        attn: a ``HierarchicalAttention`` or ``MultiHeadSelfAttention``.
        captured: what :func:`capture_attention` returned for it (an input
            of batch 1, ``(1, C, H, W)``).
        token: the query token ``(row, col)`` of the ``H x W`` map.

    The token is mapped to its window (and its place in it) and to the
    pooled grid with the module's own geometry (``window_size``,
    ``pool_size``, ``kv_pool_kernel``); no projection is recomputed.

    Returns:
        dict: ``kind`` ('hierarchical' or 'mhsa'), ``grid`` (H, W),
        ``token``, and

        * ``global_weights`` (heads, Ph, Pw): weights over the keys
          (pooled cells; for MHSA every token, unless it pools its keys),
          summing to one per head;
          ``global_v`` (heads, Ph*Pw, head_dim): their values;
          ``global_cell`` (kh, kw): the pooling cell in tokens;
          ``global_map`` (heads, H, W): the weight of each token's cell;
        * H-MHSA only: ``window`` (row0, col0, wh, ww) in tokens (it may
          reach past the map: padding); ``local_weights`` (heads, wh, ww):
          weights over the window, zero on padded keys; ``local_valid``
          (wh, ww) bool; ``local_v`` (heads, wh*ww, head_dim);
          ``local_map`` (heads, H, W): the weights on the map, zero outside
          the window; ``x1_token`` (C,): the step-1 (normalised residual)
          map at the query, which the module adds to the global output.
    """
    x = captured['input']
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f'x must be (1, C, H, W), got {tuple(x.shape)}')
    H, W = x.shape[-2:]
    r, c = token
    if not (0 <= r < H and 0 <= c < W):
        raise ValueError(f'token {token} outside the {H}x{W} map')
    heads = attn.num_heads
    records = captured['records']
    out: Dict[str, object] = dict(grid=(H, W), token=(r, c))
    hierarchical = isinstance(attn, HierarchicalAttention)
    kinds = ['local', 'global'] if hierarchical else ['global']
    if [rec['kind'] for rec in records] != kinds:
        raise RuntimeError(f'expected the {kinds} attention calls of '
                           f'{type(attn).__name__}, recorded '
                           f'{[rec["kind"] for rec in records]}')

    if hierarchical:  # step 1: the query's window, its place in it
        wh, ww = attn.window_size(H, W)
        nw = math.ceil(W / ww)
        r0, c0 = (r // wh) * wh, (c // ww) * ww
        window = (r // wh) * nw + c // ww
        lw = _query_row(records[0], heads, wh * ww, window,
                        (r - r0) * ww + (c - c0)).reshape(heads, wh, ww)
        rows = torch.arange(r0, r0 + wh).view(-1, 1)
        cols = torch.arange(c0, c0 + ww).view(1, -1)
        Hp, Wp = math.ceil(H / wh) * wh, nw * ww
        local_map = lw.new_zeros(heads, Hp, Wp)
        local_map[:, r0:r0 + wh, c0:c0 + ww] = lw
        out.update(kind='hierarchical', window=(r0, c0, wh, ww),
                   local_weights=lw, local_valid=(rows < H) & (cols < W),
                   local_v=records[0]['v'][window].float(),
                   local_map=local_map[:, :H, :W],
                   x1_token=captured['x1'][0, :, r, c])
        kh, kw = attn.pool_size(H, W)
    else:  # the last stage: pooled keys only with its opt-in pool_to
        out.update(kind='mhsa')
        kh, kw = attn.kv_pool_kernel(H, W) or (1, 1)

    # global: the query's row over the (pooled) keys
    Ph, Pw = math.ceil(H / kh), math.ceil(W / kw)
    gw = _query_row(records[-1], heads, Ph * Pw, 0, r * W + c).reshape(
        heads, Ph, Pw)
    global_map = gw.repeat_interleave(kh, 1).repeat_interleave(kw, 2)
    out.update(global_weights=gw, global_v=records[-1]['v'][0].float(),
               global_cell=(kh, kw), global_map=global_map[:, :H, :W])
    return out


# ------------------------------------------------------------ model + image
def build_backbone(config: str, checkpoint: Optional[str] = None,
                   seed: int = 0):
    """Build the config's model with the library of its ``default_scope``
    and return ``(backbone in eval mode, config)``."""
    from mmhatnet.apis import build_config_model, read_model_config
    try:
        cfg = read_model_config(config)
        model = build_config_model(cfg)  # random weights, loaded below
    except ValueError as e:
        raise ToolError(str(e)) from None
    backbone = model.backbone
    if not isinstance(backbone, HATNet):
        raise ToolError(f'the backbone of {config!r} is '
                        f'{type(backbone).__name__}, not HATNet')
    torch.manual_seed(seed)
    backbone.init_weights()  # the released random init
    if checkpoint is not None:
        try:
            backbone.load_pretrained(checkpoint)
        except (ValueError, RuntimeError, FileNotFoundError, KeyError) as e:
            raise ToolError(f'cannot load {checkpoint!r}: {e}') from None
    return backbone.eval(), cfg


def preprocess_config(cfg) -> Tuple[np.ndarray, np.ndarray, bool]:
    """``(mean, std, rgb)`` of the config's data preprocessor (model-level,
    else top-level as in mmpretrain); ``rgb``: the model takes RGB."""
    pre = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    mean = np.array(pre.get('mean', [0., 0., 0.]), dtype=np.float32)
    std = np.array(pre.get('std', [1., 1., 1.]), dtype=np.float32)
    rgb = bool(pre.get('bgr_to_rgb', pre.get('to_rgb', False)))
    return mean, std, rgb


def load_image(path: str, size: Optional[Sequence[int]]) -> Tuple[
        np.ndarray, Tuple[int, int]]:
    """``(RGB uint8 (H, W, 3) resized to size, (H0, W0) of the file)``."""
    try:
        with Image.open(path) as im:
            im = im.convert('RGB')
    except (OSError, ValueError) as e:
        raise ToolError(f'cannot read image {path!r}: {e}') from None
    orig = (im.height, im.width)
    if size is not None:
        im = im.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8), orig


def to_tensor(rgb: np.ndarray, mean, std, model_rgb: bool) -> torch.Tensor:
    img = rgb.astype(np.float32)
    if not model_rgb:  # the model was trained on BGR images
        img = img[..., ::-1]
    img = (img - mean) / std
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


# ---------------------------------------------------------------- drawing
def _colormap(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB in [0, 255] (a jet-like map)."""
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.stack([r, g, b], -1) * 255


def _overlay(rgb: np.ndarray, token_map: np.ndarray, cell: int) -> np.ndarray:
    """Draw a token-grid map (upsampled by ``cell`` pixels) on the image."""
    H, W = rgb.shape[:2]
    up = np.repeat(np.repeat(token_map, cell, 0), cell, 1)[:H, :W]
    peak = up.max()
    up = up / peak if peak > 0 else up
    out = 0.45 * rgb.astype(np.float32) + 0.55 * _colormap(up)
    return np.clip(out, 0, 255).astype(np.uint8)


def render(rgb: np.ndarray, maps: Dict[str, object], head, stride: int,
           point: Tuple[float, float]) -> Image.Image:
    """The PNG: panels of the image's size side by side (see the module
    docstring)."""
    H, W = rgb.shape[:2]

    def pick(t: torch.Tensor) -> np.ndarray:
        t = t.mean(0) if head == 'average' else t[head]
        return t.double().cpu().numpy()

    panels = [Image.fromarray(rgb)]
    local = maps['kind'] == 'hierarchical'
    if local:
        panels.append(Image.fromarray(
            _overlay(rgb, pick(maps['local_map']), stride)))
    panels.append(Image.fromarray(
        _overlay(rgb, pick(maps['global_map']), stride)))

    px, py = point
    r, c = maps['token']
    for i, panel in enumerate(panels):
        draw = ImageDraw.Draw(panel)
        tb = (c * stride, r * stride, (c + 1) * stride - 1,
              (r + 1) * stride - 1)
        draw.rectangle(tb, outline=(255, 255, 255))
        arm = max(3, min(H, W) // 30)
        draw.line((px - arm, py, px + arm, py), fill=(255, 0, 255), width=2)
        draw.line((px, py - arm, px, py + arm), fill=(255, 0, 255), width=2)
        if local and i == 1:
            r0, c0, wh, ww = maps['window']
            draw.rectangle((c0 * stride, r0 * stride,
                            min((c0 + ww) * stride, W) - 1,
                            min((r0 + wh) * stride, H) - 1),
                           outline=(255, 255, 0))
    names = ['query'] + (['local'] if local else []) + ['global']
    sheet = Image.new('RGB', (W * len(panels), H))
    for i, (panel, name) in enumerate(zip(panels, names)):
        ImageDraw.Draw(panel).text((2, 1), name, fill=(255, 255, 255))
        sheet.paste(panel, (i * W, 0))
    return sheet


def save_atomic(image: Image.Image, out: str) -> None:
    """Write the PNG to a temporary file next to ``out``, then rename."""
    from mmhatnet.utils.files import atomic_output
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with atomic_output(out, suffix='.png') as tmp:
        image.save(tmp, format='PNG')


# -------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the local and global attention of one query point '
        'in one HAT-Net block')
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None)
    parser.add_argument('--stage', type=int, required=True,
                        help='stage index, from 0')
    parser.add_argument('--block', type=int, default=0,
                        help='block index inside the stage, from 0')
    parser.add_argument('--point', type=float, nargs=2, required=True,
                        metavar=('X', 'Y'),
                        help='query pixel of the image (x right, y down)')
    parser.add_argument('--head', default='average',
                        help="head index from 0, or 'average' (default)")
    parser.add_argument('--out', default=None, help='PNG to write')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize the image to H x W first')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random init without a checkpoint')
    return parser.parse_args(argv)


def run(args) -> str:
    head = args.head
    if head != 'average':
        try:
            head = int(head)
        except ValueError:
            raise ToolError(f"--head must be a head index or 'average', got "
                            f'{args.head!r}') from None
    if args.size is not None and min(args.size) < 1:
        raise ToolError(f'--size must be positive, got {args.size}')
    if not osp.isfile(args.image):
        raise ToolError(f'image {args.image!r} does not exist; give the path '
                        f'of an image file')
    if not osp.isfile(args.config):
        raise ToolError(f'config {args.config!r} does not exist; give a '
                        f'config such as configs/hatnet_tiny_in1k.py')
    if args.checkpoint is not None and not args.checkpoint.startswith(
            ('http://', 'https://')) and not osp.isfile(args.checkpoint):
        raise ToolError(f'checkpoint {args.checkpoint!r} does not exist; '
                        f'give its path (or leave it out for a random init)')
    rgb, (H0, W0) = load_image(args.image, args.size)
    x, y = args.point
    if not (0 <= x < W0 and 0 <= y < H0):
        raise ToolError(f'--point {x:g} {y:g} is outside the image, which is '
                        f'{W0} wide and {H0} high (x in [0, {W0}), y in '
                        f'[0, {H0}))')
    H, W = rgb.shape[:2]
    px, py = x * W / W0, y * H / H0  # in the resized image

    backbone, cfg = build_backbone(args.config, args.checkpoint, args.seed)
    n = len(backbone.stages)
    if not 0 <= args.stage < n:
        raise ToolError(f'--stage {args.stage} out of range: this HAT-Net has '
                        f'{n} stages, 0 to {n - 1}')
    depth = len(backbone.stages[args.stage])
    if not 0 <= args.block < depth:
        raise ToolError(f'--block {args.block} out of range: stage '
                        f'{args.stage} has {depth} blocks, 0 to {depth - 1}')
    attn = backbone.stages[args.stage][args.block].attn
    if head != 'average' and not 0 <= head < attn.num_heads:
        raise ToolError(f'--head {head} out of range: stage {args.stage} has '
                        f'{attn.num_heads} heads, 0 to {attn.num_heads - 1}')

    mean, std, model_rgb = preprocess_config(cfg)
    img = to_tensor(rgb, mean, std, model_rgb)
    captured = capture_attention(backbone, img, args.stage, args.block)
    stride = 2**(args.stage + 2)
    Ht, Wt = captured['input'].shape[-2:]
    token = (min(int(py // stride), Ht - 1), min(int(px // stride), Wt - 1))
    maps = attention_maps(attn, captured, token)
    sheet = render(rgb, maps, head, stride, (px, py))

    out = args.out or (f'{osp.splitext(osp.basename(args.image))[0]}_attn_'
                       f'stage{args.stage}_block{args.block}.png')
    save_atomic(sheet, out)
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    out = run_or_exit(run, args)
    print(f'attention map written to {osp.abspath(out)}')


if __name__ == '__main__':
    main()
