"""HATNet as the paper's Table 1 describes it, and as OpenMMLab users use it."""
import math
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from common import ROOT

from mmhatnet.models import HATNet

PRESETS = ('tiny', 'small', 'medium', 'large')
# Table 1 (#Param of the ImageNet classifiers, M) and Table 2 (GFLOPs at 224)
PAPER_PARAMS_M = dict(tiny=12.7, small=25.7, medium=42.9, large=63.1)
PAPER_GFLOPS = dict(tiny=2.0, small=4.3, medium=8.3, large=11.5)


def _imagenet_classifier(arch):
    """Table 2's model: the backbone + global average pooling + linear head,
    as mmpretrain builds it."""
    pytest.importorskip('mmpretrain')
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='HATNet', arch=arch, g1=HATNet.imagenet_g1,
                          g2=HATNet.imagenet_g2, out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000,
                      in_channels=HATNet.arch_zoo[arch]['embed_dims'][-1])))


@pytest.mark.parametrize('arch', PRESETS)
def test_parameters_equal_table_1(arch):
    model = _imagenet_classifier(arch)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(params - PAPER_PARAMS_M[arch]) <= 0.1 + 1e-9, params


@pytest.mark.parametrize('arch', PRESETS)
def test_flops_equal_table_2(arch):
    """Counted as the paper does, with mmcv's module-hook counter (which
    leaves the attention matmuls out)."""
    from mmcv.cnn import get_model_complexity_info
    model = _imagenet_classifier(arch).eval()
    flops, _ = get_model_complexity_info(
        model, (3, 224, 224), print_per_layer_stat=False, as_strings=False)
    assert abs(flops / 1e9 - PAPER_GFLOPS[arch]) <= 0.1 + 1e-9, flops / 1e9


def test_presets_are_table_1():
    assert HATNet.arch_zoo['tiny']['head_dim'] == 48
    assert all(HATNet.arch_zoo[a]['head_dim'] == 64 for a in PRESETS[1:])
    assert HATNet.arch_zoo['medium']['kernel_sizes'] == [5, 3, 5, 3]
    model = HATNet('medium')
    assert model.stages[0][0].mlp.dwconv.kernel_size == (5, 5)
    assert model.stages[1][0].mlp.dwconv.kernel_size == (3, 3)
    assert [len(s) for s in HATNet('large').stages] == [3, 8, 27, 3]


@pytest.mark.parametrize('shape', [(1, 3, 97, 131), (2, 3, 33, 65),
                                   (1, 3, 224, 224), (1, 3, 32, 32),
                                   (1, 3, 1, 1)])
def test_any_input_size_gives_stride_4_to_32_maps(shape):
    model = HATNet('tiny').eval()
    B, _, H, W = shape
    with torch.no_grad():
        outs = model(torch.randn(shape))
    assert len(outs) == 4
    for i, out in enumerate(outs):
        stride = 2**(i + 2)
        assert out.shape == (B, model.embed_dims[i], math.ceil(H / stride),
                             math.ceil(W / stride))
        assert torch.isfinite(out).all()


