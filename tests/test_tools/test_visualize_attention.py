"""tools/visualize_attention.py: the PNG it writes, and that the weights it
draws are the attention module's own, recorded by the model's explicit
attention path (they rebuild the module's outputs, and equal a direct
``softmax(q k^T)`` of the module's own projections)."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from common import ROOT, load_tool
from PIL import Image

TOOL = os.path.join(ROOT, 'tools', 'visualize_attention.py')

# a tiny HAT-Net: heads 1, 2, 3, 4 (head_dim 8); G1/G2 small enough that the
# test images give several windows and pooled cells, partial at the border
TINY_ARCH = dict(embed_dims=[8, 16, 24, 32], head_dim=8,
                 mlp_ratios=[2, 2, 2, 2], depths=[1, 2, 1, 2],
                 kernel_sizes=[3, 3, 3, 3])
TINY_G1, TINY_G2 = (4, 4, 2), (4, 2, 2)
CONFIG = f"""
_base_ = {os.path.join(ROOT, 'configs', 'hatnet_tiny_in1k.py')!r}
model = dict(
    backbone=dict(arch=dict(_delete_=True, **{TINY_ARCH!r}),
                  g1={TINY_G1!r}, g2={TINY_G2!r}),
    head=dict(in_channels=32, num_classes=4))
