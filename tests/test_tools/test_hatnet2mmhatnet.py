"""The converter tool writes the converted file once, safely."""
import os
import shutil
import subprocess
import sys

import torch

from mmhatnet.models import HATNet, convert_official_hatnet, load_state_dict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
TOOL = os.path.join(ROOT, 'tools', 'model_converters', 'hatnet2mmhatnet.py')


def run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_converted_file_loads_into_the_backbone(tmp_path, micro_arch,
                                                micro_checkpoint):
    out = run(micro_checkpoint, tmp_path / 'micro_converted.pth')
    assert out.returncode == 0, out.stderr
    assert os.listdir(tmp_path) == ['micro_converted.pth']  # no temp left
    model = HATNet(arch=micro_arch['arch'], init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'micro_converted.pth')))
    model.init_weights()
    expected = convert_official_hatnet(load_state_dict(micro_checkpoint))
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_with_head_gives_an_image_classifier_state_dict(tmp_path,
                                                        micro_checkpoint):
    out = run(micro_checkpoint, tmp_path / 'cls.pth', '--with-head')
    assert out.returncode == 0, out.stderr
    sd = load_state_dict(str(tmp_path / 'cls.pth'))
    official = load_state_dict(micro_checkpoint)
    assert torch.equal(sd['head.fc.weight'], official['classifier.1.weight'])
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in sd)


def test_refuses_to_overwrite_its_input(tmp_path, micro_checkpoint):
    src = tmp_path / 'official.pth'
    shutil.copy(micro_checkpoint, src)
    before = src.read_bytes()
    out = run(src, src)
    assert out.returncode != 0
    assert 'refusing to overwrite the input' in out.stderr
    assert src.read_bytes() == before
