# Copyright (c) mmhatnet contributors. All rights reserved.
"""Export a model of ours to ONNX: its tensor forward, flattened."""
import importlib
import json
import os
import os.path as osp
import re
import time
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# what the graph of each kind of model computes (its outputs, in order)
TASKS = {
    'detector': "mmdet single-stage detector: bbox_head's outputs "
                '(per level class scores, then box deltas)',
    'two_stage': 'mmdet two-stage detector: the neck features, then the RPN '
                 "head's per level objectness scores and box deltas (the RoI "
                 'stage needs proposals from NMS and is not in the graph)',
    'segmentor': "mmseg segmentor: decode_head's logits at its output stride",
    'classifier': 'mmpretrain classifier: the logits',
    'backbone': 'the backbone alone: its feature maps',
}
TOLERANCE = 1e-4  # max |ONNX - PyTorch| / max |PyTorch|, per output
OPSET = 18


class DeployError(Exception):
    """A problem with what is to be exported or run, said in one line."""


def _need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DeployError(
            f'{module} is not installed ({e}); install the deployment '
            f'packages pinned in tools/install.sh (onnx, onnxruntime, '
            f'onnxscript, openvino)') from None


# ---------------------------------------------------------------- the model
def build_model(config, checkpoint: Optional[str] = None,
                cfg_options: Optional[dict] = None):
    """``(cfg, model)``: the model of ``config`` (a path or a Config), built
    by the library its ``default_scope`` names, in eval mode on the CPU, with
    ``checkpoint`` loaded strictly (an mmengine checkpoint, or a released
    HAT-Net ImageNet checkpoint for a classifier) or, without one, as built
    (nothing is downloaded: a pretrained backbone init is dropped)."""
    from mmhatnet.apis.model import build_config_model, read_model_config
    if isinstance(config, str) and not osp.isfile(config):
        raise DeployError(f'config {config!r} does not exist')
    try:
        cfg = read_model_config(config, cfg_options)
        model = build_config_model(cfg)
    except ValueError as e:  # not readable, not a model config, no library
        raise DeployError(str(e)) from None
    if checkpoint is not None:
        _load(model, checkpoint)
    model.cfg = cfg
    return cfg, model.eval()


def _load(model: nn.Module, checkpoint: str) -> None:
    from mmengine.runner import load_checkpoint

    from mmhatnet.apis import load_released_classifier, released_state_dict
    if not osp.isfile(checkpoint):
        raise DeployError(f'checkpoint {checkpoint!r} does not exist')
    try:
        released = released_state_dict(checkpoint)
        if released is not None:
            load_released_classifier(model, released, checkpoint)
        else:
            load_checkpoint(model, checkpoint, map_location='cpu',
                            strict=True, logger='silent')
    except ValueError as e:
        raise DeployError(str(e)) from None
    except Exception as e:  # noqa: BLE001 (damaged file, missing keys)
        first = (str(e).strip().splitlines() or [''])[0][:300]
        raise DeployError(f'cannot load the checkpoint {checkpoint!r} into '
                          f'the model of the config ({type(e).__name__}: '
                          f'{first}); give a checkpoint trained with this '
                          f'config') from None


def model_task(model: nn.Module, backbone_only: bool = False) -> str:
    """The key of :data:`TASKS` that says what the graph of ``model``
    computes."""
    if backbone_only:
        return 'backbone'
    module = type(model).__module__.split('.')[0]
    if module == 'mmpretrain':
        return 'classifier'
    if module == 'mmseg':
        return 'segmentor'
    if module == 'mmdet':
        return 'two_stage' if hasattr(model, 'rpn_head') else 'detector'
    raise DeployError(f'cannot export a {type(model).__name__}: expected an '
                      f'mmdet detector, mmseg segmentor or mmpretrain '
                      f'classifier')


def flatten_outputs(outs) -> Tuple[list, object]:
    """Nested tuples/lists of tensors -> (tensors in order, structure); the
    structure is JSON-able ("T" for a tensor, lists for sequences)."""
    if isinstance(outs, torch.Tensor):
        return [outs], 'T'
    if isinstance(outs, (tuple, list)):
        flat, structure = [], []
        for item in outs:
            f, s = flatten_outputs(item)
            flat += f
            structure.append(s)
        return flat, structure
    raise DeployError(f'the tensor forward returned a {type(outs).__name__}, '
                      f'which an ONNX graph cannot output')