"""


def _load_tool():
    return load_tool('visualize_attention.py')


tool = _load_tool()


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'hatnet_micro_cls.py'
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture(scope='module')
def backbone(config):
    model, _ = tool.build_backbone(config, seed=3)
    return model


@pytest.fixture(scope='module')
def sharp_backbone(config):
    """The init's 0.02-std projections make every map nearly uniform: here
    the query/key projections are scaled up so the weights are far from it."""
    model, _ = tool.build_backbone(config, seed=3)
    with torch.no_grad():
        for name, conv in model.named_modules():
            if name.rsplit('.', 1)[-1] in ('local_qkv', 'global_q',
                                           'global_kv', 'qkv'):
                conv.weight.mul_(30)
    return model


def _image(path, height, width, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3),
                                 dtype=np.uint8)).save(path)
    return str(path)


def _input(height, width, seed=0):
    return torch.randn(1, 3, height, width,
                       generator=torch.Generator().manual_seed(seed))


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def _capture(backbone, size, stage, block):
    cap = tool.capture_attention(backbone, _input(*size), stage, block)
    return cap, cap['input'], cap['output']


def _direct_weights(attn, x, token):
    """(local, global) weights of one query, recomputed by hand from the
    module's own projections of its input (what the tool did before the
    model recorded them): softmax(q k^T / sqrt(head_dim)) per head."""
    H, W = x.shape[-2:]
    r, c = token
    heads, hd = attn.num_heads, attn.head_dim

    def softmax_row(q, k, valid=None):  # q (heads, hd), k (heads, hd, N)
        s = torch.einsum('hd,hdn->hn', q, k) / math.sqrt(hd)
        if valid is not None:
            s = s.masked_fill(~valid.reshape(1, -1), float('-inf'))
        return s.softmax(-1)

    if not hasattr(attn, 'local_qkv'):  # plain MHSA, maybe pooled keys
        qkv = attn.qkv(attn.norm(x))
        kernel = attn.kv_pool_kernel(H, W) or (1, 1)
        kv = F.avg_pool2d(qkv[:, attn.embed_dims:], kernel, kernel,
                          ceil_mode=True).reshape(2, heads, hd, -1)
        q = qkv[0, :attn.embed_dims, r, c].reshape(heads, hd)
        return None, softmax_row(q, kv[0])
    qkv = attn.local_qkv(attn.norm(x))
    wh, ww = attn.window_size(H, W)
    r0, c0 = (r // wh) * wh, (c // ww) * ww
    Hp, Wp = math.ceil(H / wh) * wh, math.ceil(W / ww) * ww
    padded = F.pad(qkv, (0, Wp - W, 0, Hp - H)).reshape(3, heads, hd, Hp, Wp)
    k = padded[1, :, :, r0:r0 + wh, c0:c0 + ww].reshape(heads, hd, -1)
    valid = ((torch.arange(r0, r0 + wh) < H)[:, None]
             & (torch.arange(c0, c0 + ww) < W)[None, :])
    local = softmax_row(padded[0, :, :, r, c], k, valid)
    x1 = attn.local_norm(x + attn.local_attention(qkv))
    q = attn.global_q(x1)[0, :, r, c].reshape(heads, hd)
    kv = attn.global_kv(attn.pool_norm(attn.pool(x1)))
    return local, softmax_row(q, kv.reshape(2, heads, hd, -1)[0])


# ---------------------------------------------------------- the weights
# (image H, W): 64 x 64 divides every stage's G1 and G2; 100 x 76 gives
# stage maps 25x19, 13x10, 7x5 and 4x3: partial windows and pooling cells
SIZES = [(64, 64), (100, 76)]


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('stage', [0, 1, 2])
def test_hierarchical_weights_rebuild_the_module_outputs(backbone, size,
                                                         stage):
    block = len(backbone.stages[stage]) - 1
    attn = backbone.stages[stage][block].attn
    cap, x, out = _capture(backbone, size, stage, block)
    H, W = x.shape[-2:]
    # the hook saw the truth (recorded path vs the fused one: fp32 rounding)
    assert torch.allclose(attn(x), out, atol=1e-5)
    heads = attn.num_heads
    local_out = attn.local_attention(attn.local_qkv(attn.norm(x)))
    # corners, the middle and the last token (in a partial window when the
    # map does not divide by G1)
    for r, c in {(0, 0), (H // 2, W // 2), (H - 1, W - 1), (H - 1, 0)}:
        maps = tool.attention_maps(attn, cap, (r, c))
        assert maps['kind'] == 'hierarchical'
        lw, valid = maps['local_weights'], maps['local_valid']
        r0, c0, wh, ww = maps['window']
        assert (wh, ww) == attn.window_size(H, W)
        assert r0 <= r < r0 + wh and c0 <= c < c0 + ww
        # local: a distribution over the window's real tokens, per head
        assert torch.allclose(lw.sum((1, 2)), torch.ones(heads), atol=1e-6)
        assert (lw[:, ~valid] == 0).all()
        assert (lw[:, valid] > 0).all()
        # ... that gives the module's local output at the query
        local = torch.einsum('hn,hnd->hd', lw.reshape(heads, -1),
                             maps['local_v'])
        assert torch.allclose(local.reshape(-1), local_out[0, :, r, c],
                              atol=1e-5)
        # local_map puts the same weights on the token grid
        lm = maps['local_map']
        assert lm.shape == (heads, H, W)
        assert torch.allclose(lm.sum((1, 2)), torch.ones(heads), atol=1e-6)
        # global: a distribution over the pooled keys, per head
        gw = maps['global_weights']
        assert gw.shape[1:] == attn.pool(x).shape[-2:]
        assert torch.allclose(gw.sum((1, 2)), torch.ones(heads), atol=1e-6)
        glob = torch.einsum('hn,hnd->hd', gw.reshape(heads, -1),
                            maps['global_v']).reshape(-1)
        token_out = attn.proj((glob + maps['x1_token']).view(1, -1, 1, 1))
        assert torch.allclose(token_out.view(-1), out[0, :, r, c],
                              atol=1e-5)
        assert maps['global_map'].shape == (heads, H, W)


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('stage', [0, 1, 2, 3])
def test_recorded_weights_equal_the_hand_computed_ones(sharp_backbone, size,
                                                       stage):
    """The weights the model recorded are those the tool used to compute by
    hand from the module's projections (padded keys of a partial window
    included: weight 0 in both)."""
    block = len(sharp_backbone.stages[stage]) - 1
    attn = sharp_backbone.stages[stage][block].attn
    cap, x, _ = _capture(sharp_backbone, size, stage, block)
    H, W = x.shape[-2:]
    with torch.no_grad():
        for r, c in {(0, 0), (H // 2, W // 2), (H - 1, W - 1)}:
            maps = tool.attention_maps(attn, cap, (r, c))
            local, glob = _direct_weights(attn, x, (r, c))
            heads = attn.num_heads
            assert torch.allclose(maps['global_weights'].reshape(heads, -1),
                                  glob, atol=1e-6)
            if local is not None:
                assert torch.allclose(maps['local_weights'].reshape(
                    heads, -1), local, atol=1e-6)


def test_only_the_chosen_block_is_recorded_and_fused_path_is_back(backbone):
    cap, x, _ = _capture(backbone, (64, 64), 1, 1)
    assert [r['kind'] for r in cap['records']] == ['local', 'global']
    local = cap['records'][0]['weights']
    assert local.dtype == torch.float32
    assert torch.allclose(local.sum(-1), torch.ones(()), atol=1e-6)
    from mmhatnet.models.utils import torch_compat
    assert torch_compat._RECORDS == []  # the context closed: fused again


@pytest.mark.parametrize('size', SIZES)
def test_last_stage_mhsa_weights_rebuild_the_module_output(backbone, size):
    stage = len(backbone.stages) - 1
    attn = backbone.stages[stage][1].attn
    assert not hasattr(attn, 'local_qkv')  # plain MHSA
    cap, x, out = _capture(backbone, size, stage, 1)
    H, W = x.shape[-2:]
    for r, c in {(0, 0), (H - 1, W - 1), (H // 2, 0)}:
        maps = tool.attention_maps(attn, cap, (r, c))
        assert maps['kind'] == 'mhsa' and 'local_weights' not in maps
        gw = maps['global_weights']
        assert gw.shape == (attn.num_heads, H, W)  # every token is a key
        assert torch.allclose(gw.sum((1, 2)), torch.ones(attn.num_heads),
                              atol=1e-6)
        glob = torch.einsum('hn,hnd->hd', gw.reshape(attn.num_heads, -1),
                            maps['global_v']).reshape(-1)
        token_out = attn.proj(glob.view(1, -1, 1, 1))
        assert torch.allclose(token_out.view(-1), out[0, :, r, c],
                              atol=1e-5)


def test_last_stage_with_pooled_keys(backbone):
    """The opt-in last_stage_pool_to: weights over the pooled keys (a
    partial border cell included) still rebuild the output."""
    stage = len(backbone.stages) - 1
    attn = backbone.stages[stage][0].attn
    backbone.last_stage_pool_to = 2
    try:
        # 100 x 76 -> a 4 x 3 last-stage map, pooled by (2, 2): 2 x 2 keys
        cap, x, out = _capture(backbone, (100, 76), stage, 0)
        assert x.shape[-2:] == (4, 3)
        for r, c in ((0, 0), (3, 2)):
            maps = tool.attention_maps(attn, cap, (r, c))
            direct = _direct_weights(attn, x, (r, c))[1]
            assert torch.allclose(maps['global_weights'].reshape(
                direct.shape), direct, atol=1e-6)
            gw = maps['global_weights']
            assert gw.shape == (attn.num_heads, 2, 2)
            assert maps['global_cell'] == (2, 2)
            assert torch.allclose(gw.sum((1, 2)),
                                  torch.ones(attn.num_heads), atol=1e-6)
            glob = torch.einsum('hn,hnd->hd', gw.reshape(attn.num_heads, -1),
                                maps['global_v']).reshape(-1)
            token_out = attn.proj(glob.view(1, -1, 1, 1))
            assert torch.allclose(token_out.view(-1), out[0, :, r, c],
                                  atol=1e-5)
    finally:
        backbone.last_stage_pool_to = None


def test_weights_change_with_g1_g2_as_the_module_does(backbone):
    """The window and pooled grid follow the module's current G1/G2."""
    attn = backbone.stages[0][0].attn
    before = tool.attention_maps(attn, _capture(backbone, (64, 64), 0, 0)[0],
                                 (5, 5))
    g1, g2 = attn.g1, attn.g2
    try:
        attn.g1, attn.g2 = 8, 2
        cap, _, out = _capture(backbone, (64, 64), 0, 0)
        after = tool.attention_maps(attn, cap, (5, 5))
    finally:
        attn.g1, attn.g2 = g1, g2
    assert before['local_weights'].shape[-2:] == (4, 4)
    assert after['local_weights'].shape[-2:] == (8, 8)
    assert after['global_weights'].shape[-2:] == (8, 8)  # 16x16 map / 2
    heads = attn.num_heads
    glob = torch.einsum('hn,hnd->hd', after['global_weights'].reshape(
        heads, -1), after['global_v']).reshape(-1)
    token_out = attn.proj((glob + after['x1_token']).view(1, -1, 1, 1))
    assert torch.allclose(token_out.view(-1), out[0, :, 5, 5], atol=1e-5)


