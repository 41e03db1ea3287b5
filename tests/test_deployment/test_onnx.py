"""Export to ONNX with ``--dynamic`` and run in ONNX Runtime / OpenVINO.

Each toy model (RetinaNet, Mask R-CNN, Semantic FPN, the classifier) is
exported once (module-scoped fixture) from its toy config, with a shallower
backbone (one block per stage, same widths and G1/G2) to keep the export
cheap; then one graph must match PyTorch at every size and batch size, the
library's metric on the ONNX file must be PyTorch's, and OpenVINO must agree.
The RetinaNet export is the one the docs page's commands make
(``test_docs_commands_run``)."""
import copy
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest
import torch
from common import ROOT, skip_module_without_onnx_export
from toy_options import data_options

from mmhatnet.apis import build_runner
from mmhatnet.deployment import (DeployError, Runtime, build_model,
                                 export_onnx, load_deployed, read_metadata)
from mmhatnet.deployment.export import compare, other_size
from mmhatnet.models import HATNet

skip_module_without_onnx_export()

DOCS = osp.join(ROOT, 'docs', 'user_guides', 'deployment.md')
# HAT-Net-Tiny's widths and the toy configs' G1/G2, one block per stage
SHALLOW = dict(embed_dims=[48, 96, 240, 384], head_dim=48,
               mlp_ratios=[8, 8, 4, 4], depths=[1, 1, 1, 1],
               kernel_sizes=[3, 3, 3, 3])
# the toy RetinaNet config of the docs run: shallow, every box kept
SHALLOW_RETINANET = f"""_base_ = [{osp.join(ROOT, 'configs', 'toy',
                                           'retinanet_hatnet_tiny_toy.py')!r}]
model = dict(backbone=dict(arch=dict(_delete_=True, **{SHALLOW!r})),
             test_cfg=dict(score_thr=0.0))
test_dataloader = dict(num_workers=0, persistent_workers=False)
"""
# (config, toy data kind, extra options, metric)
CASES = {
    'retinanet': ('retinanet_hatnet_tiny_toy.py', 'coco',
                  # an untrained detector scores ~0.01: keep its boxes
                  {'model.test_cfg.score_thr': 0.0}, 'coco/bbox_mAP'),
    'mask_rcnn': ('mask_rcnn_hatnet_tiny_toy.py', 'coco', {}, None),
    'semantic_fpn': ('fpn_hatnet_tiny_toy.py', 'ade', {}, 'mIoU'),
    'classifier': ('hatnet_tiny_in1k_toy.py', 'imagenet', {},
                   'accuracy/top1'),
}
# (batch, H, W): two batch sizes; 61, 83, 37, 29, 45, 53 divide by none
# of G1 (8), G2 (16, 8, 4) and 32, at the input and at every stride
SIZES = [(1, 64, 96), (2, 61, 83), (1, 37, 29), (2, 45, 53), (1, 100, 45)]


def _options(kind, root, extra):
    opts = dict(o.split('=', 1) for o in data_options(root, coco=kind ==
                                                      'coco'))
    opts = {k: (int(v) if v.isdigit() else False if v == 'False' else v)
            for k, v in opts.items()}
    opts['model.backbone.arch'] = dict(_delete_=True, **SHALLOW)
    opts.update(extra)
    return opts


def _run(args, cwd=ROOT, check=True):
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                         timeout=900)
    if check:
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    roots = {}
    for kind in ('coco', 'ade', 'imagenet'):
        roots[kind] = tmp_path_factory.mktemp(f'toy_{kind}')
        _run([sys.executable, 'tools/dataset_converters/make_toy_data.py',
              kind, str(roots[kind]), '--train', '1', '--val', '4',
              '--size', '96', '--overwrite'])
    return roots


def _seeded_model(name, toy_data):
    config, kind, extra, _ = CASES[name]
    torch.manual_seed(0)
    cfg, model = build_model(osp.join(ROOT, 'configs', 'toy', config),
                             cfg_options=_options(kind, toy_data[kind],
                                                  extra))
    return cfg, model


def _docs_blocks():
    with open(DOCS) as f:
        return re.findall(r'```bash\n(.*?)```', f.read(), re.S)


