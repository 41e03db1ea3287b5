"""The Fashion-MNIST comparison in small, on the real images: Fashion-MNIST
of tools/dataset_converters/real_data.py -> tools/analysis/train_peers.py
with the four configs of configs/fashion_mnist/ (HAT-Net-Tiny, ResNet-18,
PVTv2-B0, Swin-T as they are; each one tools/train.py run of two epochs on a
few images, validation on a few test images) -> the table of top-1 and
seconds per iteration. And the configs give every model the same data."""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from common import ROOT, load_tool
from mmengine.config import Config
from toy_options import data_options

tool = load_tool('dataset_converters/real_data.py')
FOLDER = osp.join(ROOT, 'configs', 'fashion_mnist')
NAMES = ('hatnet_tiny_fmnist', 'resnet18_fmnist', 'pvtv2_b0_fmnist',
         'swin_t_fmnist')
CONFIGS = [osp.join(FOLDER, f'{name}.py') for name in NAMES]
# 24 images at batch 2: 12 iterations an epoch, so that the 5/300 warm-up
# of the configs' 5 epochs is at least one iteration (mmengine refuses an
# empty one)
TRAIN_IMAGES, BATCH, VAL_IMAGES = 24, 2, 8


@pytest.fixture(scope='module')
def fashion(tmp_path_factory):
    cached = osp.isdir(tool.cache_dir()) and any(
        n.startswith(tool.FASHION_PACKAGE) for n in os.listdir(
            tool.cache_dir()))
    if not cached and shutil.which('apt-get') is None:
        pytest.skip('no apt-get here to download dataset-fashion-mnist')
    out = tmp_path_factory.mktemp('fashion') / 'set'
    tool.make_fashion_mnist(str(out))
    return out


def test_the_four_models_see_the_same_data():
    cfgs = {name: Config.fromfile(path) for name, path in zip(NAMES, CONFIGS)}

    def same(cfg):
        train, val = cfg.train_dataloader, cfg.val_dataloader
        return dict(
            train=(train.dataset.type, train.dataset.data_root,
                   train.dataset.indices, train.dataset.get('test_mode'),
                   train.batch_size, train.num_workers),
            val=(val.dataset.type, val.dataset.data_root,
                 val.dataset.get('indices'), val.dataset.test_mode,
                 val.batch_size, [dict(t) for t in val.dataset.pipeline]),
            head=(cfg.model.head.num_classes, cfg.data_preprocessor.mean,
                  cfg.data_preprocessor.std),
            schedule=(cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval,
                      cfg.default_hooks.logger.interval,
                      cfg.default_hooks.checkpoint.interval,
                      cfg.randomness.seed),
            # the first steps of training: greyscale to three channels
            train_start=[dict(t) for t in train.dataset.pipeline[:3]])

    wanted = same(cfgs['hatnet_tiny_fmnist'])
    assert wanted['train'] == ('FashionMNIST', 'data/fashion_mnist/', 2560,
                               None, 64, 0)
    assert wanted['val'][2:4] == (None, True)  # all 10,000 test images
    assert wanted['schedule'] == (5, 5, 10, 5, 0)
    for name, cfg in cfgs.items():
        assert same(cfg) == wanted, name
        assert not cfg.load_from and cfg.model.backbone.get(
            'drop_path_rate', 0.0) == 0.0, name
        assert cfg.model.backbone.get('init_cfg') is None or \
            cfg.model.backbone.init_cfg.get('type') != 'Pretrained', name
    # each its own recipe: HAT-Net's and PVTv2's AdamW at 1e-3 x 64 / 1024,
    # Swin's the same with clipping, ResNet's SGD at 0.1 x 64 / 256
    optim = {name: cfg.optim_wrapper for name, cfg in cfgs.items()}
    for name in ('hatnet_tiny_fmnist', 'pvtv2_b0_fmnist', 'swin_t_fmnist'):
        assert optim[name].optimizer.type == 'AdamW'
        assert optim[name].optimizer.lr == pytest.approx(1e-3 * 64 / 1024)
    assert optim['swin_t_fmnist'].clip_grad.max_norm == 5.0
    assert optim['hatnet_tiny_fmnist'].get('clip_grad') is None
    assert optim['resnet18_fmnist'].optimizer.type == 'SGD'
    assert optim['resnet18_fmnist'].optimizer.lr == pytest.approx(0.025)
    assert cfgs['resnet18_fmnist'].param_scheduler[0].milestones == [2, 3, 4]