def unflatten_outputs(flat: Sequence, structure):
    """Inverse of :func:`flatten_outputs` (sequences come back as lists)."""
    items = iter(flat)

    def build(s):
        return next(items) if s == 'T' else [build(x) for x in s]
    return build(structure)


class TensorForward(nn.Module):
    """The part of a model that becomes the graph: ``(B, 3, H, W)`` network
    input (after the data preprocessor) -> the flat tuple of tensors of its
    tensor forward (see :data:`TASKS`)."""

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model, self.task = model, task

    def nested(self, inputs: torch.Tensor):
        model = self.model
        if self.task == 'backbone':
            return model.backbone(inputs)
        if self.task == 'classifier':
            return model(inputs, mode='tensor')
        if self.task == 'two_stage':
            feats = model.extract_feat(inputs)
            return list(feats), model.rpn_head(feats)
        return model._forward(inputs)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(flatten_outputs(self.nested(inputs))[0])


def grid_sizes(model: nn.Module) -> Dict[str, object]:
    b = getattr(model, 'backbone', model)
    return dict(g1=list(getattr(b, 'g1', ())), g2=list(getattr(b, 'g2', ())),
                last_stage_pool_to=getattr(b, 'last_stage_pool_to', None))


# ------------------------------------------------------------------ export
def _upsample_by_factor(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=module.scale_factor,
                         mode=module.mode, align_corners=module.align_corners)


def _integer_factor(scale) -> bool:
    factors = scale if isinstance(scale, tuple) else (scale, )
    return all(float(f).is_integer() for f in factors)


@contextmanager
def symbolic_upsampling(model: nn.Module):
    """While exporting, run mmseg's ``Upsample(scale_factor=k)`` (Semantic
    FPN's scale heads) by ``scale_factor``, not by the size ``int(side * k)``
    (``int()`` of a symbolic size freezes the example's sizes): for integer
    ``k``, the same output size and sampling points; others left as they are."""
    try:
        from mmseg.models.utils import Upsample
        patched = [m for m in model.modules()
                   if isinstance(m, Upsample) and not m.size
                   and m.scale_factor and _integer_factor(m.scale_factor)]
    except ImportError:  # no mmseg: nothing of the kind to rewrite
        patched = []
    for m in patched:
        m.forward = _upsample_by_factor.__get__(m)
    try:
        yield
    finally:
        for m in patched:
            del m.forward


def _exporter_text(e: Exception) -> str:
    text = f'{e}\n{e.__cause__ or ""}'
    return re.sub(r'\x1b\[[0-9;]*m', '', text)  # no terminal colours


def _unsupported(e: Exception) -> str:
    """The op(s) an exporter error is about, as a phrase (or '')."""
    text = _exporter_text(e)
    m = re.search(r"No ONNX function found for <OpOverload\(op='(\w+)\."
                  r"([\w.]+)'", text)
    if m:
        return f'the op {m.group(1)}::{m.group(2)}'
    m = re.search(r'Unsupported FX nodes: (.*)', text)
    if m:
        ops = re.findall(r"'([\w.:]+)'", m.group(1))
        ops = [o for o in ops if o != 'call_function'] or [m.group(1)]
        return 'the op ' + ', '.join(sorted(set(ops)))
    m = re.search(r'target=torch\.ops\.(\w+)\.(\w+)\.\w+', text)
    if m:
        return f'the op {m.group(1)}::{m.group(2)}'
    return ''


def _summary(e: Exception) -> str:
    """One line saying what the exporter's error is."""
    text = _exporter_text(e)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return next((ln for ln in lines if ln.startswith('<class') and ':' in ln),
                (lines or [type(e).__name__])[0])[:300]


def _run_torch(forward: TensorForward, x: torch.Tensor) -> List:
    with torch.no_grad():
        return [t.detach().float().numpy() for t in forward(x)]


def compare(ours: Sequence, ref: Sequence) -> List[float]:
    """Per output: ``max |ours - ref| / max |ref|`` (or absolute: ref = 0)."""
    import numpy as np
    if len(ours) != len(ref):
        raise DeployError(f'{len(ours)} outputs, expected {len(ref)}')
    errs = []
    for o, r in zip(ours, ref):
        o, r = np.asarray(o, dtype=np.float64), np.asarray(r, np.float64)
        if o.shape != r.shape:
            raise DeployError(f'an output has shape {o.shape}, PyTorch '
                              f'gives {r.shape}')
        if not r.size:
            errs.append(0.)
            continue
        scale = np.abs(r).max()
        errs.append(float(np.abs(o - r).max() / (scale if scale else 1.)))
    return errs


