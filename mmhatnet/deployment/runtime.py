# Copyright (c) mmhatnet contributors. All rights reserved.
"""Run an exported file in ONNX Runtime or OpenVINO, inside the library's
own inference and evaluation code."""
import json
import os.path as osp
from typing import List, Optional

import torch
from mmengine.model import BaseModel

from .export import (DeployError, _need, grid_sizes, model_task,
                     unflatten_outputs)

BACKENDS = ('onnxruntime', 'openvino')
PRECISIONS = ('fp32', 'bf16')


def read_metadata(path: str) -> dict:
    """The ``mmhatnet.*`` metadata that :func:`export_onnx` wrote into an
    ONNX file (keys without the prefix); refuses files without it."""
    onnx = _need('onnx')
    if not osp.isfile(path):
        raise DeployError(f'ONNX file {path!r} does not exist')
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 (not an ONNX file)
        raise DeployError(f'cannot read {path!r} as an ONNX file '
                          f'({type(e).__name__})') from None
    meta = {p.key[len('mmhatnet.'):]: json.loads(p.value)
            for p in proto.metadata_props if p.key.startswith('mmhatnet.')}
    if 'task' not in meta or 'structure' not in meta:
        raise DeployError(f'{path!r} was not written by '
                          f'tools/deployment/export.py (no mmhatnet metadata);'
                          f' export the model with it')
    return meta


def bf16_supported() -> bool:
    """Whether OpenVINO's CPU plugin can run bf16 here (AVX512-BF16 / AMX)."""
    ov = _need('openvino')
    caps = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    return 'BF16' in caps


