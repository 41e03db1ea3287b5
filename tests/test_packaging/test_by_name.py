"""Our classifiers by name in mmpretrain, with a released-format file as
``pretrained`` through the ``hatnet://`` scheme; mmdet's and mmseg's
inferencers on our configs."""
import os.path as osp

import numpy as np
import pytest
import torch
from common import ROOT
from mmengine.config import Config

import mmhatnet  # noqa: F401  (registers the names and hatnet://)
from mmhatnet.apis import load_released_classifier, released_state_dict

NAMES = ['hatnet-large_in1k', 'hatnet-medium_in1k', 'hatnet-small_in1k',
         'hatnet-tiny_in1k']


@pytest.fixture(scope='module')
def released_small(tmp_path_factory, official_keys):
    """HAT-Net-Small in the released format (official names under
    ``model``, with DataParallel's ``module.``), random weights."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in official_keys['small'].items():
        if len(shape) == 1 and key.endswith('weight'):  # norms: around 1
            state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            state[key] = 0.05 * torch.randn(shape, generator=g)
    path = tmp_path_factory.mktemp('released') / 'HAT-Net_Small.pth'
    torch.save({'model': {f'module.{k}': v for k, v in state.items()}}, path)
    return str(path)


def test_list_models_finds_our_classifiers():
    from mmpretrain import list_models
    assert sorted(list_models('*hatnet*')) == NAMES


def test_get_model_with_released_file_equals_our_config(released_small):
    from mmengine.registry import init_default_scope
    from mmpretrain import get_model
    from mmpretrain.registry import MODELS

    by_name = get_model('hatnet-small_in1k',
                        pretrained='hatnet://' + released_small).eval()

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'hatnet_small_in1k.py'))
    ours = MODELS.build(cfg.model).eval()
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        untrained = ours(x)
        # what tools/test.py configs/hatnet_small_in1k.py FILE does
        load_released_classifier(ours, released_state_dict(released_small),
                                 released_small)
        expected, got = ours(x), by_name(x)
    assert got.shape == (2, 1000)
    assert (untrained - expected).abs().max() > 1e-2  # the file matters
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_inferencer_by_name_loads_the_file(released_small):
    from mmpretrain import ImageClassificationInferencer, get_model
    inferencer = ImageClassificationInferencer(
        'hatnet-small_in1k', pretrained='hatnet://' + released_small,
        device='cpu')
    reference = get_model('hatnet-small_in1k',
                          pretrained='hatnet://' + released_small)
    for key, value in reference.state_dict().items():
        assert torch.equal(inferencer.model.state_dict()[key], value), key
    image = np.random.default_rng(0).integers(0, 255, (160, 200, 3),
                                              dtype=np.uint8)
    result = inferencer(image)[0]
    assert result['pred_scores'].shape == (1000, )
    assert result['pred_label'] == int(np.argmax(result['pred_scores']))


def test_by_name_the_weights_are_the_release_through_hatnet_scheme():
    from mmpretrain.apis.model import ModelHub
    assert ModelHub.get('hatnet-tiny_in1k').weights == 'hatnet://tiny'
    from mmhatnet.utils.model_hub import released_location
    assert released_location('hatnet://tiny') == (
        'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/'
        'HAT-Net_Tiny.pth')


def test_an_mmengine_checkpoint_is_loaded_unchanged(tmp_path):
    """Without the prefix, mmengine's own loader reads our checkpoints;
    with it, one that is not a release is refused with a reason."""
    from mmengine.runner import load_checkpoint
    from mmpretrain import get_model
    model = get_model('hatnet-tiny_in1k')
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    other = get_model('hatnet-tiny_in1k')
    ckpt = load_checkpoint(other, str(path), map_location='cpu')
    assert 'converted_from' not in ckpt['meta']
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    with pytest.raises(ValueError, match='is not a released HAT-Net '
                       'ImageNet checkpoint.*without the hatnet:// prefix'):
        load_checkpoint(other, f'hatnet://{path}', map_location='cpu')
