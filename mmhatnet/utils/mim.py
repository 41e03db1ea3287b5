# Copyright (c) mmhatnet contributors. All rights reserved.
"""``mmhatnet::`` config paths and the files an install carries.

An install holds ``configs/``, ``tools/`` and ``model-index.yml`` under
``mmhatnet/.mim/`` as mmdet does (copies; links to the clone if editable);
``import mmhatnet`` adds itself to mmengine's ``MODULE2PACKAGE`` table so
that ``_base_ = 'mmhatnet::folder/x.py'`` resolves in a process that
imported it before reading the config (ours; not the libraries' own
``tools/train.py``, which read the bases before ``custom_imports``).
mmengine stamps ``_scope_='mmhatnet'`` on a base's outer dicts; we have no
registries, so :func:`resolve_mmhatnet_scopes` gives them the config's
``default_scope`` back.
"""
import ast
import os.path as osp
from typing import Optional

from mmengine.config import Config

SCOPE = 'mmhatnet'
# the folder of each config of configs/ under .mim/configs/ (setup.py makes
# them: mmengine wants a folder level in 'pkg::folder/name.py')
FOLDERS = ('retinanet', 'mask_rcnn', 'fpn', 'hatnet', 'toy', 'finetune',
           'crowns', 'fashion_mnist')


class ConfigPathError(ValueError):
    """A config (or one of its ``mmhatnet::`` bases) cannot be read; the
    message says why and what to run instead."""


class ConfigSyntaxError(ConfigPathError):
    """A config, or one of its bases, is not valid Python (file, line)."""


def register_mmhatnet_scope() -> None:
    """Let mmengine resolve ``mmhatnet::`` config paths. A module, not the
    distribution: mmengine would look beside the dist-info (site-packages
    for an editable install); for a module, importlib names the folder of
    the package imported, and mmengine finds its ``.mim/`` there."""
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE.setdefault(SCOPE, 'mmhatnet.version')


def package_root() -> str:
    """The folder of the ``mmhatnet`` package being imported."""
    return osp.dirname(osp.dirname(osp.abspath(__file__)))


def mim_root() -> Optional[str]:
    """Where ``configs/``, ``tools/`` and ``model-index.yml`` are: the
    package's ``.mim/`` if installed, else its checkout, else ``None``."""
    pkg = package_root()
    for root in (osp.join(pkg, '.mim'), osp.dirname(pkg)):
        if osp.isfile(osp.join(root, 'model-index.yml')) and osp.isdir(
                osp.join(root, 'configs')):
            return root
    return None


def resolve_mmhatnet_scopes(cfg: Config) -> int:
    """Replace every ``_scope_='mmhatnet'`` in ``cfg`` by its
    ``default_scope`` (mmdet, mmseg or mmpretrain), in place.

    Returns:
        int: how many dicts were changed.
    """
    scope = cfg.get('default_scope')
    if scope is None or scope == SCOPE:
        return 0

    def fix(node) -> int:
        n = 0
        if isinstance(node, dict):
            if node.get('_scope_') == SCOPE:
                node['_scope_'] = scope
                n += 1
            for value in node.values():
                n += fix(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                n += fix(value)
        return n

    return sum(fix(cfg[key]) for key in list(cfg.keys()))


def _uses_mmhatnet_bases(path: str) -> bool:
    try:
        with open(path, encoding='utf-8') as f:
            return f'{SCOPE}::' in f.read()
    except OSError:
        return False


def read_config(path: str) -> Config:
    """``Config.fromfile(path)`` with the ``mmhatnet::`` scopes resolved and
    a :class:`ConfigPathError` that says what to do when a ``mmhatnet::``
    base cannot be found."""
    register_mmhatnet_scope()
    if not osp.isfile(path):
        raise ConfigPathError(f'config {path!r} does not exist')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as e:  # in the file or one of its bases
        raise ConfigSyntaxError(_explain_syntax_error(path, e)) from None
    except (ValueError, FileNotFoundError, AssertionError) as e:
        if not _uses_mmhatnet_bases(path):
            raise
        raise ConfigPathError(_explain_base_error(path, e)) from None
    resolve_mmhatnet_scopes(cfg)
    return cfg


def _syntax_error_in(path: str, seen=()):
    """``(file, SyntaxError)`` of the first file among ``path`` and its local
    ``_base_`` files that is not valid Python, or None."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
    except SyntaxError as e:
        return path, e
    except OSError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                base = osp.normpath(osp.join(osp.dirname(path), base))
                if '::' not in base and base not in seen:
                    found = _syntax_error_in(base, (*seen, path))
                    if found:
                        return found
    return None


def _explain_syntax_error(path: str, e: SyntaxError) -> str:
    """"<file>, line <n>: <what>" for a config, or one of its bases, that is
    not valid Python (mmengine's error names neither for a base)."""
    where, e = _syntax_error_in(path) or (path, e)
    line = f', line {e.lineno}' if e.lineno else ''
    code = f' ({e.text.strip()})' if e.text else ''
    return (f'{where}{line}: {e.msg}{code}; the config is not valid '
            f'Python, fix it there')


def _explain_base_error(path: str, e: Exception) -> str:
    example = "'mmhatnet::retinanet/retinanet_hatnet_small.py'"
    if 'relative config path' in str(e):
        return (f'{path}: a mmhatnet:: base needs a folder, e.g. {example} '
                f'(folders: {", ".join(FOLDERS)})')
    if not osp.isdir(osp.join(package_root(), '.mim')):
        clone = osp.dirname(package_root())
        return (f'{path}: mmhatnet:: bases need the configs that an '
                f'install writes in mmhatnet/.mim/, and this mmhatnet '
                f'({package_root()}) is a checkout without them. Install it '
                f'(pip install -e {clone}), or inherit the file by its path '
                f"(_base_ = '{clone}/configs/retinanet_hatnet_small.py')")
    first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    return (f'{path}: a mmhatnet:: base cannot be read ({first}); the '
            f'configs are those of configs/ under a folder, e.g. {example} '
            f'(folders: {", ".join(FOLDERS)}); see '
            f'{osp.join(package_root(), ".mim", "configs")}')
