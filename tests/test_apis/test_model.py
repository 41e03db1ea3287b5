"""mmhatnet.apis.model: reading a model config and building its model
without weights, for every tool that needs a model outside a runner."""
import os.path as osp

import pytest
from common import ROOT
from mmengine.config import Config

from mmhatnet.apis import (SCOPES, build_config_model, model_registry,
                           read_model_config)
from mmhatnet.models import HATNet

TOY = osp.join(ROOT, 'configs', 'toy')


def _write(tmp_path, text):
    path = tmp_path / 'mine.py'
    path.write_text(text)
    return str(path)


def test_a_toy_config_is_read_with_its_overrides():
    cfg = read_model_config(osp.join(TOY, 'retinanet_hatnet_tiny_toy.py'),
                            dict(model=dict(backbone=dict(g1=(4, 4, 4)))))
    assert cfg.default_scope == 'mmdet'
    assert tuple(cfg.model.backbone.g1) == (4, 4, 4)


@pytest.mark.parametrize('text, message', [
    ('model = dict(', "mine.py, line 1: '(' was never closed (model = "
                      "dict(); the config is not valid Python"),
    ("default_scope = 'mmdet'\nx = 1\n", 'is not a model config'),
    ("default_scope = 'mmfoo'\nmodel = dict(type='RetinaNet')\n",
     "default_scope='mmfoo'; expected one of ('mmdet', 'mmseg', "
     "'mmpretrain')"),
])
def test_what_is_not_a_model_config_of_a_library_is_named(tmp_path, text,
                                                          message):
    with pytest.raises(ValueError, match='mine.py') as e:
        read_model_config(_write(tmp_path, text))
    assert message in str(e.value)


def test_a_missing_file_is_named():
    with pytest.raises(ValueError, match="'no/such.py' could not be read"):
        read_model_config('no/such.py')


def test_the_registry_of_each_library_and_an_unknown_one():
    for scope in SCOPES:
        assert model_registry(scope).scope == scope
    with pytest.raises(ValueError, match="default_scope='mmfoo'"):
        model_registry('mmfoo')


def test_built_without_the_pretrained_init_and_the_config_untouched():
    cfg = Config.fromfile(osp.join(TOY, 'retinanet_hatnet_tiny_toy_finetune.py'))
    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint='no/such/file.pth')
    model = build_config_model(read_model_config(cfg))
    assert isinstance(model.backbone, HATNet)
    assert model.backbone.init_cfg is None  # nothing to download or read
    assert cfg.model.backbone.init_cfg.checkpoint == 'no/such/file.pth'


def test_a_classifier_gets_the_top_level_data_preprocessor():
    cfg = read_model_config(osp.join(TOY, 'hatnet_tiny_in1k_toy.py'))
    assert 'data_preprocessor' not in cfg.model  # mmpretrain's layout
    model = build_config_model(cfg)
    mean = model.data_preprocessor.mean.flatten().tolist()
    assert mean == pytest.approx(cfg.data_preprocessor.mean)