@pytest.fixture(scope='module')
def docs_run(tmp_path_factory):
    """Run every ```bash block of the docs page, in order, in a fresh folder
    with the repo's tools/, with these toy substitutions: the toy set is
    small (--train 1 --val 4 --size 96); configs/toy/
    retinanet_hatnet_tiny_toy.py is the real one with a shallow backbone
    (SHALLOW), every box kept (score_thr=0) and no loader workers;
    tools/train.py is replaced by saving the seeded, untrained model as the
    checkpoint it would write. Returns (folder, outputs)."""
    work = tmp_path_factory.mktemp('docs')
    os.symlink(osp.join(ROOT, 'tools'), work / 'tools')
    (work / 'configs' / 'toy').mkdir(parents=True)
    (work / 'configs' / 'toy' / 'retinanet_hatnet_tiny_toy.py').write_text(
        SHALLOW_RETINANET)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    outputs = []
    for block in _docs_blocks():
        for line in block.replace('\\\n', ' ').splitlines():
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            args = shlex.split(line)
            assert args[0] == 'python', line
            args[0] = sys.executable
            if args[1].endswith('make_toy_data.py'):
                args += ['--train', '1', '--val', '4', '--size', '96']
            if args[1] == 'tools/train.py':
                _fake_training(work, args)
                continue
            out = subprocess.run(args, cwd=work, env=env, capture_output=True,
                                 text=True, timeout=900)
            assert out.returncode == 0, (line, out.stderr[-3000:])
            outputs.append((line, out.stdout + out.stderr))
    return work, outputs


def _fake_training(work, args):
    """What `tools/train.py CONFIG --work-dir DIR` leaves that the page
    uses: DIR/epoch_20.pth (here: the seeded untrained model)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(work, args[2]))
    torch.manual_seed(0)
    _, model = build_model(cfg)
    folder = work / args[args.index('--work-dir') + 1]
    folder.mkdir(parents=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}},
               folder / f'epoch_{cfg.train_cfg.max_epochs}.pth')


@pytest.fixture(scope='module', params=list(CASES))
def exported(request, toy_data, docs_run, tmp_path_factory):
    """(name, cfg, PyTorch model, ONNX file) of each toy model, exported
    once with --dynamic (RetinaNet: by the docs page's command)."""
    name = request.param
    cfg, model = _seeded_model(name, toy_data)
    if name == 'retinanet':
        work, _ = docs_run
        path = str(work / 'work_dirs' / 'retinanet_toy' / 'retinanet.onnx')
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, str(work / 'work_dirs' / 'retinanet_toy' /
                                   'epoch_20.pth'), map_location='cpu',
                        strict=True, logger='silent')
    else:
        path = str(tmp_path_factory.mktemp(name) / f'{name}.onnx')
        report = export_onnx(model, path, shape=(64, 96), dynamic=True,
                             log=lambda *a: None)
        assert [c['max_rel'] <= 1e-4 for c in report['checks']] == [True] * 2
    return name, cfg, model, path


def _torch_outputs(model, path, x):
    from mmhatnet.deployment.export import TensorForward, model_task
    task = read_metadata(path)['task']
    forward = TensorForward(model, task if task == 'backbone' else
                            model_task(model)).eval()
    with torch.no_grad():
        return [t.numpy() for t in forward(x)]


def test_one_dynamic_graph_matches_pytorch_at_every_size(exported):
    name, cfg, model, path = exported
    meta = read_metadata(path)
    assert meta['dynamic'] and meta['g1'] == list(model.backbone.g1)
    assert meta['g2'] == list(model.backbone.g2)
    runtime = Runtime(path)
    gen = torch.Generator().manual_seed(1)
    for b, h, w in SIZES:
        x = torch.randn(b, 3, h, w, generator=gen)
        ref = _torch_outputs(model, path, x)
        ours = [t.numpy() for t in runtime(x)]
        errs = compare(ours, ref)
        assert len(errs) == len(ref) > 0
        assert max(errs) <= 1e-4, (name, (b, h, w), max(errs))
        assert ours[0].shape[0] == b


def test_openvino_fp32_matches_pytorch(exported):
    name, cfg, model, path = exported
    runtime = Runtime(path, 'openvino', 'fp32')
    for b, h, w in SIZES[1:3]:
        x = torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(2))
        errs = compare([t.numpy() for t in runtime(x)],
                       _torch_outputs(model, path, x))
        assert max(errs) <= 1e-3, (name, (b, h, w), max(errs))


def _evaluate(cfg, model, work_dir):
    """The metrics of tools/test.py's path: the library's runner and test
    loop, with ``model`` (PyTorch or deployed) as its model."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir, cfg.load_from = str(work_dir), None
    cfg.default_hooks.pop('visualization', None)
    runner = build_runner(cfg)
    runner.model = model
    return runner.test()


def _predict(cfg, model):
    """Every test image's data sample, as ``model.test_step`` gives it."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        loader = Runner.build_dataloader(cfg.test_dataloader)
        out = []
        for batch in loader:
            with torch.no_grad():
                out += model.test_step(batch)
    return out


