"""Bad arguments, inputs and checkpoints fail early with a message that names
the problem and what to do, never a traceback from deep inside torch."""
import os.path as osp
import re

import pytest
import torch

from mmhatnet.models import HATNet

# a micro model: builds and runs in milliseconds
MICRO = dict(embed_dims=[16, 32, 48, 64], head_dim=16, mlp_ratios=[2, 2, 2, 2],
             depths=[1, 1, 1, 1], kernel_sizes=[3, 3, 3, 3])
G_MSG = {'g1': 'g1 (G1, the local grid size) must be 3 positive ints, one per '
               'H-MHSA stage (the last stage is plain MHSA), got ',
         'g2': 'g2 (G2, the global pooling ratio) must be 3 positive ints, one '
               'per H-MHSA stage (the last stage is plain MHSA), got '}
DATA = osp.join(osp.dirname(osp.dirname(__file__)), 'data')


def _raises(exc, message):
    return pytest.raises(exc, match=re.escape(message))


@pytest.fixture(scope='module')
def micro():
    return HATNet(arch=MICRO).eval()


# --------------------------------------------------------------- arguments
@pytest.mark.parametrize('arch,exc,message', [
    ('huge', ValueError, "unknown HAT-Net arch 'huge'; choose one of "
     "['large', 'medium', 'small', 'tiny'] or pass a dict with keys "
     "['embed_dims', 'head_dim', 'mlp_ratios', 'depths', 'kernel_sizes']"),
    (3, TypeError, 'arch must be a preset name or a dict, got int'),
    (dict(embed_dims=[8, 16], head_dim=8), ValueError,
     "custom arch dict: missing keys ['mlp_ratios', 'depths', "
     "'kernel_sizes'], unknown keys []; it needs exactly ['embed_dims', "
     "'head_dim', 'mlp_ratios', 'depths', 'kernel_sizes']"),
    ({**MICRO, 'depth': [1]}, ValueError, "unknown keys ['depth']"),
    ({**MICRO, 'depths': [1, 1, 1]}, ValueError,
     'custom arch dict: embed_dims has 4 entries but depths has 3; give one '
     'per stage'),
    ({**MICRO, 'embed_dims': [16, 32, 48]}, ValueError,
     'custom arch dict: embed_dims has 3 entries but depths has 4; give one '
     'per stage'),
    ({**MICRO, 'kernel_sizes': [3, 3, 3, 3, 3]}, ValueError,
     'custom arch dict: kernel_sizes has 5 entries but depths has 4'),
    ({**MICRO, 'depths': 4}, TypeError,
     'custom arch dict: depths must be a list with one entry per stage, '
     'got 4'),
    ({**MICRO, 'depths': '1111'}, TypeError,
     "custom arch dict: depths must be a list with one entry per stage, "
     "got '1111'"),
    ({k: ([] if k != 'head_dim' else 8) for k in MICRO}, ValueError,
     'custom arch dict: depths is empty; give at least one stage'),
    ({**MICRO, 'depths': [1, 0, 1, 1]}, ValueError,
     'custom arch dict: depths=[1, 0, 1, 1] must hold positive ints'),
    ({**MICRO, 'head_dim': 12}, ValueError,
     'head_dim=12 does not divide the stage widths [16, 32, 64]; choose a '
     'head_dim that divides every embed_dims entry'),
    ({**MICRO, 'kernel_sizes': [3, 4, 3, 3]}, ValueError,
     'kernel_sizes=[3, 4, 3, 3] must be odd'),
])
def test_bad_arch(arch, exc, message):
    with _raises(exc, message):
        HATNet(arch=arch)


BAD_G = [(8, 8), (8, 8, 8, 8), (8, 0, 8), (8, -2, 8), (8, 7.5, 8),
         (8, '8', 8), (8, True, 8), 8, '888', None]


@pytest.mark.parametrize('name', ['g1', 'g2'])
@pytest.mark.parametrize('value', BAD_G, ids=repr)
def test_bad_g1_g2_in_the_constructor(name, value):
    with _raises(ValueError, G_MSG[name] + repr(value)):
        HATNet(arch=MICRO, **{name: value})


