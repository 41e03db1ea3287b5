"""tools/dataset_converters/real_data.py on the real files: the crown
photographs of the deepforest 2.1.0 wheel (downloaded once with pip into
``$MMHATNET_CACHE/downloads``) and Fashion-MNIST of the Debian package."""
import json
import os
import os.path as osp
import shutil
import sys
import zipfile

import numpy as np
import pytest
from common import load_tool, read_tree
from PIL import Image
from pycocotools.coco import COCO

tool = load_tool('dataset_converters/real_data.py')

PHOTO_TILES = {  # 320 px tiles overlapping by >= 64 px
    '2019_YELL_2_528000_4978000_image_crop2': 90,  # 2299x2472: 9 x 10
    'OSBS_029': 4,  # 400x400: 2 x 2
    'SOAP_061': 4,
    '2019_YELL_2_541000_4977000_image_crop': 20,  # 1249x1035: 5 x 4
}
PHOTO_CROWNS = {'2019_YELL_2_528000_4978000_image_crop2': 574,
                '2019_YELL_2_541000_4977000_image_crop': 279,
                'OSBS_029': 61, 'SOAP_061': 37}


@pytest.fixture(scope='module')
def wheel():
    # the one download (cached across runs); CI machines reach PyPI
    return tool.deepforest_wheel()


@pytest.fixture(scope='module')
def crowns(wheel, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('crowns') / 'set')
    summary = tool.make_crowns(out, wheel=wheel)
    assert summary == (f'crowns: train 98 tiles / 1206 crowns, val 20 tiles '
                       f'/ 453 crowns in {out}')
    return out


@pytest.fixture(scope='module')
def originals(wheel):
    files = tool.read_deepforest(wheel)
    return {photo: tool.parse_voc(files[f'deepforest/data/{photo}.xml'],
                                  photo) for photo in tool.PHOTOS}


def _load(root, split):
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        return json.load(f)