def _same_predictions(name, ours, ref):
    assert len(ours) == len(ref) > 0
    for o, r in zip(ours, ref):
        if name == 'classifier':
            torch.testing.assert_close(o.pred_score, r.pred_score,
                                       rtol=0, atol=1e-4)
            assert torch.equal(o.pred_label, r.pred_label)
        elif name == 'semantic_fpn':
            same = (o.pred_sem_seg.data == r.pred_sem_seg.data).float()
            assert same.mean() >= 0.999, same.mean()
        else:  # the best boxes (near-ties further down may swap)
            o, r = o.pred_instances, r.pred_instances
            assert len(o) == len(r) > 0
            torch.testing.assert_close(o.scores[:10], r.scores[:10],
                                       rtol=1e-3, atol=1e-5)
            torch.testing.assert_close(o.bboxes[:3], r.bboxes[:3],
                                       rtol=1e-3, atol=1e-2)


def test_metric_on_the_onnx_file_is_the_pytorch_one(exported, tmp_path):
    """What tools/test.py does with an ONNX file (load_deployed into the
    runner), against the PyTorch model: the same predictions and metric."""
    name, cfg, model, path = exported
    metric = CASES[name][3]
    if metric is None:  # Mask R-CNN: the RoI stage is not in the graph
        with pytest.raises(DeployError, match='RoI stage'):
            load_deployed(model, path)
        return
    deployed = load_deployed(copy.deepcopy(model), path)
    _same_predictions(name, _predict(cfg, deployed), _predict(cfg, model))
    ref = _evaluate(cfg, model, tmp_path / 'torch')
    ours = _evaluate(cfg, deployed, tmp_path / 'onnx')
    assert round(ours[metric], 3) == round(ref[metric], 3), (ours, ref)
    if name != 'retinanet':  # an untrained detector finds nothing
        assert ref[metric] > 0, ref


def test_backbone_alone_matches_to_1e5(toy_data, tmp_path):
    _, model = _seeded_model('semantic_fpn', toy_data)
    path = str(tmp_path / 'backbone.onnx')
    report = export_onnx(model, path, shape=(64, 96), dynamic=True,
                         backbone_only=True, log=lambda *a: None)
    assert report['task'] == 'backbone' and len(report['outputs']) == 4
    runtime = Runtime(path)
    for b, h, w in SIZES:
        x = torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            ref = [t.numpy() for t in model.backbone(x)]
        errs = compare([t.numpy() for t in runtime(x)], ref)
        assert max(errs) <= 1e-5, ((b, h, w), errs)
    with pytest.raises(DeployError, match='backbone only'):
        load_deployed(model, path)


