# Copyright (c) mmhatnet contributors. All rights reserved.
"""Deployment: export mmhatnet models to ONNX and run the exported file in
ONNX Runtime or OpenVINO with the library's own post-processing.

Not imported by ``import mmhatnet``: it needs onnx, onnxruntime, onnxscript
(and openvino for that backend), which only the deployment tools use; each is
imported when first needed, with an install hint if it is missing.

* :func:`build_model` - the model of a config with a checkpoint loaded;
* :func:`export_onnx` - the model's tensor forward (or its backbone) to an
  ONNX file, static or for every input size, verified with ONNX Runtime
  against PyTorch before it is written;
* :class:`Runtime` - an exported file in ONNX Runtime or OpenVINO;
* :class:`DeployedModel` - an mmengine model whose tensor forward is a
  :class:`Runtime` and whose post-processing (box decoding and NMS, resize
  and argmax, top-k) is the library's, so that the library's test loop,
  metric, inference API and visualiser run on the exported file.
"""
from .export import (DeployError, TensorForward, build_model, export_onnx,
                     flatten_outputs, unflatten_outputs)
from .runtime import (BACKENDS, DeployedModel, Runtime, load_deployed,
                      read_metadata)

__all__ = [
    'BACKENDS', 'DeployError', 'DeployedModel', 'Runtime', 'TensorForward',
    'build_model', 'export_onnx', 'flatten_outputs', 'load_deployed',
    'read_metadata', 'unflatten_outputs'
]