def test_the_voc_files_hold_the_published_crowns(originals):
    for photo, (width, height, boxes) in originals.items():
        assert len(boxes) == PHOTO_CROWNS[photo], photo
        sides = np.sqrt([(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes])
        assert 5 < sides.min() and sides.max() < 200, photo


def test_tiles_cover_the_photograph_evenly():
    assert tool.tile_starts(400, 320, 64) == [0, 80]
    assert tool.tile_starts(300, 320, 64) == [0]
    starts = tool.tile_starts(2299, 320, 64)
    assert starts[0] == 0 and starts[-1] == 2299 - 320 and len(starts) == 9
    assert all(320 - (b - a) >= 64 for a, b in zip(starts, starts[1:]))


def test_clip_keeps_a_box_with_half_its_area_in_the_tile():
    box = (90, 0, 110, 10)  # 20 x 10, half of it left of x = 100
    assert tool.clip_boxes([box], 0, 0, 100, 100, 0.5) == [(90, 0, 100, 10)]
    assert tool.clip_boxes([box], 0, 0, 99, 100, 0.5) == []
    assert tool.clip_boxes([box], 100, 0, 200, 100, 0.5) == [(0, 0, 10, 10)]


@pytest.mark.parametrize('split', ['train', 'val'])
def test_counts_split_and_images(crowns, split):
    coco = COCO(osp.join(crowns, 'annotations', f'instances_{split}.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == ['tree']
    images = coco.loadImgs(coco.getImgIds())
    photos = {}
    for info in images:
        photos[info['photo']] = photos.get(info['photo'], 0) + 1
        assert info['file_name'].startswith(info['photo'] + '_x')
        with Image.open(osp.join(crowns, split, info['file_name'])) as im:
            assert im.mode == 'RGB'
            assert im.size == (info['width'], info['height']) == (320, 320)
    expected = {p: n for p, n in PHOTO_TILES.items()
                if (p == tool.HELD_OUT) == (split == 'val')}
    assert photos == expected
    empty = [i for i in images if not coco.getAnnIds(imgIds=i['id'])]
    # the empty tiles are kept (8 of the train tiles, none of val)
    assert len(empty) == (8 if split == 'train' else 0)


def test_no_photograph_on_both_sides(crowns):
    train, val = _load(crowns, 'train'), _load(crowns, 'val')
    train_photos = {i['photo'] for i in train['images']}
    val_photos = {i['photo'] for i in val['images']}
    assert val_photos == {tool.HELD_OUT}
    assert not train_photos & val_photos
    assert train['info']['photos'] == sorted(train_photos)
    ids = [i['id'] for i in train['images'] + val['images']]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_every_box_is_a_clipped_crown_inside_its_tile(crowns, originals,
                                                      split):
    data = _load(crowns, split)
    images = {i['id']: i for i in data['images']}
    seen = {p: set() for p in tool.PHOTOS}
    for ann in data['annotations']:
        tile = images[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0 and ann['area'] == w * h
        assert 0 <= x and x + w <= tile['width']
        assert 0 <= y and y + h <= tile['height']
        # in photograph coordinates: a crown of the VOC file clipped to the
        # tile, with at least half of its area left
        x1, y1 = x + tile['left'], y + tile['top']
        box = (x1, y1, x1 + w, y1 + h)
        right = tile['left'] + tile['width']
        bottom = tile['top'] + tile['height']
        matches = [
            k for k, (a, b, c, d) in enumerate(originals[tile['photo']][2])
            if (max(a, tile['left']), max(b, tile['top']), min(c, right),
                min(d, bottom)) == box]
        assert matches, (tile['file_name'], box)
        a, b, c, d = originals[tile['photo']][2][matches[0]]
        assert w * h >= 0.5 * (c - a) * (d - b)
        seen[tile['photo']].update(matches)
    # every crown of the split's photographs is kept in some tile
    for photo in {i['photo'] for i in images.values()}:
        assert len(seen[photo]) == PHOTO_CROWNS[photo], photo


def test_a_second_run_is_byte_identical(crowns, wheel, tmp_path):
    out = str(tmp_path / 'again')
    tool.make_crowns(out, wheel=wheel)
    assert read_tree(out) == read_tree(crowns)


def test_held_out_and_drop_empty(wheel, tmp_path):
    out = str(tmp_path / 'soap')
    tool.main(['crowns', out, '--held-out', 'SOAP_061', '--drop-empty',
               '--tile', '400', '--overlap', '0'])
    train, val = _load(out, 'train'), _load(out, 'val')
    assert {i['photo'] for i in val['images']} == {'SOAP_061'}
    assert 'SOAP_061' not in {i['photo'] for i in train['images']}
    with_boxes = {a['image_id'] for a in train['annotations']}
    assert {i['id'] for i in train['images']} == with_boxes
    assert len(val['annotations']) == PHOTO_CROWNS['SOAP_061']


# ------------------------------------------------------------ refusals
def _wheel_copy(wheel, path, change=None, drop=None):
    """A wheel with only the files the tool reads, one changed or left
    out."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(path, 'w') as dst:
        for name in tool.DEEPFOREST_FILES:
            if name == drop:
                continue
            data = src.read(name)
            if name == change:
                data = data.replace(b'<xmin>', b'<xmin>1', 1)
            dst.writestr(name, data)
    return str(path)


def _nothing_left(parent):
    return [n for n in os.listdir(parent) if n.startswith('.tmp_')] == []


def test_a_small_copy_of_the_wheel_is_accepted(wheel, tmp_path):
    small = _wheel_copy(wheel, tmp_path / 'small.whl')
    out = str(tmp_path / 'set')
    tool.main(['crowns', out, '--wheel', small, '--tile', '640'])
    assert osp.isfile(osp.join(out, 'annotations', 'instances_val.json'))


def test_a_changed_file_is_refused_and_nothing_written(wheel, tmp_path,
                                                       cli_error):
    name = 'deepforest/data/OSBS_029.xml'
    bad = _wheel_copy(wheel, tmp_path / 'bad.whl', change=name)
    out = str(tmp_path / 'set')
    line = cli_error(tool.main, ['crowns', out, '--wheel', bad])
    assert name in line and 'SHA-256' in line and 'corrupt' in line
    assert not osp.exists(out) and _nothing_left(tmp_path)


def test_a_missing_file_is_refused(wheel, tmp_path, cli_error):
    name = 'deepforest/data/SOAP_061.png'
    bad = _wheel_copy(wheel, tmp_path / 'bad.whl', drop=name)
    line = cli_error(tool.main, ['crowns', str(tmp_path / 'set'), '--wheel',
                                 bad])
    assert f'has no {name}' in line
    line = cli_error(tool.main, ['crowns', str(tmp_path / 'set'), '--wheel',
                                 str(tmp_path / 'nothing.whl')])
    assert 'no such file' in line


def test_a_truncated_cached_wheel_is_refused(wheel, tmp_path, monkeypatch,
                                             cli_error):
    cache = tmp_path / 'cache'
    (cache / 'downloads').mkdir(parents=True)
    with open(wheel, 'rb') as f:
        head = f.read(100000)
    (cache / 'downloads' / tool.DEEPFOREST_WHEEL).write_bytes(head)
    monkeypatch.setenv('MMHATNET_CACHE', str(cache))
    line = cli_error(tool.main, ['crowns', str(tmp_path / 'set')])
    assert 'not a readable wheel' in line and 'delete it' in line


def test_pip_refusing_or_missing(tmp_path, monkeypatch, cli_error):
    monkeypatch.setenv('MMHATNET_CACHE', str(tmp_path / 'cache'))
    # no index and no find-links from this machine's pip configuration
    monkeypatch.setenv('PIP_CONFIG_FILE', os.devnull)
    for name in ('PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'PIP_FIND_LINKS'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('PIP_NO_INDEX', '1')
    line = cli_error(tool.main, ['crowns', str(tmp_path / 'set')])
    assert 'pip download --no-deps deepforest==2.1.0` failed' in line
    assert '--wheel' in line
    monkeypatch.setattr(tool, 'PIP_COMMAND',
                        (sys.executable, '-m', 'no_such_pip_module'))
    line = cli_error(tool.main, ['crowns', str(tmp_path / 'set')])
    assert 'pip is not installed' in line
    # nothing half-downloaded stays in the cache
    assert os.listdir(tmp_path / 'cache' / 'downloads') == []
    assert not osp.exists(tmp_path / 'set')


def test_a_full_out_dir_is_refused_and_kept(wheel, tmp_path, cli_error):
    out = tmp_path / 'set'
    out.mkdir()
    (out / 'mine.txt').write_text('keep')
    line = cli_error(tool.main, ['crowns', str(out), '--wheel', wheel])
    assert 'not empty' in line and '--overwrite' in line
    assert os.listdir(out) == ['mine.txt']
    tool.main(['crowns', str(out), '--wheel', wheel, '--overwrite',
               '--tile', '640'])
    assert sorted(os.listdir(out)) == ['annotations', 'train', 'val']
    assert _nothing_left(tmp_path)


# ------------------------------------------------------------ fashion-mnist
@pytest.fixture(scope='module')
def fashion_deb():
    cached = osp.isdir(tool.cache_dir()) and any(
        n.startswith(tool.FASHION_PACKAGE) for n in os.listdir(
            tool.cache_dir()))
    if not cached and shutil.which('apt-get') is None:
        pytest.skip('no apt-get here to download dataset-fashion-mnist')
    return tool.fashion_deb()


def test_fashion_mnist_as_mmpretrain_reads_it(fashion_deb, tmp_path):
    out = str(tmp_path / 'fashion')
    assert tool.main(['fashion-mnist', out, '--deb', fashion_deb]) is None
    assert sorted(os.listdir(out)) == [
        't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte',
        'train-images-idx3-ubyte', 'train-labels-idx1-ubyte']
    datasets = pytest.importorskip('mmpretrain.datasets')
    train = datasets.FashionMNIST(data_root=out, pipeline=[])
    test = datasets.FashionMNIST(data_root=out, test_mode=True, pipeline=[])
    assert (len(train), len(test)) == (60000, 10000)
    assert train.metainfo['classes'][0] == 'T-shirt/top'
    item = train.get_data_info(0)
    assert item['img'].shape == (28, 28) and item['gt_label'] == 9
    labels = np.array([test.get_data_info(i)['gt_label']
                       for i in range(len(test))])
    assert np.bincount(labels).tolist() == [1000] * 10


def test_a_corrupt_deb_is_refused(fashion_deb, tmp_path, cli_error):
    with open(fashion_deb, 'rb') as f:
        head = f.read(1 << 20)
    bad = tmp_path / 'bad.deb'
    bad.write_bytes(head)
    line = cli_error(tool.main, ['fashion-mnist', str(tmp_path / 'f'),
                                 '--deb', str(bad)])
    assert 'bad.deb' in line and 'download it again' in line
    bad.write_bytes(b'not a package')
    line = cli_error(tool.main, ['fashion-mnist', str(tmp_path / 'f'),
                                 '--deb', str(bad)])
    assert 'not a Debian package' in line
    assert not osp.exists(tmp_path / 'f') and _nothing_left(tmp_path)
