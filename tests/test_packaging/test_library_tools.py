"""The libraries' own tools and inferencers on our toy configs, as the
installed wheel ships them (``mmhatnet/.mim/configs/toy``), from the folder
where docs/get_started/ways_in.md's commands ran (its toy data, its
checkpoint, its json log).

Every tool is the library's script from its ``.mim/tools``, run as
``__main__`` with its command line, as ``mim run LIB TOOL ...`` runs it; all
of them in one Python process (``runpy``, one after the other), because
starting Python with torch and a library costs more than most of these tools
do on toy data, and this file must stay cheap for CI."""
import json
import os.path as osp
import re
import sys

import pytest
from wheel_helpers import run

HARNESS = r'''
import json, os, runpy, sys, traceback
os.dup2(1, 2)  # the tools' stderr into their section of the output
for name, path, args in json.loads(sys.argv[1]):
    sys.argv = [path] + args
    print(f'::: tool {name} start', flush=True)
    try:
        runpy.run_path(path, run_name='__main__')
        rc = 0
    except SystemExit as e:
        rc = e.code or 0
    except BaseException:
        traceback.print_exc()
        rc = 1
    print(f'::: tool {name} rc={rc}', flush=True)
'''

INFERENCERS = r'''
import sys
import numpy as np
import torch
import mmhatnet  # noqa: F401
det_cfg, seg_cfg, det_ckpt, seg_ckpt = sys.argv[1:5]
image = np.random.default_rng(0).integers(0, 255, (96, 120, 3), np.uint8)

from mmdet.apis import DetInferencer
det = DetInferencer(model=det_cfg, weights=det_ckpt, device='cpu')
from mmhatnet.models.utils.torch_compat import WEIGHTS_ONLY
saved = torch.load(det_ckpt, weights_only=WEIGHTS_ONLY)['state_dict']
own = det.model.state_dict()
assert all(torch.equal(own[k], v) for k, v in saved.items())
out = det(image, return_datasamples=True)['predictions'][0]
print('det', type(det.model.backbone).__name__, len(out.pred_instances))

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
init_default_scope('mmseg')
model = MODELS.build(Config.fromfile(seg_cfg).model)
torch.save(dict(state_dict=model.state_dict(),
                meta=dict(dataset_meta=dict(
                    classes=('a', 'b', 'c', 'd'),
                    palette=[[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]]))),
           seg_ckpt)
from mmseg.apis import MMSegInferencer
seg = MMSegInferencer(model=seg_cfg, weights=seg_ckpt, device='cpu')
own = seg.model.state_dict()
assert all(torch.equal(own[k], v) for k, v in model.state_dict().items())
out = seg(image, return_datasamples=True)
print('seg', type(seg.model.backbone).__name__,
      tuple(out.pred_sem_seg.data.shape[-2:]))
'''

# mmseg's benchmark times 200 test batches and has no --cfg-options: a
# config of the user's inheriting ours by path, its 2 toy images repeated
SEG_BENCH = '''_base_ = '{base}'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, type='RepeatDataset', times=100,
        dataset=dict(
            type='BaseSegDataset', data_root='data/toy_ade/',
            data_prefix=dict(img_path='images/validation',
                             seg_map_path='annotations/validation'),
            img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
            metainfo=dict(classes=('background', 'circle', 'square',
                                   'triangle', 'cross')),
            pipeline=test_pipeline)))
'''


def lib_path(lib, relpath):
    """A tool of an installed library (this venv's) in its .mim/tools."""
    import importlib.util
    pkg = osp.dirname(importlib.util.find_spec(lib).origin)
    path = osp.join(pkg, '.mim', 'tools', relpath)
    assert osp.isfile(path), path
    return path