@pytest.mark.parametrize('name', ['g1', 'g2'])
@pytest.mark.parametrize('value', BAD_G, ids=repr)
def test_bad_g1_g2_in_set_grid_sizes(micro, name, value):
    good = dict(g1=(8, 8, 8), g2=(4, 2, 1))
    with _raises(ValueError, G_MSG[name] + repr(value)):
        micro.set_grid_sizes(**{**good, name: value})
    assert micro.g1 == HATNet.dense_g1 and micro.g2 == HATNet.dense_g2


def test_g_message_gives_an_example():
    with _raises(ValueError, 'e.g. g2=(16, 8, 4) for dense tasks'):
        HATNet(arch=MICRO, g2=(0, 0, 0))


def test_g_of_a_single_block_is_checked_too(micro):
    with _raises(ValueError, 'g1 (G1, the local grid size) must be a '
                 'positive int, got 0'):
        micro.stages[0][0].attn.g1 = 0


@pytest.mark.parametrize('out_indices,exc,message', [
    ((4, ), ValueError, 'out_indices=(4,) must be stage indices in [0, 3] '
     '(or negative ones counted from the end)'),
    ((-5, ), ValueError, 'out_indices=(-5,) must be stage indices in [0, 3]'),
    ((), ValueError, 'out_indices=() must be stage indices in [0, 3]'),
    ([], ValueError, 'out_indices=() must be stage indices in [0, 3]'),
    ((0, 1.0), ValueError, 'out_indices=(0, 1.0) must be stage indices'),
    ((True, ), ValueError, 'out_indices=(True,) must be stage indices'),
    (None, TypeError, 'out_indices must be an int or a list/tuple of stage '
     'indices in [0, 3], got None'),
])
def test_bad_out_indices(out_indices, exc, message):
    with _raises(exc, message):
        HATNet(arch=MICRO, out_indices=out_indices)


@pytest.mark.parametrize('frozen_stages', [-2, 5, 1.5, True, None, '1'])
def test_bad_frozen_stages(frozen_stages):
    with _raises(ValueError, f'frozen_stages={frozen_stages!r} must be an '
                 f'int in [-1, 4]: -1 freezes nothing, 0 the stem, k the stem '
                 f'and the first k stages'):
        HATNet(arch=MICRO, frozen_stages=frozen_stages)


@pytest.mark.parametrize('frozen_stages', [-1, 0, 4])
def test_frozen_stages_bounds_are_accepted(frozen_stages):
    HATNet(arch=MICRO, frozen_stages=frozen_stages)


def test_head_dim_that_does_not_divide_a_single_attention():
    from mmhatnet.models.layers import HierarchicalAttention
    with _raises(ValueError, 'head_dim=12 must divide embed_dims=16; choose a '
                 'head_dim that divides the stage width'):
        HierarchicalAttention(16, 12, 8, 8)


# ------------------------------------------------------------------ inputs
@pytest.mark.parametrize('x,exc,message', [
    (torch.rand(3, 8, 8), ValueError, 'HATNet expects a 4-D input '
     '(B, 3, H, W), got shape (3, 8, 8); add the batch dim: x[None]'),
    (torch.rand(8, 8), ValueError,
     'HATNet expects a 4-D input (B, 3, H, W), got shape (8, 8)'),
    (torch.rand(1, 1, 3, 8, 8), ValueError,
     'HATNet expects a 4-D input (B, 3, H, W), got shape (1, 1, 3, 8, 8)'),
    (torch.rand(1, 4, 8, 8), ValueError, 'HATNet expects 3 (RGB) input '
     'channels, got 4 in shape (1, 4, 8, 8); convert the images to RGB '
     '(B, 3, H, W)'),
    (torch.rand(1, 1, 8, 8), ValueError,
     'HATNet expects 3 (RGB) input channels, got 1'),
    (torch.rand(1, 0, 8, 8), ValueError,
     'HATNet expects 3 (RGB) input channels, got 0'),
    (torch.rand(1, 3, 0, 8), ValueError, 'HATNet needs H >= 1 and W >= 1 '
     '(any size from 1x1 works), got an empty image: shape (1, 3, 0, 8)'),
    (torch.rand(2, 3, 8, 0), ValueError,
     'HATNet needs H >= 1 and W >= 1 (any size from 1x1 works), got an '
     'empty image: shape (2, 3, 8, 0)'),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), TypeError,
     'HATNet expects a floating-point input, got torch.uint8; convert it '
     'first, e.g. x.float()'),
    (torch.rand(1, 3, 8, 8).numpy(), TypeError,
     'HATNet expects a torch.Tensor (B, 3, H, W), got ndarray'),
], ids=lambda v: str(tuple(v.shape)) if hasattr(v, 'shape') else None)
def test_bad_input(micro, x, exc, message):
    with _raises(exc, message):
        micro(x)


