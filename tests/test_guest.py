"""A plugin that adds and never replaces: in a process that has loaded
mmengine, mmdet, mmseg and mmpretrain, ``import mmhatnet`` and a HAT-Net
forward leave every entry those libraries registered the same object
(additions allowed), install no import finder and no global module hook."""
import json
import subprocess
import sys

SNAPSHOT = r'''
import json, sys
import torch
import mmengine.registry as root
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.fileio.backends import registry_utils as fileio
from mmengine.runner.checkpoint import CheckpointLoader

registries = {}
for lib in ('mmdet', 'mmseg', 'mmpretrain'):
    __import__(f'{lib}.utils', fromlist=['register_all_modules']
               ).register_all_modules(init_default_scope=False)
    reg = __import__(f'{lib}.registry', fromlist=['MODELS'])
    for name in ('MODELS', 'HOOKS', 'OPTIM_WRAPPERS',
                 'OPTIM_WRAPPER_CONSTRUCTORS'):
        registries[f'{lib}.{name}'] = getattr(reg, name)
for name in ('MODELS', 'HOOKS', 'OPTIM_WRAPPERS',
             'OPTIM_WRAPPER_CONSTRUCTORS'):
    registries[f'mmengine.{name}'] = getattr(root, name)

import torch.nn.modules.module as nn_module
GLOBAL_HOOKS = [n for n in dir(nn_module) if n.startswith('_global_')
                and isinstance(getattr(nn_module, n), dict)]


def snapshot():
    tables = {name: dict(r._module_dict) for name, r in registries.items()}
    tables['file backends'] = dict(fileio.backends)
    tables['file backend prefixes'] = dict(fileio.prefix_to_backends)
    tables['checkpoint schemes'] = dict(CheckpointLoader._schemes)
    tables['mim packages'] = dict(MODULE2PACKAGE)
    tables['sys.meta_path'] = {str(i): f for i, f in enumerate(sys.meta_path)}
    for name in GLOBAL_HOOKS:
        tables[f'torch {name}'] = dict(getattr(nn_module, name))
    return tables


before = snapshot()
import mmhatnet
from mmhatnet.models import HATNet
HATNet(arch='tiny')(torch.rand(1, 3, 67, 45))
after = snapshot()
changed = {t: sorted(k for k in before[t]
                     if k not in after[t] or after[t][k] is not before[t][k])
           for t in before}
added = {t: sorted(str(k) for k in after[t] if k not in before[t])
         for t in before}
print(json.dumps(dict(changed=changed, added=added,
                      sizes={t: len(v) for t, v in before.items()})))
'''


def test_import_and_forward_replace_nothing_the_host_registered():
    out = subprocess.run([sys.executable, '-c', SNAPSHOT],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # the snapshot saw what the libraries registered
    assert result['sizes']['mmdet.MODELS'] > 100
    assert result['sizes']['mmengine.HOOKS'] > 10
    assert result['sizes']['checkpoint schemes'] >= 5
    changed = {t: keys for t, keys in result['changed'].items() if keys}
    assert changed == {}
    added = result['added']
    # what mmhatnet adds, and nothing anywhere else
    assert added['mmengine.MODELS'] == ['HATNet']
    assert added['mmengine.HOOKS'] == [
        'AtomicCheckpointHook', 'FeatureAutocastHook', 'PreemptionHook']
    assert added['mmengine.OPTIM_WRAPPERS'] == ['MixedPrecisionOptimWrapper']
    assert added['mmengine.OPTIM_WRAPPER_CONSTRUCTORS'] == [
        'MixedPrecisionOptimWrapperConstructor']
    assert added['file backends'] == ['atomic_local']
    assert added['checkpoint schemes'] == ['hatnet://']
    assert added['mim packages'] == ['mmhatnet']
    for table in ('sys.meta_path', 'file backend prefixes'):
        assert added[table] == [], table
    for table, keys in added.items():
        if table.startswith(('torch ', 'mmdet.', 'mmseg.', 'mmpretrain.')):
            assert keys == [], table