def other_size(shape: Sequence[int]) -> Tuple[int, int]:
    """A second size to check a dynamic graph at: odd (dividing by none of
    G1, G2 and 32), never square, about half the example's height and 1.5
    times its width (below the example on one side, beyond it on the other)."""
    h, w = max(3, shape[0] // 2) | 1, max(3, shape[1] * 3 // 2) | 1
    return h, w + 2 * (w == h)


def trace_size(model: nn.Module, shape: Sequence[int]) -> Tuple[int, int]:
    """The sides a dynamic graph is traced at: ``shape``'s, each raised above
    the largest stride at which the model derives a size (G1 windows and G2
    cells of the backbone, FPN levels up to 128), as a size of 1 there makes
    ``torch.export`` bound H or W (0/1 guards), a bound ONNX drops."""
    g = grid_sizes(model)
    most = max([128] + [4 * 2**i * max(gs) for i, gs in enumerate(zip(
        g['g1'], g['g2']))])
    return tuple(max(int(s), most + 1) for s in shape)


def _check_free(program) -> None:
    """Refuse a traced graph whose batch, H or W is not a symbol of its own
    without an upper bound (beyond it, the graph's shapes would be wrong)."""
    from torch.utils._sympy.numbers import int_oo
    ep = program.exported_program
    name = ep.graph_signature.user_inputs[0]
    shape = next(n for n in ep.graph.nodes if n.name == name).meta['val'].shape
    dims = [getattr(getattr(shape[i], 'node', 0), 'expr', shape[i])
            for i in (0, 2, 3)]
    ranges = [ep.range_constraints.get(d) for d in dims]
    if len(set(dims)) < 3 or any(r is None or r.upper != int_oo
                                 for r in ranges):
        raise DeployError(f'torch.export did not leave the batch, H and W of '
                          f'the dynamic graph free: {dims}, ranges {ranges}')


def export_onnx(model: nn.Module, out: str,
                shape: Sequence[int] = (224, 224), batch: int = 1,
                dynamic: bool = False, backbone_only: bool = False,
                config_name: str = '', tolerance: float = TOLERANCE,
                log=print) -> dict:
    """Export ``model`` (built by :func:`build_model`) to the ONNX file
    ``out``, check it and write it.

    The graph takes the network input ``inputs`` ``(B, 3, H, W)`` (what the
    data preprocessor gives: normalised, padded) and returns, in order, the
    flattened tensors of the model's tensor forward (:data:`TASKS`), so the
    library's post-processing applies to them unchanged. With ``dynamic``
    the batch size, H and W are free (one graph for every size, including
    sizes that do not divide by G1, G2 or 32; traced at a batch of at least
    2 and the sides of :func:`trace_size`, and refused unless they stay
    free), else fixed to the example's ``(batch, 3, *shape)``. The file's
    metadata holds the task, G1/G2 and how to regroup the outputs.

    Before ``out`` is written (atomically), ONNX Runtime runs the graph on
    the example and one more input (dynamic: another batch and
    :func:`other_size`; static: another random input), each output within
    ``tolerance`` of PyTorch's relative to its largest value, else
    :class:`DeployError` and ``out`` untouched. Returns a report: ``task``,
    ``outputs`` (shapes), ``checks`` (shape, max error each), ``export_s``.
    """
    from mmhatnet.models.utils.torch_compat import TORCH_VERSION
    from mmhatnet.utils.files import atomic_output
    if TORCH_VERSION < (2, 6):  # torch.onnx.export(dynamo=True), Dim.DYNAMIC
        raise DeployError(f'the ONNX export needs torch >= 2.6; this is '
                          f'torch {torch.__version__}')
    _need('onnx'), _need('onnxscript')
    ort = _need('onnxruntime')
    H, W = (int(s) for s in shape)
    if H < 1 or W < 1 or batch < 1:
        raise DeployError(f'--shape {H} {W} --batch {batch}: sizes must be '
                          f'positive')
    task = model_task(model, backbone_only)
    grids = grid_sizes(model)
    if dynamic and grids['last_stage_pool_to'] is not None:
        raise DeployError(
            f'last_stage_pool_to={grids["last_stage_pool_to"]} pools the last '
            f'stage by a ratio that depends on the input size, which a '
            f'graph for every size cannot hold; export without --dynamic, or '
            f'set model.backbone.last_stage_pool_to=None')
    forward = TensorForward(model.eval(), task).eval()
    gen = torch.Generator().manual_seed(0)
    # torch.export specialises a dimension of size 1 to the constant 1: a
    # dynamic graph is traced with a batch of 2 (its checks cover 2 and 1)
    trace_batch = max(batch, 2) if dynamic else batch
    H, W = trace_size(model, (H, W)) if dynamic else (H, W)
    example = torch.randn(trace_batch, 3, H, W, generator=gen)
    with torch.no_grad():
        flat, structure = flatten_outputs(forward.nested(example))
    names = [f'output_{i}' for i in range(len(flat))]
    dynamic_shapes = ({i: torch.export.Dim(n) for i, n in (
        (0, 'batch'), (2, 'height'), (3, 'width'))}, ) if dynamic else None

    start = time.perf_counter()
    try:
        with symbolic_upsampling(forward):
            program = torch.onnx.export(
                forward, (example, ), dynamo=True, opset_version=OPSET,
                input_names=['inputs'], output_names=names,
                dynamic_shapes=dynamic_shapes, verbose=False)
    except Exception as e:  # noqa: BLE001 (any exporter failure)
        what = _unsupported(e)
        if what:
            raise DeployError(
                f'cannot export this {task}: {what} has no ONNX translation '
                f'in torch {torch.__version__}; replace it, or register an '
                f'ONNX function for it (torch.onnx.export(custom_translation'
                f'_table=...))') from None
        raise DeployError(f'cannot export this {task}: {type(e).__name__}: '
                          f'{_summary(e)}') from None
    export_s = time.perf_counter() - start
    if program is None:
        raise DeployError('torch.onnx.export returned no program')
    if dynamic:
        _check_free(program)
    from mmhatnet.version import __version__
    meta = dict(task=task, task_outputs=TASKS[task], structure=structure,
                dynamic=bool(dynamic), input_shape=[batch, 3, H, W],
                **grids, config=config_name, mmhatnet=__version__,
                torch=torch.__version__)
    if dynamic:
        meta['input_shape'] = ['batch', 3, 'height', 'width']
    program.model.metadata_props.update(
        {f'mmhatnet.{k}': json.dumps(v) for k, v in meta.items()})
    program.model.doc_string = (
        f'mmhatnet {task} ({TASKS[task]}); G1={grids["g1"]}, '
        f'G2={grids["g2"]}; input "inputs" (B, 3, H, W) after the data '
        f'preprocessor')

    checks = [(trace_batch, H, W), (trace_batch % 2 + 1, *other_size((H, W)))
              if dynamic else (trace_batch, H, W)]
    folder = osp.dirname(osp.abspath(out))
    if not osp.isdir(folder):
        raise DeployError(f'the folder of --out {out!r} does not exist')
    report = dict(task=task, outputs=[list(t.shape) for t in flat],
                  checks=[], export_s=export_s, dynamic=bool(dynamic))
    with atomic_output(out) as tmp:
        program.save(tmp)
        session = ort.InferenceSession(tmp, providers=['CPUExecutionProvider'])
        for i, (b, h, w) in enumerate(checks):
            x = example if i == 0 else torch.randn(b, 3, h, w, generator=gen)
            try:
                ours = session.run(None, {'inputs': x.numpy()})
            except Exception as e:  # noqa: BLE001 (ORT runtime failure)
                first = (str(e).strip().splitlines() or [''])[0][:300]
                raise DeployError(f'ONNX Runtime cannot run the exported '
                                  f'graph at {(b, 3, h, w)}: '
                                  f'{first}') from None
            errs = compare(ours, _run_torch(forward, x))
            worst = max(errs) if errs else 0.
            report['checks'].append(dict(shape=[b, 3, h, w], max_rel=worst))
            log(f'check {(b, 3, h, w)}: {len(errs)} outputs, max relative '
                f'error {worst:.2e} (ONNX Runtime vs PyTorch)')
            if not worst <= tolerance:
                raise DeployError(
                    f'the exported graph differs from PyTorch at '
                    f'{(b, 3, h, w)}: max relative error {worst:.2e} > '
                    f'{tolerance:.0e}; nothing written')
        del session
    report['file'], report['size_mb'] = out, os.path.getsize(out) / 2**20
    return report
