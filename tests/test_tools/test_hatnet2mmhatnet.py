"""The converter tool writes the converted file once, safely, and says
clearly why when it cannot."""
import os
import shutil
import subprocess
import sys

import torch
from common import ROOT, load_tool

from mmhatnet.models import HATNet, convert_official_hatnet, load_state_dict

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


# ------------------------------------------------------ failures, in detail
def _converter():
    return load_tool('model_converters/hatnet2mmhatnet.py')


def test_refuses_to_overwrite_its_input_through_a_link(tmp_path,
                                                       micro_checkpoint):
    src = tmp_path / 'official.pth'
    shutil.copy(micro_checkpoint, src)
    link = tmp_path / 'link.pth'
    link.symlink_to(src)
    before = src.read_bytes()
    out = run(src, link)
    assert out.returncode != 0
    assert f"refusing to overwrite the input '{src}'" in out.stderr
    assert src.read_bytes() == before


def test_missing_output_folder(tmp_path, micro_checkpoint):
    dst = tmp_path / 'no' / 'such' / 'out.pth'
    out = run(micro_checkpoint, dst)
    assert out.returncode != 0
    assert (f"error: the output folder '{dst.parent}' does not exist (or is "
            f"not a folder); create it or choose another path") in out.stderr
    assert os.listdir(tmp_path) == []


def test_output_is_a_folder(tmp_path, micro_checkpoint):
    (tmp_path / 'dir.pth').mkdir()
    out = run(micro_checkpoint, tmp_path / 'dir.pth')
    assert out.returncode != 0
    assert f"error: the output '{tmp_path / 'dir.pth'}' is a folder" in \
        out.stderr
    assert os.listdir(tmp_path / 'dir.pth') == []


def test_output_folder_not_writable(tmp_path, micro_checkpoint, monkeypatch,
                                    cli_error):
    folder = tmp_path / 'readonly'
    folder.mkdir()
    folder.chmod(0o555)
    tool = _converter()
    if os.geteuid() == 0:  # root writes anywhere: let the OS say no
        real_access = os.access
        monkeypatch.setattr(
            tool.os, 'access', lambda path, mode: False
            if os.path.abspath(path) == str(folder) and mode & os.W_OK else
            real_access(path, mode))
    try:
        assert cli_error(tool.main, [micro_checkpoint,
                                     str(folder / 'out.pth')]) == (
            f"error: the output folder '{folder}' is not writable; fix its "
            f"permissions or choose another path")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_missing_or_broken_input(tmp_path):
    out = run(tmp_path / 'nope.pth', tmp_path / 'out.pth')
    assert out.returncode != 0
    assert (f"error: the input '{tmp_path / 'nope.pth'}' does not exist; give "
            f"the path (or URL) of an official HAT-Net checkpoint") in \
        out.stderr
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'PK\x03\x04 truncated download')
    out = run(broken, tmp_path / 'out.pth')
    assert out.returncode != 0
    assert f"error: could not read '{broken}' as a PyTorch checkpoint" in \
        out.stderr
    assert 'Traceback' not in out.stderr
    assert sorted(os.listdir(tmp_path)) == ['broken.pth']


def test_not_an_official_checkpoint(tmp_path):
    ours = tmp_path / 'ours.pth'
    torch.save({'stem.conv1.weight': torch.zeros(1)}, ours)
    out = run(ours, tmp_path / 'out.pth')
    assert out.returncode != 0
    assert (f"error: '{ours}' is not an official HAT-Net checkpoint (no "
            f"patch_embed.* / blocks.* keys); nothing to convert") in \
        out.stderr
    assert sorted(os.listdir(tmp_path)) == ['ours.pth']


def test_failed_write_leaves_no_temp_and_keeps_the_old_output(
        tmp_path, micro_checkpoint, monkeypatch, cli_error):
    """torch.save dies half-way (disk full): the temp file it was writing is
    removed and the output from before is untouched."""
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'the previous conversion')
    tool = _converter()
    written = []

    def save_then_fail(obj, path):
        with open(path, 'wb') as f:
            f.write(b'PK\x03\x04 half a zip')
        written.append(path)
        raise RuntimeError('[enforce fail at inline_container.cc:603] . '
                           'PytorchStreamWriter failed writing file')

    monkeypatch.setattr(tool.torch, 'save', save_then_fail)
    message = cli_error(tool.main, [micro_checkpoint, str(dst)])
    assert message.startswith(f"error: cannot write '{dst}' (RuntimeError: ")
    assert 'PytorchStreamWriter failed writing file' in message
    assert message.endswith(
        f"; the existing '{dst}' is unchanged; check the free space and "
        f"permissions of '{tmp_path}'")
    assert len(written) == 1 and os.path.dirname(written[0]) == str(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ['out.pth']  # temp file removed
    assert dst.read_bytes() == b'the previous conversion'


def test_failed_write_without_an_old_output(tmp_path, micro_checkpoint,
                                            monkeypatch, cli_error):
    tool = _converter()

    def fail(obj, path):
        with open(path, 'wb') as f:
            f.write(b'PK')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(tool.torch, 'save', fail)
    assert '(OSError: [Errno 28] No space left on device); nothing was ' \
        'written;' in cli_error(tool.main, [micro_checkpoint,
                                            str(tmp_path / 'new.pth')])
    assert os.listdir(tmp_path) == []
