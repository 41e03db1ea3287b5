"""What tests in every folder share: the repository root and the tools as
modules. (``tests/`` is on ``sys.path``: pytest puts the folder of the
top-level conftest.py there.) Like every tool script, it puts ``tools/`` on
``sys.path``, for the tools' own package ``mmhatnet_tools``."""
import importlib.util
import os.path as osp
import sys

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