# ------------------------------------------------------------- the tool
@pytest.mark.parametrize('stage,panels', [(1, 3), (3, 2)])
@pytest.mark.parametrize('size', [(64, 96), (100, 76)])
def test_writes_a_png_of_panels_times_the_image(config, tmp_path, stage,
                                                panels, size):
    H, W = size
    img = _image(tmp_path / 'in.jpg', H, W)
    out = tmp_path / 'out' / 'attn.png'
    tool.main([img, config, '--stage', str(stage), '--point', str(W - 1),
               str(H - 1), '--out', str(out)])
    with Image.open(out) as png:
        assert png.format == 'PNG'
        assert png.size == (panels * W, H)
        png.verify()
    assert _files(out.parent) == ['attn.png']  # no temp file left
    # the first panel is the image (with the query marked somewhere)
    with Image.open(out) as png:
        first = np.asarray(png.convert('RGB'))[:, :W].astype(int)
    with Image.open(img) as im:
        orig = np.asarray(im.convert('RGB')).astype(int)
    assert (np.abs(first - orig).max(-1) == 0).mean() > 0.9


def test_size_option_resizes_and_heads_differ(config, tmp_path):
    img = _image(tmp_path / 'in.png', 50, 70)
    outs = {}
    for head in ('0', '1', 'average'):
        out = tmp_path / f'{head}.png'
        tool.main([img, config, '--stage', '1', '--point', '10', '20',
                   '--head', head, '--size', '64', '80', '--out', str(out)])
        with Image.open(out) as png:
            assert png.size == (3 * 80, 64)
            outs[head] = np.asarray(png.convert('RGB')).astype(int)
    # stage 1 has 2 heads: their maps (panels 2 and 3) are not the same
    assert np.abs(outs['0'][:, 80:] - outs['1'][:, 80:]).max() > 0
    assert np.abs(outs['0'][:, 80:] - outs['average'][:, 80:]).max() > 0


