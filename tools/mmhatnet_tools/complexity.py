# Copyright (c) mmhatnet contributors. All rights reserved.
"""Parameters and FLOPs of a model config, in two conventions.

* **paper** -- mmcv's module-hook counter (``mmcv.cnn.
  get_model_complexity_info``), the counter of the mmdet 2.x / mmseg 0.x
  ``get_flops`` tools the paper's tables were made with. It counts what
  ``nn.Module`` s do (convs, linears, norms, pools, ReLUs) and nothing that is
  a plain function call, so the attention products ``Q K^T`` and ``A V``
  (``F.scaled_dot_product_attention``) are **left out**, as are
  ``F.interpolate``, SiLU and RoIAlign. With it our ImageNet classifiers give
  Table 2's FLOPs. (Our G2 pooling is ``F.avg_pool2d`` where the released
  code has an ``nn.AvgPool2d``, which mmcv counts: a few MFLOPs, e.g. 0.8 M
  for Tiny at 224x224.)
* **complete** -- mmengine's fvcore-style ``FlopAnalyzer`` (what mmengine's
  ``get_model_complexity_info`` and the mmdet 3.x / mmseg 1.x ``get_flops``
  tools use), which traces the graph. It does not know
  ``aten::scaled_dot_product_attention`` (it lists it as unsupported and
  counts 0), so we add a handle: ``B*heads*Lq*Lk*d`` for ``Q K^T`` plus
  ``B*heads*Lq*Lk*d_v`` for ``A V``.

Both count one multiply-add as one FLOP (the convention of both counters and
of the paper's "FLOPs"), so the attention handle counts MACs too; multiply
it by two for "2 FLOPs per MAC".

What is counted is the network forward without pre/post-processing, as the
OpenMMLab ``get_flops`` tools do: the classifier's backbone + neck + head
(``mode='tensor'``), the segmentor's backbone + neck + decode head
(``_forward``), the single-stage detector's backbone + neck + head
(``_forward``). For a two-stage detector the RoI head runs on a fixed
set of :data:`NUM_DUMMY_PROPOSALS` proposals (box head on all of them, mask
head on the first 100), as mmdet 2.x's ``forward_dummy`` did for the paper's
era of tables; mmdet 3.x's ``_forward`` would run the RPN's NMS on random
weights instead, and the count would depend on how many boxes survive it.
"""
import os.path as osp
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from torch import Tensor

# input (H, W) each kind of model is counted at unless told otherwise: the
# sizes of the paper's Tables 2, 3 and 4
DEFAULT_SHAPES = {
    'mmpretrain': (224, 224),
    'mmseg': (512, 512),
    'mmdet': (800, 1280),
}
NUM_DUMMY_PROPOSALS = 1000  # mmdet 2.x forward_dummy; the mask head sees 100

# how jit traces scaled_dot_product_attention, depending on the backend
SDPA_OPS = (
    'aten::scaled_dot_product_attention',
    'aten::_scaled_dot_product_attention_math',
    'aten::_scaled_dot_product_flash_attention',
    'aten::_scaled_dot_product_flash_attention_for_cpu',
    'aten::_scaled_dot_product_efficient_attention',
    'aten::_scaled_dot_product_cudnn_attention',
)


# ---------------------------------------------------------------- configs
def load_model_config(config: str,
                      cfg_options: Optional[dict] = None) -> Config:
    """Read ``config`` (with ``cfg_options`` merged in) and check that it
    describes a model we can build.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a model config (no ``model`` dict with a
            ``type``), or its ``default_scope`` is not one of mmpretrain,
            mmseg or mmdet (which says which library builds the model).
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config!r} does not exist')
    from mmhatnet.apis.model import read_model_config
    return read_model_config(config, cfg_options)


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` with its library's registry, without loading any
    weights (the backbone's ``init_cfg`` is dropped and ``init_weights`` is
    never called), SyncBN turned into BN, in eval mode."""
    from mmengine.logging import MMLogger
    from mmengine.model import revert_sync_batchnorm

    from mmhatnet.apis.model import build_config_model

    # builders log at INFO (e.g. mmpretrain's batch augments): keep it quiet
    name = 'mmhatnet_tools.complexity'
    if not MMLogger.check_instance_created(name):
        MMLogger.get_instance(name, log_level='WARNING')

    model = build_config_model(cfg)
    return revert_sync_batchnorm(model).eval()


def default_shape(cfg: Config, config: Optional[str] = None
                  ) -> Tuple[int, int]:
    """The input (H, W) of the paper's table row ``config`` reproduces, else
    the table size of the config's kind of model."""
    from .zoo import row_for_config
    if config is not None:
        row = row_for_config(config)
        if row is not None and row.input_size is not None:
            return row.input_size
    return DEFAULT_SHAPES[cfg.default_scope]


# ---------------------------------------------------------- the forward
class TensorForward(nn.Module):
    """The model's network forward as a ``Tensor -> tuple of Tensors``
    module, so that both counters can run it (see the module docstring): the
    graph that deployment exports (``mmhatnet.deployment.export``), with a
    two-stage detector's RoI head run on fixed dummy proposals after it."""

    def __init__(self, model: nn.Module, scope: str):
        super().__init__()
        from mmhatnet.deployment.export import TensorForward as Graph
        from mmhatnet.deployment.export import model_task
        self.graph = Graph(model, model_task(model))
        # drawn here, not in forward: torch 2.1's JIT tracer (the FLOP
        # counters trace forward) refuses a torch.Generator argument
        gen = torch.Generator().manual_seed(0)
        self.unit_boxes = [torch.rand(NUM_DUMMY_PROPOSALS, 2, generator=gen)
                           for _ in range(2)]

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        if self.graph.task != 'two_stage':
            return self.graph(inputs)
        from mmengine.structures import InstanceData
        feats, rpn_outs = self.graph.nested(inputs)
        proposals = dummy_proposals(inputs.shape[-2], inputs.shape[-1],
                                    *self.unit_boxes).to(inputs)
        rois = [InstanceData(bboxes=proposals)] * inputs.shape[0]
        roi_outs = self.graph.model.roi_head.forward(tuple(feats), rois)
        return tuple(_flatten((rpn_outs, roi_outs)))