class Runtime:
    """An exported ONNX file in ``backend`` (``'onnxruntime'`` or
    ``'openvino'``, CPU): ``runtime(inputs)`` maps the ``(B, 3, H, W)``
    network input to the list of the graph's outputs, as torch tensors.

    Args:
        path (str): The ONNX file.
        backend (str): ``'onnxruntime'`` (default) or ``'openvino'``.
        precision (str): ``'fp32'`` (default) or, OpenVINO only, ``'bf16'``:
            its ``INFERENCE_PRECISION_HINT`` (where the CPU has bf16; refused
            elsewhere).
        threads (int, optional): Threads of the runtime; None: its default.
    """

    def __init__(self, path: str, backend: str = 'onnxruntime',
                 precision: str = 'fp32', threads: Optional[int] = None):
        if backend not in BACKENDS:
            raise DeployError(f'backend {backend!r}: choose one of '
                              f'{BACKENDS}')
        if precision not in PRECISIONS:
            raise DeployError(f'precision {precision!r}: choose one of '
                              f'{PRECISIONS}')
        self.metadata = read_metadata(path)
        self.path, self.backend, self.precision = path, backend, precision
        if backend == 'onnxruntime':
            if precision != 'fp32':
                raise DeployError('ONNX Runtime runs the fp32 graph; bf16 is '
                                  'the OpenVINO backend\'s inference hint')
            ort = _need('onnxruntime')
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(
                path, options, providers=['CPUExecutionProvider'])
        else:
            ov = _need('openvino')
            core = ov.Core()
            if precision == 'bf16' and not bf16_supported():
                raise DeployError('this CPU has no bf16 support for OpenVINO '
                                  '(no AVX512-BF16/AMX); use fp32')
            config = {'INFERENCE_PRECISION_HINT':
                      'bf16' if precision == 'bf16' else 'f32'}
            if threads:
                config['INFERENCE_NUM_THREADS'] = threads
            self._compiled = core.compile_model(core.read_model(path), 'CPU',
                                                config)
            self._request = self._compiled.create_infer_request()

    def __call__(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        x = inputs.detach().float().cpu().contiguous().numpy()
        if self.backend == 'onnxruntime':
            outs = self._session.run(None, {'inputs': x})
        else:
            result = self._request.infer({0: x})
            outs = [result[o] for o in self._compiled.outputs]
        return [torch.from_numpy(o.copy()).to(inputs.device) for o in outs]

    def nested(self, inputs: torch.Tensor):
        """The outputs regrouped as the model's tensor forward returns them
        (lists for its tuples)."""
        return unflatten_outputs(self(inputs), self.metadata['structure'])


class DeployedModel(BaseModel):
    """A model of ours whose tensor forward runs in a :class:`Runtime`.

    ``test_step`` / ``forward(mode='predict')`` run the PyTorch model's data
    preprocessor, the runtime, then the library's own post-processing on the
    runtime's outputs: mmdet's ``bbox_head.predict_by_feat`` (decoding and
    NMS, boxes rescaled to the image), mmseg's ``predict`` (whole or slide
    inference, resize and argmax), mmpretrain's head predictions (softmax,
    top-k). So the library's test loop, metric, inference API and visualiser
    work on it as on the PyTorch model.

    Args:
        model: The PyTorch model of the config (its weights are not used:
            the graph holds them; its heads are used for post-processing).
        runtime (Runtime): The exported graph.
    """

    def __init__(self, model: torch.nn.Module, runtime: Runtime):
        meta = runtime.metadata
        task = meta['task']
        if task == 'backbone':
            raise DeployError(f'{runtime.path!r} holds a backbone only '
                              f'(--backbone-only): it has no head to predict '
                              f'with; export the whole model')
        if task == 'two_stage':
            raise DeployError(
                f'{runtime.path!r} holds the backbone, neck and RPN head of a '
                f'two-stage detector; its RoI stage (proposals by NMS, '
                f'RoIAlign) is not in the graph, so it cannot be evaluated '
                f'alone; evaluate the PyTorch checkpoint, or a single-stage '
                f'detector\'s ONNX file')
        own = model_task(model)
        if own != task:
            raise DeployError(f'{runtime.path!r} holds a {task} but the '
                              f'config builds a {own}; give the config it '
                              f'was exported from ({meta.get("config")})')
        super().__init__(data_preprocessor=None)
        self.data_preprocessor = model.data_preprocessor
        self.model, self.runtime, self.task = model, runtime, task
        self.cfg = getattr(model, 'cfg', None)
        self.dataset_meta = getattr(model, 'dataset_meta', None)
        if task == 'segmentor':
            # mmseg's predict (whole/slide inference, crop, resize) calls
            # encode_decode for the logits at the input size
            model.encode_decode = self._encode_decode

    def _encode_decode(self, inputs, batch_img_metas):
        logits, = self.runtime(inputs)
        return self.model.decode_head.predict_by_feat(logits, batch_img_metas)

    def forward(self, inputs, data_samples=None, mode='predict'):
        if mode == 'tensor':
            return self.runtime.nested(inputs)
        if mode != 'predict':
            raise DeployError(f'an exported model only predicts; mode '
                              f'{mode!r} needs the PyTorch model')
        model = self.model
        if self.task == 'segmentor':
            return model.predict(inputs, data_samples)
        if self.task == 'classifier':
            logits, = self.runtime(inputs)
            return model.head._get_predictions(logits, data_samples)
        cls_scores, bbox_preds = self.runtime.nested(inputs)
        metas = [s.metainfo for s in data_samples]
        results = model.bbox_head.predict_by_feat(
            cls_scores, bbox_preds, batch_img_metas=metas, rescale=True)
        return model.add_pred_to_datasample(data_samples, results)


def load_deployed(model: torch.nn.Module, path: str,
                  backend: str = 'onnxruntime', precision: str = 'fp32',
                  logger=None) -> DeployedModel:
    """``model`` (the PyTorch model of the config) with its tensor forward
    replaced by the ONNX file ``path`` run in ``backend``. Says (to
    ``logger``) which G1/G2 the file was exported with, and refuses a file
    whose G1/G2 differ from the model's (the config's) values."""
    runtime = Runtime(path, backend, precision)
    meta = runtime.metadata
    grids = grid_sizes(model)
    if [meta.get('g1'), meta.get('g2')] != [grids['g1'], grids['g2']]:
        raise DeployError(
            f'{path!r} was exported with G1={meta.get("g1")}, '
            f'G2={meta.get("g2")} but the config has G1={grids["g1"]}, '
            f'G2={grids["g2"]}; use the config it was exported from, or '
            f'set model.backbone.g1/g2 to its values')
    deployed = DeployedModel(model, runtime)
    if logger is not None:
        logger.info(f'evaluating {path} in {backend} ({precision}): a '
                    f'{meta["task"]} exported with G1={meta.get("g1")}, '
                    f'G2={meta.get("g2")}, '
                    f'{"any" if meta.get("dynamic") else "a fixed"} input '
                    f'size')
    return deployed