@pytest.mark.parametrize('name', NAMES)
def test_the_pipelines_give_three_channel_56px_images(fashion, name):
    from mmpretrain.registry import DATASETS
    from mmpretrain.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(FOLDER, f'{name}.py'))
    for loader in ('train_dataloader', 'val_dataloader'):
        ds_cfg = cfg[loader].dataset
        ds_cfg.data_root = str(fashion)
        ds_cfg.indices = 4
        dataset = DATASETS.build(ds_cfg)
        item = dataset[0]
        assert tuple(item['inputs'].shape) == (3, 56, 56), (name, loader)
        # the first image of either split is an ankle boot
        assert int(item['data_samples'].gt_label) == 9, (name, loader)
    # the test transform keeps the grey: three equal channels
    image = item['inputs']
    assert (image[0] == image[1]).all() and (image[1] == image[2]).all()


def test_train_peers_on_real_images(fashion, tmp_path):
    options = data_options(fashion) + [
        f'train_dataloader.dataset.indices={TRAIN_IMAGES}',
        f'val_dataloader.dataset.indices={VAL_IMAGES}',
        f'train_dataloader.batch_size={BATCH}',
        f'val_dataloader.batch_size={BATCH}',
        'default_hooks.logger.interval=1',
    ]
    work = tmp_path / 'peers'
    # one thread: two threads that share a busy CPU wait for each other
    # (several times slower here); the times are not what is tested
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    out = subprocess.run(
        [sys.executable, osp.join('tools', 'analysis', 'train_peers.py'),
         *CONFIGS, '--seeds', '0', '--epochs', '2', '--work-dir', str(work),
         '--cfg-options', *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]

    runs = json.loads((work / 'peers.json').read_text())['runs']
    assert [r['config'] for r in runs] == list(NAMES)
    iterations = 2 * TRAIN_IMAGES // BATCH
    for run in runs:
        assert 0.0 <= run['top-1'] <= 100.0, run
        assert run['s_per_iter'] > 0, run  # the second epoch's times
        assert run['epochs'] == 2, run
        # the median s/iter times the checkpoint's iterations
        assert run['train_s'] == round(run['s_per_iter'] * iterations), run
        scalars = glob.glob(str(work / run['config'] / 'seed0' / '*' /
                                'vis_data' / 'scalars.json'))
        with open(scalars[0]) as f:
            records = [json.loads(line) for line in f]
        losses = [r['loss'] for r in records if 'loss' in r]
        assert len(losses) == iterations, run
        assert all(0 < x < 100 for x in losses), (run, losses)
        # one validation, at the end, on the few test images
        vals = [r for r in records if 'accuracy/top1' in r]
        assert len(vals) == 1 and vals[0]['step'] == 2, vals
    table = (work / 'peers.md').read_text()
    for name in NAMES:
        assert f'| {name} | 0 |' in table, table

    # asked again, it resumes: every run is read back with its options and
    # epochs (from the config mmengine saved), none is trained again
    again = subprocess.run(out.args, cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    # (the first line is the CPU and the date)
    assert (work / 'peers.md').read_text().splitlines()[1:] == \
        table.splitlines()[1:]
    for name in NAMES:
        assert len(glob.glob(str(work / name / 'seed0' / '*' /
                                 'vis_data'))) == 1, name