def dummy_proposals(height: int, width: int, unit_xy: Tensor,
                    unit_wh: Tensor) -> Tensor:
    """Fixed boxes (x1, y1, x2, y2) inside a ``height x width`` image, of
    all sizes (so that they spread over the FPN levels), from corners and
    sizes ``(num, 2)`` drawn uniformly in [0, 1)."""
    xy = unit_xy * torch.tensor([width, height])
    wh = unit_wh * torch.tensor([width, height])
    x1y1 = torch.minimum(xy, torch.tensor([width, height]) - wh)
    return torch.cat([x1y1, x1y1 + wh], dim=1)


def _flatten(out: Any) -> List[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flatten(o)]
    return []


# ------------------------------------------------------------- counting
def count_parameters(model: nn.Module) -> int:
    """Every parameter of the model (trainable or frozen)."""
    return sum(p.numel() for p in model.parameters())


def _input(shape: Sequence[int]) -> Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, *shape, generator=gen)


def paper_flops(forward: TensorForward, shape: Sequence[int]) -> int:
    """FLOPs (multiply-adds) as the paper counted them: mmcv's module-hook
    counter, which leaves the attention matmuls out."""
    from mmcv.cnn import get_model_complexity_info
    with torch.no_grad():
        flops, _ = get_model_complexity_info(
            forward, (3, *shape), print_per_layer_stat=False,
            as_strings=False,
            input_constructor=lambda s: dict(inputs=_input(s[1:])))
    return int(flops)


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs (multiply-adds) of ``scaled_dot_product_attention(q, k, v)``:
    ``Q K^T`` is ``N*Lq*Lk*E`` and ``A V`` is ``N*Lq*Lk*Ev``, with ``N`` the
    product of the leading (batch, head, window) dims. Softmax, scaling and
    masking are not counted (as fvcore counts no elementwise op)."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(inputs[i]) for i in range(3))
    *lead, lq, e = q
    lk, ev = k[-2], v[-1]
    n = 1
    for d in lead:
        n *= d
    return n * lq * lk * (e + ev)


def complete_flops(forward: TensorForward, shape: Sequence[int]
                   ) -> Tuple[int, Counter, Counter]:
    """FLOPs (multiply-adds) with mmengine's tracing ``FlopAnalyzer`` plus
    our handle for scaled dot-product attention.

    Returns:
        tuple: total, FLOPs by operator, and the operators the analyzer saw
        but does not count (elementwise ops, pooling, RoIAlign, ...).
    """
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(forward, (_input(shape), ))
    analyzer.set_op_handle(**{op: sdpa_flop_jit for op in SDPA_OPS})
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad():
        total = analyzer.total()
    return total, analyzer.by_operator(), analyzer.unsupported_ops()


def both_flops(forward: TensorForward, shape: Sequence[int]
               ) -> Tuple[int, int, Counter, Counter]:
    """:func:`paper_flops` and :func:`complete_flops` from one forward pass:
    mmcv's hooks count while mmengine's analyzer traces (the forward is what
    takes the time: a detector at 800x1280 runs for tens of seconds on a
    CPU).

    Returns:
        tuple: paper-convention FLOPs, then what :func:`complete_flops`
        returns.
    """
    from mmcv.cnn.utils.flops_counter import add_flops_counting_methods
    counter = add_flops_counting_methods(forward)
    counter.eval()
    counter.start_flops_count()
    try:
        total, by_op, uncounted = complete_flops(forward, shape)
        paper, _ = counter.compute_average_flops_cost()
    finally:
        counter.stop_flops_count()
    return int(paper), total, by_op, uncounted


def complexity(config: str,
               shape: Optional[Sequence[int]] = None,
               flops: bool = True,
               cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """Parameters and FLOPs (both conventions) of ``config``'s model.

    Args:
        config (str): Path of a model config.
        shape (Sequence[int], optional): Input (H, W), or (S,) for S x S.
            Defaults to the input size of the paper's table for one of our 16
            configs, else 224x224 / 512x512 / 800x1280 for a classifier /
            segmentor / detector.
        flops (bool): Count FLOPs (slow for detectors at 800x1280); with
            False only the parameters are counted.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        dict: ``params``; with ``flops``: ``shape``, ``paper_flops``,
        ``complete_flops``, ``attention_flops`` (the part of the complete
        count that is scaled dot-product attention), ``by_operator`` and
        ``uncounted_ops``.
    """
    cfg = load_model_config(config, cfg_options)
    model = build_model(cfg)
    result: Dict[str, Any] = dict(params=count_parameters(model))
    if not flops:
        return result
    if shape is None:
        shape = default_shape(cfg, config)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        shape = shape * 2
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f'shape must be H [W] with positive ints, got '
                         f'{shape}')
    forward = TensorForward(model, cfg.default_scope).eval()
    paper, total, by_op, uncounted = both_flops(forward, shape)
    attention = sum(v for k, v in by_op.items()
                    if 'scaled_dot_product' in k)
    result.update(
        shape=shape,
        paper_flops=paper,
        complete_flops=total,
        attention_flops=attention,
        by_operator=dict(by_op),
        uncounted_ops=dict(uncounted))
    return result