def test_out_indices_select_stages():
    model = HATNet('tiny', out_indices=(1, 3)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [96, 384]
    assert HATNet('tiny', out_indices=(-1, )).out_indices == (3, )


def test_g1_g2_hold_no_parameters():
    dense = HATNet('tiny')
    imagenet = HATNet('tiny', g1=(8, 7, 7), g2=(8, 4, 2))
    assert (dense.g1, dense.g2) == ((8, 8, 8), (16, 8, 4))
    assert (imagenet.g1, imagenet.g2) == ((8, 7, 7), (8, 4, 2))
    assert {k: v.shape for k, v in dense.state_dict().items()} == \
        {k: v.shape for k, v in imagenet.state_dict().items()}

    # the same weights under other values, without rebuilding
    imagenet.load_state_dict(dense.state_dict())
    x = torch.randn(1, 3, 128, 128)
    dense.eval(), imagenet.eval()
    with torch.no_grad():
        before = dense(x)[0]
        dense.set_grid_sizes(g1=(8, 7, 7), g2=(8, 4, 2))
        after = dense(x)[0]
        torch.testing.assert_close(after, imagenet(x)[0])
    assert not torch.allclose(before, after)
    assert dense.stages[2][-1].attn.g1 == 7 and dense.stages[2][-1].attn.g2 == 2


def test_with_cp_gives_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = HATNet('tiny', drop_path_rate=0.)
    plain.init_weights()
    ckpt = HATNet('tiny', drop_path_rate=0., with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 67, 45)
    outs = [m(x) for m in (plain, ckpt)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for model, out in zip((plain, ckpt), outs):
        sum((o * o).mean() for o in out).backward()
    grads = [dict((n, p.grad) for n, p in m.named_parameters())
             for m in (plain, ckpt)]
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5,
                                   atol=1e-7, msg=name)


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 4])
def test_frozen_stages_freeze_exactly_what_they_say(frozen_stages):
    model = HATNet('tiny', frozen_stages=frozen_stages, drop_path_rate=0.2)
    model.train()
    frozen_prefixes = []
    if frozen_stages >= 0:
        frozen_prefixes.append('stem.')
    for i in range(frozen_stages):
        frozen_prefixes.append(f'stages.{i}.')
        if i > 0:
            frozen_prefixes.append(f'downsample_layers.{i - 1}.')
    for name, param in model.named_parameters():
        frozen = name.startswith(tuple(frozen_prefixes))
        assert param.requires_grad is not frozen, name
    for name, module in model.named_modules():
        if name:
            frozen = (name + '.').startswith(tuple(frozen_prefixes))
            assert module.training is not frozen, name

    # a training step moves nothing that is frozen (and everything else can)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        assert frozen_stages == model.num_stages
        return
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sum(o.mean() for o in model(torch.randn(1, 3, 64, 64))).backward()
    torch.optim.SGD(trainable, lr=1.).step()
    for name, value in model.state_dict().items():
        if name.startswith(tuple(frozen_prefixes)):
            assert torch.equal(value, before[name]), name


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_type_hatnet_builds_in_each_scope_via_custom_imports(scope, tmp_path):
    """A config with only ``custom_imports`` registers HATNet for each
    library; run in a fresh interpreter so nothing was imported before."""
    pytest.importorskip(scope)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent(f"""
        default_scope = '{scope}'
        custom_imports = dict(imports=['mmhatnet'], allow_failed_imports=False)
        model = dict(type='HATNet', arch='tiny', out_indices=(3, ))
    """))
    code = textwrap.dedent(f"""
        import sys, torch
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from {scope}.registry import MODELS
        cfg = Config.fromfile(sys.argv[1])
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        assert type(model).__name__ == 'HATNet', type(model)
        print(tuple(model(torch.zeros(1, 3, 64, 64))[0].shape))
    """)
    out = subprocess.run([sys.executable, '-c', code, str(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith('(1, 384, 2, 2)')


def test_import_works_without_the_downstream_libraries():
    code = textwrap.dedent("""
        import sys
        for name in ('mmdet', 'mmseg', 'mmpretrain'):
            sys.modules[name] = None  # any import of them now fails
        import mmhatnet
        from mmengine.registry import MODELS
        print(type(MODELS.build(dict(type='HATNet', arch='tiny'))).__name__)
    """)
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == 'HATNet'


@pytest.mark.parametrize('kwargs,message', [
    (dict(arch='huge'), "unknown HAT-Net arch 'huge'; choose one of "
     "['large', 'medium', 'small', 'tiny']"),
    (dict(arch=dict(embed_dims=[8, 16], head_dim=8, depths=[1, 1])),
     "missing keys ['mlp_ratios', 'kernel_sizes']"),
    (dict(arch=dict(embed_dims=[8, 20], head_dim=8, mlp_ratios=[2, 2],
                    depths=[1, 1], kernel_sizes=[3, 3]), g1=(2, ), g2=(2, )),
     'head_dim=8 does not divide the stage widths [20]'),
    (dict(g1=(8, 8)), 'g1 (G1, the local grid size) must be 3 positive ints'),
    (dict(g2=(16, 0, 4)), 'g2 (G2, the global pooling ratio) must be 3'),
    (dict(g1=(8, 8, 7.5)), 'g1 (G1, the local grid size) must be 3'),
    (dict(out_indices=(4, )), 'out_indices=(4,) must be stage indices'),
    (dict(frozen_stages=5), 'frozen_stages=5 must be an int in'),
])
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        HATNet(**kwargs)
