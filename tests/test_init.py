"""``import mmhatnet`` (what every ``custom_imports`` runs) loads the model,
its registrations and the checkpoint allowlist, and no tool support: no
runner building, data checks, command-line helpers, deployment or analysis
code (mmhatnet.apis, utils.files, deployment, ...; the tools' own helpers live in
tools/mmhatnet_tools)."""
import subprocess
import sys

# every mmhatnet module `import mmhatnet` may load, and why
REGISTRATION = {
    'mmhatnet', 'mmhatnet.version',
    # the backbone, registered in mmengine's MODELS
    'mmhatnet.models', 'mmhatnet.models.backbones',
    'mmhatnet.models.backbones.hatnet',
    'mmhatnet.models.layers', 'mmhatnet.models.layers.attention',
    'mmhatnet.models.layers.block', 'mmhatnet.models.utils',
    'mmhatnet.models.utils.official_checkpoint',
    'mmhatnet.models.utils.state_dict', 'mmhatnet.models.utils.torch_compat',
    # the opt-ins: atomic checkpoints, PreemptionHook, the AMP wrapper and
    # its constructor
    'mmhatnet.engine', 'mmhatnet.engine.amp', 'mmhatnet.engine.atomic_io',
    'mmhatnet.engine.preemption',
    # the weights_only allowlist, mmhatnet:: bases, hatnet:// and the names
    # in mmpretrain's model hub
    'mmhatnet.utils', 'mmhatnet.utils.checkpoint_safety',
    'mmhatnet.utils.mim', 'mmhatnet.utils.model_hub',
}


def _loaded(code):
    out = subprocess.run(
        [sys.executable, '-c', code + '\nimport sys\nprint(sorted(m for m in '
         'sys.modules if m == "mmhatnet" or m.startswith("mmhatnet.")))'],
        capture_output=True, text=True, check=True)
    return set(eval(out.stdout.strip().splitlines()[-1]))


def test_import_mmhatnet_loads_only_what_registration_needs():
    assert _loaded('import mmhatnet') == REGISTRATION


def test_the_tools_seams_load_on_demand():
    loaded = _loaded('import mmhatnet.apis')
    assert 'mmhatnet.apis.runner' in loaded