@pytest.fixture(scope='module')
def tools(doc_run, wheel_site, tmp_path_factory):
    """{tool name: (exit status, its output)} and the folder they ran in."""
    work, rc, log = doc_run
    assert rc == 0, log[-8000:]
    from wheel_helpers import wheel_env
    env = wheel_env(wheel_site)
    out = tmp_path_factory.mktemp('tools')
    mim = osp.join(str(wheel_site), 'mmhatnet', '.mim')
    det = osp.join(mim, 'configs', 'toy', 'retinanet_hatnet_tiny_toy.py')
    seg = osp.join(mim, 'configs', 'toy', 'fpn_hatnet_tiny_toy.py')
    cls = osp.join(mim, 'configs', 'toy', 'hatnet_tiny_in1k_toy.py')
    ckpt = str(work / 'work_dirs' / 'my_retinanet' / 'epoch_1.pth')
    # <timestamp>/vis_data/<timestamp>.json, the json log (not scalars.json)
    logs = sorted((work / 'work_dirs' / 'my_retinanet').glob(
        '*/vis_data/[0-9]*.json'))
    assert len(logs) == 1, logs
    (out / 'infer.py').write_text(INFERENCERS)
    (out / 'seg_bench.py').write_text(SEG_BENCH.format(base=seg))
    mmdet = lambda t: lib_path('mmdet', t)  # noqa: E731
    mmseg = lambda t: lib_path('mmseg', t)  # noqa: E731
    plan = [
        ('make_toy_data', osp.join(mim, 'tools', 'dataset_converters',
                                   'make_toy_data.py'),
         ['ade', 'data/toy_ade', '--train', '2', '--val', '2', '--size',
          '64']),
        ('inferencers', str(out / 'infer.py'),
         [det, seg, ckpt, str(out / 'seg.pth')]),
        ('mmdet.get_flops', mmdet('analysis_tools/get_flops.py'),
         [det, '--num-images', '1']),
        ('mmdet.benchmark', mmdet('analysis_tools/benchmark.py'),
         [det, '--task', 'dataloader', '--max-iter', '2', '--num-warmup',
          '0', '--log-interval', '1', '--cfg-options',
          'test_dataloader.num_workers=0',
          'test_dataloader.persistent_workers=False']),
        ('mmdet.browse_dataset', mmdet('analysis_tools/browse_dataset.py'),
         [det, '--output-dir', str(out / 'browse'), '--not-show',
          '--cfg-options', 'train_dataloader.dataset.indices=2']),
        ('mmdet.test', mmdet('test.py'),
         [det, ckpt, '--out', str(out / 'preds.pkl'), '--work-dir',
          str(out / 'test'), '--cfg-options', 'model.test_cfg.score_thr=0.0',
          'test_dataloader.num_workers=0',
          'test_dataloader.persistent_workers=False']),
        ('mmdet.confusion_matrix', mmdet('analysis_tools/confusion_matrix.py'),
         [det, str(out / 'preds.pkl'), str(out), '--score-thr', '0.0']),
        ('mmdet.analyze_logs', mmdet('analysis_tools/analyze_logs.py'),
         ['plot_curve', str(logs[0]), '--keys', 'loss', '--out',
          str(out / 'loss.png')]),
        ('mmseg.get_flops', mmseg('analysis_tools/get_flops.py'),
         [seg, '--shape', '128', '128']),
        ('mmseg.benchmark', mmseg('analysis_tools/benchmark.py'),
         [str(out / 'seg_bench.py'), str(out / 'seg.pth'), '--log-interval',
          '100', '--work-dir', str(out / 'seg_bench')]),
        ('mmpretrain.get_flops',
         lib_path('mmpretrain', 'analysis_tools/get_flops.py'),
         [cls, '--shape', '112']),
    ]
    _, log = run([sys.executable, '-u', '-c', HARNESS, json.dumps(plan)], work,
                 env, timeout=900, check=False)
    results = {}
    for name, *_ in plan:
        m = re.search(rf'::: tool {re.escape(name)} start\n(.*?)'
                      rf'::: tool {re.escape(name)} rc=(\S+)', log, re.S)
        results[name] = (m.group(2), m.group(1)) if m else ('missing', log)
    return results, out


def ok(tools, name):
    rc, log = tools[0][name]
    assert rc == '0', f'{name} rc={rc}\n{log[-4000:]}'
    return log


def test_det_and_seg_inferencers_take_our_configs(tools):
    log = ok(tools, 'inferencers')
    assert re.search(r'^det HATNet \d+$', log, re.M), log[-3000:]
    assert re.search(r'^seg HATNet \(96, 120\)$', log, re.M), log[-3000:]


def test_mmdet_get_flops(tools):
    log = ok(tools, 'mmdet.get_flops')
    assert re.search(r'Flops: [\d.]+ ?G', log), log[-3000:]


def test_mmdet_benchmark(tools):
    log = ok(tools, 'mmdet.benchmark')
    assert re.search(r'Overall fps: [\d.]+', log), log[-3000:]


def test_mmdet_browse_dataset(tools):
    ok(tools, 'mmdet.browse_dataset')
    assert len(list((tools[1] / 'browse').glob('*.jpg'))) == 2


def test_mmdet_confusion_matrix_on_its_test_output(tools):
    ok(tools, 'mmdet.test')
    assert (tools[1] / 'preds.pkl').is_file()
    ok(tools, 'mmdet.confusion_matrix')
    assert (tools[1] / 'confusion_matrix.png').is_file()


def test_mmdet_analyze_logs(tools):
    ok(tools, 'mmdet.analyze_logs')
    assert (tools[1] / 'loss.png').is_file()


def test_mmseg_get_flops_fails_for_any_model(tools):
    """As the page says: mmseg 1.2.2's get_flops passes both input_shape and
    inputs to mmengine 0.10.7's get_model_complexity_info, which refuses
    that before it looks at the model (a bug of the tool, not of HAT-Net)."""
    rc, log = tools[0]['mmseg.get_flops']
    assert rc == '1', log[-3000:]
    assert ('ValueError: "input_shape" and "inputs" cannot be both set.'
            in log), log[-3000:]


def test_mmseg_benchmark(tools):
    log = ok(tools, 'mmseg.benchmark')
    fps = re.search(r'Overall fps: ([\d.]+) img / s', log)
    assert fps and float(fps.group(1)) > 0, log[-3000:]


def test_mmpretrain_get_flops(tools):
    log = ok(tools, 'mmpretrain.get_flops')
    assert re.search(r'Flops: [\d.]+ ?G', log), log[-3000:]