# ------------------------------------------------------- refusals, files
class _Backbone(torch.nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


@torch.library.custom_op('mmhatnet_test::twice', mutates_args=())
def _twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@_twice.register_fake
def _(x):
    return torch.empty_like(x)


class _Unsupported(torch.nn.Module):
    def forward(self, x):
        return (_twice(x), )


def test_an_op_without_onnx_translation_is_named(tmp_path):
    out = tmp_path / 'x.onnx'
    with pytest.raises(DeployError, match='mmhatnet_test::twice'):
        export_onnx(_Backbone(_Unsupported()), str(out), shape=(8, 8),
                    backbone_only=True, log=lambda *a: None)
    assert list(tmp_path.iterdir()) == []


MICRO = dict(embed_dims=[8, 16, 16, 16], head_dim=8, mlp_ratios=[1, 1, 1, 1],
             depths=[1, 1, 1, 1], kernel_sizes=[3, 3, 3, 3])


def test_a_failed_check_writes_nothing_and_keeps_the_old_file(tmp_path):
    model = _Backbone(HATNet(arch=MICRO, g1=(2, 2, 2), g2=(2, 2, 2),
                             drop_path_rate=0.)).eval()
    out = tmp_path / 'm.onnx'
    out.write_text('old')
    with pytest.raises(DeployError, match='differs from PyTorch'):
        export_onnx(model, str(out), shape=(16, 16), backbone_only=True,
                    tolerance=-1., log=lambda *a: None)
    assert out.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx']
    # a static graph is checked twice at its own size and is static
    report = export_onnx(model, str(out), shape=(16, 12), batch=2,
                         backbone_only=True, log=lambda *a: None)
    assert [c['shape'] for c in report['checks']] == [[2, 3, 16, 12]] * 2
    meta = read_metadata(str(out))
    assert meta['input_shape'] == [2, 3, 16, 12] and not meta['dynamic']
    assert meta['g1'] == [2, 2, 2] and meta['g2'] == [2, 2, 2]
    with pytest.raises(Exception):
        Runtime(str(out))(torch.randn(1, 3, 16, 12))


def test_dynamic_export_refuses_a_size_dependent_last_stage_pooling(
        tmp_path):
    model = _Backbone(HATNet(arch=MICRO, last_stage_pool_to=2))
    with pytest.raises(DeployError, match='last_stage_pool_to=2'):
        export_onnx(model, str(tmp_path / 'm.onnx'), dynamic=True,
                    backbone_only=True)


def test_a_dynamic_backbone_traced_square_runs_at_every_size(tmp_path,
                                                             monkeypatch):
    """At a 64 x 64 example (batch 2) the maps pooled by G2 are 1 x 1 and
    torch.export bounded H and W (0/1 guards), a bound the ONNX graph
    drops: ONNX Runtime failed at 64 x 96 and beyond. The example's sides
    are now raised above every stride, and a graph whose batch, H or W is
    not free is refused."""
    model = _Backbone(HATNet(arch=MICRO, drop_path_rate=0.)).eval()
    path = str(tmp_path / 'square.onnx')
    report = export_onnx(model, path, shape=(64, 64), dynamic=True,
                         backbone_only=True, log=lambda *a: None)
    (b0, _, h0, w0), (b1, _, h1, w1) = [c['shape'] for c in report['checks']]
    assert b1 != b0 and h1 != h0 and w1 != w0 and h1 != w1
    runtime = Runtime(path)
    gen = torch.Generator().manual_seed(4)
    for b, h, w in [(1, 64, 96), (2, 64, 96), (1, 96, 128), (3, 200, 120),
                    (1, 64, 64), (2, 37, 29)]:
        x = torch.randn(b, 3, h, w, generator=gen)
        with torch.no_grad():
            ref = [t.numpy() for t in model.backbone(x)]
        errs = compare([t.numpy() for t in runtime(x)], ref)
        assert max(errs) <= 1e-5, ((b, h, w), errs)
    # traced at 64 x 64 itself, H and W are not free: refused, not written
    monkeypatch.setattr('mmhatnet.deployment.export.trace_size',
                        lambda m, s: tuple(s))
    with pytest.raises(DeployError, match='not leave the batch, H and W'):
        export_onnx(model, str(tmp_path / 'bounded.onnx'), shape=(64, 64),
                    dynamic=True, backbone_only=True, log=lambda *a: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['square.onnx']


def test_other_size_divides_by_nothing():
    for shape in [(224, 224), (512, 512), (800, 1344), (64, 96), (129, 86)]:
        for side in other_size(shape):
            assert all(side % d for d in (2, 4, 8, 16, 32)), side
        assert len(set(other_size(shape))) == 2, shape


# ------------------------------------------------------------ the CLIs
def test_docs_commands_run(docs_run):
    """The page's commands ran (see ``docs_run``); the metric tools/test.py
    printed for the ONNX file, in both backends, is PyTorch's on the same
    checkpoint and data."""
    work, outputs = docs_run
    root = work / 'data' / 'toy_coco'
    cfg, model = build_model(
        osp.join(ROOT, 'configs', 'toy', CASES['retinanet'][0]),
        osp.join(work, 'work_dirs', 'retinanet_toy', 'epoch_20.pth'),
        _options('coco', root, CASES['retinanet'][2]))
    ref = _evaluate(cfg, model, work / 'torch_eval')['coco/bbox_mAP']
    tested = [o for line, o in outputs if line.startswith('python tools/test')]
    assert len(tested) == 2  # onnxruntime, openvino
    for log in tested:
        m = re.search(r'coco/bbox_mAP: (\d+\.\d+)', log)
        assert m and float(m.group(1)) == round(ref, 3), log[-2000:]
    pictures = list((work / 'demo_onnx').rglob('*.jpg'))
    assert len(pictures) == 4


def test_export_cli_errors_are_one_line(tmp_path):
    out = _run([sys.executable, 'tools/deployment/export.py',
                'configs/toy/retinanet_hatnet_tiny_toy.py',
                str(tmp_path / 'missing.pth'), '--out',
                str(tmp_path / 'x.onnx')], check=False)
    assert out.returncode == 2
    # one error line, the last (mmengine's own import may warn before it)
    errors = [ln for ln in out.stderr.splitlines() if 'error' in ln.lower()]
    assert errors == [out.stderr.splitlines()[-1]], out.stderr
    assert errors[0].startswith('error: checkpoint') and \
        'missing.pth' in errors[0], out.stderr
    assert 'Traceback' not in out.stderr
    assert list(tmp_path.iterdir()) == []
