"""What tests in every folder share: the repository root and the tools as
modules. (``tests/`` is on ``sys.path``: pytest puts the folder of the
top-level conftest.py there.) Like every tool script, it puts ``tools/`` on
``sys.path``, for the tools' own package ``mmhatnet_tools``."""
import importlib.util
import os
import os.path as osp
import sys
import warnings

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
sys.path.insert(0, TOOLS)


def load_tool(path: str):
    """The tool script ``tools/<path>`` (e.g. ``'demo.py'``,
    ``'analysis/benchmark.py'``) imported as a fresh module, so that a test
    calls its ``main(argv)`` and functions in this process."""
    name = 'mmhatnet_tool_' + osp.splitext(path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, osp.join(TOOLS, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_tree(root) -> dict:
    """{relative path: bytes} of every file under ``root``: what a tool
    wrote, to compare two runs byte for byte."""
    tree = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                tree[osp.relpath(path, root)] = f.read()
    return tree


# ------------------------------------------------- what this torch can do
# Tests of a feature that an older supported torch lacks skip with the
# reason (docs/development.md lists them per lane); everything else runs.
TORCH_VERSION = tuple(
    int(p) for p in torch.__version__.split('+')[0].split('.')[:2])

#: torch.compile (dynamo + inductor) of H-MHSA as one graph, equal to eager:
#: torch 2.1.2's dynamo breaks the graph on bool() of a symbolic size and
#: its inductor gives SDPA's output other strides than it asserts
requires_compile = pytest.mark.skipif(
    TORCH_VERSION < (2, 14), reason=f'torch.compile of the attention needs '
    f'a newer torch than {torch.__version__} (passes on 2.14.1)')


def skip_module_without_onnx_export() -> None:
    """Skip the calling test module where the ONNX export cannot run: torch
    before 2.6 (no ``torch.onnx.export(dynamo=True)``), or a lane without
    the deployment packages (onnx, onnxruntime, onnxscript)."""
    if TORCH_VERSION < (2, 6):
        pytest.skip(f'the ONNX export needs torch >= 2.6, not '
                    f'{torch.__version__}', allow_module_level=True)
    for name in ('onnx', 'onnxruntime', 'onnxscript'):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f'{name} is not installed in this lane',
                        allow_module_level=True)


def skip_without_cpu_autocast(dtype) -> None:
    """Skip the calling test when this torch has no CPU autocast to
    ``dtype`` (torch 2.1 has bf16 only; fp16 came later)."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        try:
            with torch.autocast('cpu', dtype=dtype):
                got = torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype
        except RuntimeError:
            got = None
    if got != dtype:
        pytest.skip(f'{dtype} autocast on a CPU needs a newer torch than '
                    f'{torch.__version__}')
