import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

version = {}
with open('mmhatnet/version.py') as f:
    exec(f.read(), version)

# What an install carries under mmhatnet/.mim/, as mmdet/mmpretrain do:
# `mim train/test/run mmhatnet ...` run these tools, and mmengine resolves
# `_base_ = 'mmhatnet::<folder>/<config>.py'` against .mim/configs/ (with
# .mim/model-index.yml). The scripts that manage a clone stay out of a
# regular install.
MIM_FILES = ('configs', 'tools', 'model-index.yml')
MIM_SKIP = ('install.sh', 'run_tests.sh', 'run_main_job.sh', '__pycache__')
# mmengine accepts `pkg::` paths only with a folder level ('mmhatnet::x.py'
# is refused), so every config of configs/ is also reachable as
# <folder>/<name>.py through a one-line file that inherits it.
MIM_FOLDERS = (('retinanet_', 'retinanet'), ('mask_rcnn_', 'mask_rcnn'),
               ('fpn_', 'fpn'), ('hatnet_', 'hatnet'))


def mim_folder(name):
    """The folder under which .mim/configs/ offers configs/<name>."""
    for prefix, folder in MIM_FOLDERS:
        if name.startswith(prefix):
            return folder
    raise ValueError(f'configs/{name}: no folder for it in MIM_FOLDERS '
                     f'of setup.py; add one')


def link_or_copy(src, dst):
    """A relative symlink dst -> src; a copy where the system has none."""
    try:
        os.symlink(osp.relpath(src, osp.dirname(dst)), dst)
    except (OSError, NotImplementedError):
        if osp.isdir(src):
            shutil.copytree(src, dst,
                            ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)


def write_mim(root, mim, link):
    """Fill the folder ``mim`` with configs/, tools/ and model-index.yml of
    the clone ``root``, plus a <folder>/<name>.py alias of each config of
    configs/. ``link``: symlinks to the clone (an editable install, so that
    edits show, as mmdet's setup.py does in develop mode), else copies."""
    os.makedirs(mim)
    configs = osp.join(mim, 'configs')
    if link:
        for name in ('tools', 'model-index.yml'):
            link_or_copy(osp.join(root, name), osp.join(mim, name))
        os.makedirs(configs)
        for name in sorted(os.listdir(osp.join(root, 'configs'))):
            if name != '__pycache__':
                link_or_copy(osp.join(root, 'configs', name),
                             osp.join(configs, name))
    else:
        for name in MIM_FILES:
            src, dst = osp.join(root, name), osp.join(mim, name)
            if osp.isdir(src):
                shutil.copytree(src, dst,
                                ignore=shutil.ignore_patterns(*MIM_SKIP))
            else:
                shutil.copyfile(src, dst)
    for name in sorted(os.listdir(osp.join(root, 'configs'))):
        if not name.endswith('.py'):
            continue
        folder = osp.join(configs, mim_folder(name))
        os.makedirs(folder, exist_ok=True)
        with open(osp.join(folder, name), 'w') as f:
            f.write(f"# configs/{name} of mmhatnet, here so that it can "
                    f"be inherited as\n# 'mmhatnet::{mim_folder(name)}/"
                    f"{name}' (mmengine wants a folder level)\n"
                    f"_base_ = '../{name}'\n")


class BuildPyWithMim(build_py):
    """build_py that also writes the package's .mim/: copies into the built
    package (the wheel, `pip install .`), or, for an editable install
    (`pip install -e .`, tools/install.sh), links in the clone's own
    mmhatnet/.mim/ (git ignores it), where mmengine finds the configs of
    the package it imports (mmhatnet.utils.mim.register_mmhatnet_scope)."""

    def run(self):
        super().run()
        root = osp.dirname(osp.abspath(__file__))
        editable = getattr(self, 'editable_mode', False)
        mim = osp.join(root if editable else self.build_lib, 'mmhatnet',
                       '.mim')
        # written beside, then swapped in: a process reading the old .mim
        # (a test lane beside) never finds it half-written
        fresh = f'{mim}.new-{os.getpid()}'
        shutil.rmtree(fresh, ignore_errors=True)
        write_mim(root, fresh, link=editable)
        if osp.lexists(mim):
            old = f'{mim}.old-{os.getpid()}'
            os.rename(mim, old)
            os.rename(fresh, mim)
            shutil.rmtree(old)
        else:
            os.rename(fresh, mim)


setup(
    name='mmhatnet',
    version=version['__version__'],
    description='HAT-Net (Vision Transformers with Hierarchical Attention) '
    'as an OpenMMLab backbone plugin',
    long_description=(open('README.md').read()
                      if osp.exists('README.md') else ''),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmhatnet', 'mmhatnet.*']),
    cmdclass={'build_py': BuildPyWithMim},
    # what `import mmhatnet` needs, with the bounds the test lanes prove
    # (docs/development.md): torch 2.1 to the newest, mmengine 0.10. mmcv
    # is needed too (the backbone uses its DropPath), but its distribution
    # is the user's choice, as with mmdet: `mmcv` built with its ops, or
    # `mmcv-lite` (enough for the backbone), both >=2.0.0,<2.2.0 (mmdet 3.3
    # refuses 2.2); it is in the `mim` extra, as mmdet declares it, so that
    # `pip install -e .` never replaces an environment's mmcv or torch.
    python_requires='>=3.10',
    install_requires=['torch>=2.1', 'mmengine>=0.10.0,<1.0.0'],
    extras_require={
        'mim': ['mmengine>=0.10.0,<1.0.0', 'mmcv>=2.0.0,<2.2.0'],
        'det': ['mmdet>=3.0.0,<3.4.0'],
        'seg': ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.0.0,<1.3.0'],
        'tests': ['pytest'],
    },
    license='MIT',
    zip_safe=False,
)
