import json
import os.path as osp

import common  # noqa: F401  (puts tools/ on sys.path, for mmhatnet_tools)
import pytest
import torch

DATA = osp.join(osp.dirname(__file__), 'data')


@pytest.fixture(scope='session')
def data_dir():
    return DATA


@pytest.fixture(scope='session')
def micro_arch():
    """The official constructor arguments of the golden micro model, as a
    custom ``arch`` dict plus its G1/G2 (official ``grid_sizes`` /
    ``ds_ratios``, whose last entry is the plain-MHSA stage)."""
    with open(osp.join(DATA, 'micro_arch.json')) as f:
        official = json.load(f)
    assert official['grid_sizes'][-1] == 1 and official['ds_ratios'][-1] == 1
    return dict(
        arch=dict(
            embed_dims=official['dims'],
            head_dim=official['head_dim'],
            mlp_ratios=official['expansions'],
            depths=official['depths'],
            kernel_sizes=official['kernel_sizes']),
        g1=tuple(official['grid_sizes'][:-1]),
        g2=tuple(official['ds_ratios'][:-1]),
        num_classes=official['num_classes'])


@pytest.fixture(scope='session')
def micro_checkpoint():
    """The micro model's weights in the official checkpoint format."""
    return osp.join(DATA, 'micro_official.pth')


@pytest.fixture(scope='session')
def micro_io():
    """Inputs and outputs of the official implementation, three settings."""
    return torch.load(
        osp.join(DATA, 'micro_io.pth'), map_location='cpu', weights_only=True)


@pytest.fixture(scope='session')
def official_keys():
    """Every key and shape of the four released ImageNet models."""
    with open(osp.join(DATA, 'official_keys.json')) as f:
        return json.load(f)


@pytest.fixture
def cli_error(capsys):
    """``cli_error(main, argv...)``: call a tool's function, expect the tools'
    user-error exit (status 2, mmhatnet_tools.cli) and return its one
    ``error:`` line from stderr."""
    def call(func, *args):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            func(*args)
        err = capsys.readouterr().err
        assert exc.value.code == 2, (exc.value.code, err)
        lines = [line for line in err.splitlines() if line.startswith('error:')]
        assert len(lines) == 1, err
        return lines[0]
    return call