def test_checkpoint_weights_are_used(config, tmp_path, backbone):
    """A checkpoint (whole-model keys) changes the maps; the same weights
    give the same PNG whatever the random init."""
    ckpt = tmp_path / 'model.pth'
    other, _ = tool.build_backbone(config, seed=11)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                other.state_dict().items()}), ckpt)
    img = _image(tmp_path / 'in.png', 64, 64)
    pngs = []
    for seed, checkpoint in ((0, [str(ckpt)]), (5, [str(ckpt)]), (0, [])):
        out = tmp_path / f'{seed}_{len(checkpoint)}.png'
        tool.main([img, config, *checkpoint, '--stage', '0', '--point',
                   '30', '30', '--seed', str(seed), '--out', str(out)])
        with Image.open(out) as png:
            pngs.append(np.asarray(png))
    assert np.array_equal(pngs[0], pngs[1])
    assert not np.array_equal(pngs[0], pngs[2])


ERRORS = [
    (['--stage', '4'], '--stage 4 out of range: this HAT-Net has 4 stages, '
     '0 to 3'),
    (['--stage', '-1'], '--stage -1 out of range'),
    (['--stage', '1', '--block', '2'], '--block 2 out of range: stage 1 has '
     '2 blocks, 0 to 1'),
    (['--stage', '2', '--head', '3'], '--head 3 out of range: stage 2 has 3 '
     'heads, 0 to 2'),
    (['--stage', '0', '--head', 'all'], "--head must be a head index or "
     "'average', got 'all'"),
    (['--stage', '0', '--point', '64', '10'], '--point 64 10 is outside the '
     'image, which is 64 wide and 48 high'),
    (['--stage', '0', '--point', '3', '-1'], 'is outside the image'),
    (['--stage', '0', '--size', '0', '10'], '--size must be positive'),
]


@pytest.mark.parametrize('extra,message', ERRORS)
def test_bad_arguments_fail_clearly_and_write_nothing(config, tmp_path,
                                                      capsys, extra,
                                                      message):
    img = _image(tmp_path / 'in.png', 48, 64)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    args = [img, config, '--point', '5', '5', '--out',
            str(out_dir / 'a.png')]
    # argparse keeps the last --point
    with pytest.raises(SystemExit) as exc:
        tool.main(args + extra)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert _files(out_dir) == []


@pytest.mark.parametrize('what', ['image', 'config', 'checkpoint'])
def test_missing_files_fail_clearly_and_write_nothing(config, tmp_path,
                                                      capsys, what):
    img = _image(tmp_path / 'in.png', 48, 64)
    paths = dict(image=img, config=config, checkpoint=None)
    paths[what] = str(tmp_path / f'no_such_{what}')
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    args = [paths['image'], paths['config']]
    if paths['checkpoint']:
        args.append(paths['checkpoint'])
    with pytest.raises(SystemExit) as exc:
        tool.main(args + ['--stage', '0', '--point', '1', '1', '--out',
                          str(out_dir / 'a.png')])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{what} '{paths[what]}' does not exist" in err
    assert _files(out_dir) == []


def test_unreadable_image_fails_clearly(config, tmp_path, capsys):
    img = tmp_path / 'broken.jpg'
    img.write_bytes(b'not an image at all')
    with pytest.raises(SystemExit):
        tool.main([str(img), config, '--stage', '0', '--point', '1', '1',
                   '--out', str(tmp_path / 'a.png')])
    assert f"cannot read image '{img}'" in capsys.readouterr().err
    assert not (tmp_path / 'a.png').exists()
