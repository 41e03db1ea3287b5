# Copyright (c) mmhatnet contributors. All rights reserved.
"""Deployment: export models to ONNX (:func:`export_onnx`: the tensor
forward or the backbone, static or for every size, checked in ONNX Runtime
against PyTorch before it is written) and run the file in ONNX Runtime or
OpenVINO (:class:`Runtime`), with the library's own post-processing
(:class:`DeployedModel`, :func:`load_deployed`). Not imported by ``import
mmhatnet``: onnx, onnxruntime, onnxscript, openvino are imported when first
needed, with an install hint if missing."""
from .export import (DeployError, TensorForward, build_model, export_onnx,
                     flatten_outputs, unflatten_outputs)
from .runtime import (BACKENDS, DeployedModel, Runtime, load_deployed,
                      read_metadata)

__all__ = ['BACKENDS', 'DeployError', 'DeployedModel', 'Runtime',
           'TensorForward', 'build_model', 'export_onnx', 'flatten_outputs',
           'load_deployed', 'read_metadata', 'unflatten_outputs']