@pytest.mark.parametrize('shape', [(1, 3, 1, 1), (1, 3, 2, 1), (1, 3, 1, 50)])
def test_smallest_inputs_work(micro, shape):
    """1x1 is the smallest image: every stride-2 conv gives ceil(side / 2)."""
    with torch.no_grad():
        outs = micro(torch.rand(shape))
    for i, out in enumerate(outs):
        scale = 2**(i + 2)
        assert out.shape[-2:] == (-(-shape[2] // scale), -(-shape[3] // scale))


@pytest.mark.parametrize('train', [False, True])
def test_empty_batch_gives_empty_outputs(train):
    model = HATNet(arch=MICRO).train(train)
    x = torch.rand(0, 3, 33, 40, requires_grad=True)
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [
        (0, 16, 9, 10), (0, 32, 5, 5), (0, 48, 3, 3), (0, 64, 2, 2)]
    sum(o.sum() for o in outs).backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_input_propagates_within_its_image_only(micro, bad):
    """Documented decision: no NaN/inf check (it would cost a pass and a
    sync); the image holding one gets NaN outputs, the others are exact."""
    x = torch.rand(2, 3, 40, 40)
    with torch.no_grad():
        clean = micro(x)
        x[0, 1, 5, 7] = bad
        outs = micro(x)
    for out, ref in zip(outs, clean):
        assert out[0].isnan().all()
        assert torch.isfinite(out[1]).all()
        assert torch.allclose(out[1], ref[1], atol=1e-5)


def test_finite_input_gives_finite_output(micro):
    with torch.no_grad():
        outs = micro(torch.randn(2, 3, 37, 29) * 100)
    assert all(torch.isfinite(o).all() for o in outs)


def test_input_checks_do_not_break_torch_compile_tracing(micro, monkeypatch):
    """Under torch.compile the checks are skipped (no graph break)."""
    calls = []
    import mmhatnet.models.backbones.hatnet as hatnet_module
    monkeypatch.setattr(hatnet_module, '_check_input', calls.append)
    monkeypatch.setattr(hatnet_module, 'is_compiling', lambda: True)
    with torch.no_grad():
        micro(torch.rand(1, 3, 8, 8))
    assert calls == []


# ------------------------------------------------------------- checkpoints
def _load(path, arch=MICRO):
    model = HATNet(arch=arch, init_cfg=dict(type='Pretrained',
                                            checkpoint=str(path)))
    model.init_weights()
    return model


def test_checkpoint_that_does_not_exist(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with _raises(FileNotFoundError, f'checkpoint {path!r} does not exist; '
                 f'check the path in init_cfg=dict(type="Pretrained", '
                 f'checkpoint=...)'):
        _load(path)


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('hello, not weights\n')
    with _raises(RuntimeError, f'could not read {str(path)!r} as a PyTorch '
                 f'checkpoint') as err:
        _load(path)
    assert str(err.value).endswith(
        '; the file is not a PyTorch checkpoint at all')


def test_truncated_checkpoint(tmp_path, micro_arch, micro_checkpoint):
    with open(micro_checkpoint, 'rb') as f:
        data = f.read()
    path = tmp_path / 'half.pth'
    path.write_bytes(data[:len(data) // 2])
    with _raises(RuntimeError, f'could not read {str(path)!r} as a PyTorch '
                 f'checkpoint (RuntimeError: PytorchStreamReader failed '
                 f'reading zip archive') as err:
        _load(path, micro_arch['arch'])
    assert str(err.value).endswith(
        '; the file is damaged or truncated (download it again) or holds '
        'objects other than tensors')


@pytest.mark.parametrize('content,message', [
    ({}, 'holds an empty state dict; is it a model checkpoint?'),
    ([1, 2], 'holds no state dict of tensors; is it a model checkpoint?'),
    (dict(meta=dict(epoch=3)), 'holds no state dict of tensors'),
])
def test_checkpoint_without_tensors(tmp_path, content, message):
    path = tmp_path / 'x.pth'
    torch.save(content, path)
    with _raises(RuntimeError, f'{str(path)!r} {message}'):
        _load(path)


def test_checkpoint_of_another_size_in_our_names(tmp_path):
    path = tmp_path / 'wide.pth'
    torch.save(HATNet(arch={**MICRO, 'embed_dims': [32, 32, 48, 64]},
                      ).state_dict(), path)
    model = HATNet(arch=MICRO, init_cfg=dict(type='Pretrained',
                                             checkpoint=str(path)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with _raises(ValueError, f'checkpoint {str(path)!r} does not fit HATNet('
                 f'arch=') as err:
        model.init_weights()
    msg = str(err.value)
    assert ('the checkpoint has depths [1, 1, 1, 1], widths [32, 32, 48, 64] '
            '(no preset).') in msg
    assert ('shape mismatches, first: stem.conv2.weight: checkpoint '
            '(32, 16, 3, 3) vs model (16, 16, 3, 3)') in msg
    assert msg.endswith('Build the backbone with the arch the checkpoint was '
                        'trained with, or use the checkpoint of this size.')
    for key, value in model.state_dict().items():  # nothing half-loaded
        assert torch.equal(value, before[key]), key


def _resnet18_state_dict():
    torchvision = pytest.importorskip('torchvision')
    return torchvision.models.resnet18().state_dict()


@pytest.mark.parametrize('wrap', ['bare', 'model', 'detector'])
def test_checkpoint_of_another_model(tmp_path, wrap):
    state_dict = _resnet18_state_dict()
    if wrap == 'model':
        state_dict = dict(model=state_dict)
    elif wrap == 'detector':  # a whole mmdet model: backbone. is stripped
        state_dict = dict(state_dict={f'backbone.{k}': v
                                      for k, v in state_dict.items()})
    path = tmp_path / 'resnet18.pth'
    torch.save(state_dict, path)
    with _raises(ValueError, f"{str(path)!r} is not a HAT-Net checkpoint: "
                 f"none of its 122 keys is a HAT-Net key, first: "
                 f"['conv1.weight', 'bn1.weight', 'bn1.bias', "
                 f"'bn1.running_mean', 'bn1.running_var']; use an official "
                 f"HAT-Net file or an mmhatnet one (keys stem.*, stages.*, "
                 f"maybe under backbone.)"):
        _load(path)


def test_checkpoint_with_official_looking_names_of_another_model(tmp_path):
    """A timm ViT also has patch_embed.* and blocks.* keys."""
    path = tmp_path / 'vit.pth'
    torch.save({'cls_token': torch.zeros(1, 1, 8),
                'patch_embed.proj.weight': torch.zeros(8, 3, 16, 16),
                'blocks.0.norm1.weight': torch.zeros(8),
                'blocks.0.attn.qkv.weight': torch.zeros(24, 8)}, path)
    with _raises(ValueError, f"{str(path)!r} is not a HAT-Net checkpoint: "
                 f"none of its 4 keys is a HAT-Net key, first: ['cls_token', "
                 f"'patch_embed.proj.weight', 'blocks.0.norm1.weight', "
                 f"'blocks.0.attn.qkv.weight']"):
        _load(path)


def test_official_checkpoint_with_a_key_we_do_not_know(tmp_path, micro_arch,
                                                       micro_checkpoint):
    state_dict = torch.load(micro_checkpoint, weights_only=True)
    state_dict['model']['blocks.0.0.attn.rel_pos.weight'] = torch.zeros(3)
    path = tmp_path / 'extra.pth'
    torch.save(state_dict, path)
    with _raises(ValueError, f"{str(path)!r} is not a HAT-Net checkpoint: 1 "
                 f"of its "):
        _load(path, micro_arch['arch'])
    with _raises(ValueError, "keys are not HAT-Net keys, first: "
                 "['blocks.0.0.attn.rel_pos.weight']; use an official"):
        _load(path, micro_arch['arch'])


def test_official_checkpoint_still_loads(micro_arch, micro_checkpoint):
    """The checks above do not refuse the real thing."""
    _load(micro_checkpoint, micro_arch['arch'])
    assert osp.isfile(osp.join(DATA, 'micro_official.pth'))


def test_model_compiles_as_one_graph(micro):
    """fullgraph=True fails on any graph break (e.g. one in the checks)."""
    compiled = torch.compile(micro, backend='eager', fullgraph=True)
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        for out, ref in zip(compiled(x), micro(x)):
            assert torch.allclose(out, ref, atol=1e-5)
